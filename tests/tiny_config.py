"""A ResNet small enough to train in seconds on CPU, for the end-to-end tests.

  python -m jax_ser.main --config tests/tiny_config.py --workdir W \
      --config.data.corpus=ravdess --config.data.root=CORPUS
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="resnet", depth=18, width=8, dropout=0.1))
    config.data.clip_seconds = 1.5
    config.data.fold_size = 2
    config.data.val_speakers = 1
    config.features.n_mels = 32
    config.train.batch_size = 16
    config.train.num_epochs = 8
    config.train.learning_rate = 3e-3
    config.train.checkpoint_every_steps = 7
    config.eval.batch_size = 32
    return config
