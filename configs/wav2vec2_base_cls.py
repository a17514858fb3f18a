"""wav2vec 2.0 base with mean pooling and a linear layer: the sequence-classification baseline.

  python -m jax_ser.main --config configs/wav2vec2_base_cls.py --workdir runs/wav2vec2_base_cls \
      --config.model.checkpoint=/models/wav2vec2-base

`model.checkpoint` is a local copy of facebook/wav2vec2-base
(README: "Pretrained weights"), or the hub id itself where there is a network.
--config.model.init=random trains the architecture from scratch.

Result: not measured yet. The development machine has no pretrained weights and no network,
and fine-tuning at this size on its 2-core CPU is too slow (README: encoder speed).
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    return fine_tuning(
        base_config(dict(name="wav2vec2", checkpoint="facebook/wav2vec2-base", head="linear"))
    )
