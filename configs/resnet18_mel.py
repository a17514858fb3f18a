"""ResNet18 on 128-band log-mel of 3 s crops: the main demo job.

  python -m jax_ser.main --config configs/resnet18_mel.py --workdir runs/demo

On a real corpus: add --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS
and choose the held-out speakers with --config.data.split=fold:K.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="resnet", depth=18, width=32, dropout=0.2))
    config.features.n_mels = 64
    config.train.num_epochs = 20
    return config
