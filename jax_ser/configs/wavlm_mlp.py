"""WavLM base+ frozen, a weighted sum of its layers, and an MLP head with batch norm and dropout.

  python -m jax_ser.main --config configs/wavlm_mlp.py --workdir runs/wavlm_mlp \
      --config.model.checkpoint=/models/wavlm-base-plus

`model.checkpoint` is a local copy of the Hugging Face checkpoint (docs/pretrained.md), or the hub
id where there is a network; --config.model.init=random trains the architecture from scratch. Not
measured yet.
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2",
        checkpoint="microsoft/wavlm-base-plus",
        head="mlp",
        head_options=dict(hidden=(512, 256), dropout=0.3),
        weighted_layers=True,
        freeze_encoder=True,
    )
    config = fine_tuning(base_config(model))
    config.train.learning_rate = 1e-3
    return config
