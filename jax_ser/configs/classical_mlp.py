"""scikit-learn MLP (300 ReLU units) on the time-means of MFCC, chroma and log-mel.
40 MFCCs, 12 chroma bins and 128 log-mel bands (180 values); its JAX twin is configs/mlp_pooled.py.
Saved as classical.joblib.

  python -m jax_ser.main --config configs/classical_mlp.py --workdir runs/classical_mlp
  python -m jax_ser.cross_validate --config configs/classical_mlp.py \
      --workdir runs/ravdess/classical_mlp \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.353 ± 0.052, WA 0.365 ± 0.039, macro-F1 0.342 ± 0.050 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    return base_config(
        model=dict(
            name="classical",
            estimator="mlp",
            pooled="mfcc:mean;chroma:mean;log_mel:mean",
            hidden=(300,),
            alpha=0.01,
            max_iter=500,
        )
    )
