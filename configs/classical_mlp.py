"""scikit-learn MLP, one hidden layer of 300 ReLU units, on time-means of MFCC, chroma and log-mel.

  python -m jax_ser.main --config configs/classical_mlp.py --workdir runs/sk_mlp

The classic recipe: the means over the utterance of 40 MFCCs, 12 chroma bins and 128 log-mel bands
(180 values), standardised, into MLPClassifier(hidden_layer_sizes=(300,), alpha=0.01), Adam,
up to 500 iterations. Its JAX twin is configs/mlp_pooled.py. The fitted pipeline is saved as
classical.joblib. RAVDESS results: README.md, "Reference systems".
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
