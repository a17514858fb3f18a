"""RBF-kernel SVM on the time-means of 20 MFCCs.
C=10, gamma='scale', standardised inputs, Platt-scaled probabilities. Saved as classical.joblib.

  python -m jax_ser.main --config configs/classical_svm.py --workdir runs/classical_svm
  python -m jax_ser.cross_validate --config configs/classical_svm.py \
      --workdir runs/ravdess/classical_svm \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.345 ± 0.062, WA 0.362 ± 0.057, macro-F1 0.335 ± 0.063 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="classical", estimator="svm", pooled="mfcc:mean", C=10.0))
    config.features.n_mfcc = 20
    return config
