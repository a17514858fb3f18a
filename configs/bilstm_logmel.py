"""2-layer bidirectional LSTM on 128-band log-mel with dropout and a linear classifier.

  python -m jax_ser.main --config configs/bilstm_logmel.py --workdir runs/bilstm

128 units per direction, dropout 0.3 between the layers and before the classifier, mean over
frames. Frames every 20 ms (hop 320) halve the recurrence length of the default 10 ms hop.
RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="bilstm", hidden=128, num_layers=2, dropout=0.3))
    config.features.n_mels = 128
    config.features.n_fft = 640
    config.features.win_length = 640
    config.features.hop_length = 320
    config.train.num_epochs = 30
    return config
