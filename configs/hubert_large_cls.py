"""HuBERT large with mean pooling and a linear layer.

  python -m jax_ser.main --config configs/hubert_large_cls.py --workdir runs/hubert_large_cls \
      --config.model.checkpoint=/models/hubert-large-ll60k

`model.checkpoint` is a local copy of facebook/hubert-large-ll60k
(README: "Pretrained weights"), or the hub id itself where there is a network.
--config.model.init=random trains the architecture from scratch.

Result: not measured yet. The development machine has no pretrained weights and no network,
and fine-tuning at this size on its 2-core CPU is too slow (README: encoder speed).
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2", checkpoint="facebook/hubert-large-ll60k", head="linear", remat=True
    )
    config = fine_tuning(base_config(model))
    config.train.batch_size = 8
    return config
