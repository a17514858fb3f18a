"""LSTM (128 units) + dense layers of 128 and 64 ReLU units on 15 MFCCs, trained on random crops of
`sequence_length` (100) frames, evaluated on the centre window. Other representations:
--config.features.name=mel --config.features.n_mels=80; three dense layers:
--config.model.dense=(256,128,64); encoder frames: --config.data.precomputed=DIR
--config.features.name=precomputed (DIR from python -m jax_ser.extract_features).

  python -m jax_ser.main --config configs/lstm_dense_mfcc.py --workdir runs/lstm_dense_mfcc
  python -m jax_ser.cross_validate --config configs/lstm_dense_mfcc.py \
      --workdir runs/ravdess/lstm_dense_mfcc \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.233 ± 0.044, WA 0.248 ± 0.047, macro-F1 0.204 ± 0.048; three dense layers 0.236 ±
0.024 UA (results/dense_layers_ablation.md) (RAVDESS actors 01-20, 5 folds of 4 test actors, 2
validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results: results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(
        model=dict(name="lstm_dense", hidden=128, dense=(128, 64), dropout=0.2, sequence_length=100)
    )
    config.features.name = "mfcc"
    config.features.n_mfcc = 15
    config.features.normalize = "none"
    config.train.num_epochs = 40
    config.train.cpu_devices = 0  # on CPU, one device per core: a faster step
    return config
