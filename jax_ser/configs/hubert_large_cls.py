"""HuBERT large with mean pooling and a linear layer.

  python -m jax_ser.main --config configs/hubert_large_cls.py --workdir runs/hubert_large_cls \
      --config.model.checkpoint=/models/hubert-large-ll60k

`model.checkpoint` is a local copy of the Hugging Face checkpoint (docs/pretrained.md), or the hub
id where there is a network; --config.model.init=random trains the architecture from scratch. Not
measured yet.
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2", checkpoint="facebook/hubert-large-ll60k", head="linear", remat=True
    )
    config = fine_tuning(base_config(model))
    config.train.batch_size = 8
    return config
