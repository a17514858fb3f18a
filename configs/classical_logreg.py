"""Logistic regression on the mean and standard deviation over time of MFCC, log-mel and ZCR.

  python -m jax_ser.main --config configs/classical_logreg.py --workdir runs/logreg

40 MFCCs, 128 log-mel bands and the zero-crossing rate, each pooled to its mean and standard
deviation over the utterance (338 values), standardised; scikit-learn's LogisticRegression
(L2, C=1). The fitted pipeline is saved as classical.joblib, so jax_ser.predict labels recordings
with it. RAVDESS results: README.md, "Reference systems".
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
