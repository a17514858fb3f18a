"""2-layer bidirectional LSTM (128 units per direction) on 128-band log-mel, dropout 0.3, mean over
frames; a 20 ms hop halves the recurrence length.

  python -m jax_ser.main --config configs/bilstm_logmel.py --workdir runs/bilstm_logmel
  python -m jax_ser.cross_validate --config configs/bilstm_logmel.py \
      --workdir runs/ravdess/bilstm_logmel \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.453 ± 0.069, WA 0.468 ± 0.069, macro-F1 0.446 ± 0.078 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="bilstm", hidden=128, num_layers=2, dropout=0.3))
    config.features.n_mels = 128
    config.features.n_fft = 640
    config.features.win_length = 640
    config.features.hop_length = 320
    config.train.num_epochs = 30
    config.train.cpu_devices = 0  # on CPU, one device per core: a faster step
    return config
