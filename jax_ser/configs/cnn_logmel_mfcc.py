"""Small CNN on stacked log-mel (64 bands) and MFCC (40) maps of 3 s crops.
Four conv3x3-BN-ReLU-maxpool blocks (16-32-64-128), global average pooling, dropout 0.3; 0.1 M
parameters.

  python -m jax_ser.main --config configs/cnn_logmel_mfcc.py --workdir runs/cnn_logmel_mfcc
  python -m jax_ser.cross_validate --config configs/cnn_logmel_mfcc.py \
      --workdir runs/ravdess/cnn_logmel_mfcc \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.437 ± 0.039, WA 0.463 ± 0.045, macro-F1 0.412 ± 0.034 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="cnn", channels=(16, 32, 64, 128), dropout=0.3))
    config.features.name = "log_mel+mfcc"
    config.features.n_mels = 64
    config.features.n_mfcc = 40
    config.train.num_epochs = 30
    config.train.cpu_devices = 0  # on CPU, one device per core: a faster step
    return config
