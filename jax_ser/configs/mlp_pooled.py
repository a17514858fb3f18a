"""MLP (300 ReLU units, dropout 0.3) on the mean and std over time of 40 MFCCs, in JAX: the twin of
configs/classical_mlp.py, trained through the same jitted step as every other model.

  python -m jax_ser.main --config configs/mlp_pooled.py --workdir runs/mlp_pooled
  python -m jax_ser.cross_validate --config configs/mlp_pooled.py \
      --workdir runs/ravdess/mlp_pooled \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.441 ± 0.035, WA 0.456 ± 0.041, macro-F1 0.435 ± 0.041 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="mlp", hidden=(300,), pooling="mean_std", dropout=0.3))
    config.features.name = "mfcc"
    config.features.n_mfcc = 40
    config.features.normalize = "none"
    config.train.num_epochs = 60
    return config
