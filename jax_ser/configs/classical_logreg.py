"""Logistic regression on the mean and std over time of 40 MFCCs, 128 log-mel bands and the ZCR
(338 values, standardised; scikit-learn, L2, C=1), saved as classical.joblib for jax_ser.predict.

  python -m jax_ser.main --config configs/classical_logreg.py --workdir runs/classical_logreg
  python -m jax_ser.cross_validate --config configs/classical_logreg.py \
      --workdir runs/ravdess/classical_logreg \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.414 ± 0.073, WA 0.428 ± 0.081, macro-F1 0.411 ± 0.079 (RAVDESS actors 01-20, 5 folds
of 4 test actors, 2 validation actors, seed 0, 2-core CPU, JAX 0.10.2). Results:
results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    return base_config(
        model=dict(
            name="classical",
            estimator="logistic_regression",
            pooled="mfcc:mean,std;log_mel:mean,std;zcr:mean,std",
            C=1.0,
        )
    )
