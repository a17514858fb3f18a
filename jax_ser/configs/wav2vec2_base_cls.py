"""wav2vec 2.0 base with mean pooling and a linear layer: the sequence-classification baseline.

  python -m jax_ser.main --config configs/wav2vec2_base_cls.py --workdir runs/wav2vec2_base_cls \
      --config.model.checkpoint=/models/wav2vec2-base

`model.checkpoint` is a local copy of the Hugging Face checkpoint (docs/pretrained.md), or the hub
id where there is a network; --config.model.init=random trains the architecture from scratch. Not
measured yet.
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    return fine_tuning(
        base_config(dict(name="wav2vec2", checkpoint="facebook/wav2vec2-base", head="linear"))
    )
