"""MLP (one hidden layer of 300 ReLU units) on time-pooled MFCC statistics, in JAX.

  python -m jax_ser.main --config configs/mlp_pooled.py --workdir runs/mlp

The JAX twin of the classical scikit-learn MLP (configs/classical_mlp.py): the utterance's mean
and standard deviation over time of 40 MFCCs, standardised, through 300 ReLU units and dropout
0.3. It trains through the same jitted step as every other model, so the two can be compared for
speed and accuracy. RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="mlp", hidden=(300,), pooling="mean_std", dropout=0.3))
    config.features.name = "mfcc"
    config.features.n_mfcc = 40
    config.features.normalize = "none"
    config.train.num_epochs = 60
    return config
