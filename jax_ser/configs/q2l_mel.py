"""Query2Label on 64-band log-mel: one learnable query per emotion attends to the frames (2 decoder
layers, 4 heads, a 128-dim frame projection). Per-label sigmoid loss: --config.train.loss=sigmoid;
other front ends: --config.model.frontend=cnn or bilstm.

  python -m jax_ser.main --config configs/q2l_mel.py --workdir runs/q2l_mel
  python -m jax_ser.cross_validate --config configs/q2l_mel.py \
      --workdir runs/ravdess/q2l_mel \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.442 ± 0.026, WA 0.463 ± 0.029, macro-F1 0.428 ± 0.038 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(
        model=dict(name="q2l", frontend="mel_projection", dim=128, num_layers=2, num_heads=4,
                   mlp_dim=256, dropout=0.1)
    )
    config.features.n_mels = 64
    config.train.num_epochs = 30
    return config
