"""RBF-kernel SVM on the time-mean of 20 MFCCs.

  python -m jax_ser.main --config configs/classical_svm.py --workdir runs/svm

scikit-learn's SVC(kernel="rbf", C=10, gamma="scale") on the standardised means of 20 MFCCs over
the utterance, with Platt-scaled probabilities for ROC-AUC. The fitted pipeline is saved as
classical.joblib. RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="classical", estimator="svm", pooled="mfcc:mean", C=10.0))
    config.features.n_mfcc = 20
    return config
