"""Small CNN with dropout on stacked log-mel (64 bands) and MFCC (40) maps of 3 s crops.

  python -m jax_ser.main --config configs/cnn_logmel_mfcc.py --workdir runs/cnn

Four conv3x3-BN-ReLU-maxpool blocks (16-32-64-128 channels), global average pooling, dropout 0.3,
a linear classifier; 0.1 M parameters. RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="cnn", channels=(16, 32, 64, 128), dropout=0.3))
    config.features.name = "log_mel+mfcc"
    config.features.n_mels = 64
    config.features.n_mfcc = 40
    config.train.num_epochs = 30
    return config
