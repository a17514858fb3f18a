"""An MLP on time-pooled features: the JAX twin of the classical scikit-learn MLPClassifier.

The classical SER recipe averages per-frame features (MFCC, chroma, mel) over the utterance and
fits sklearn's MLPClassifier(hidden_layer_sizes=(300,)) on the result. This module does the same
inside the jitted step so it trains, evaluates and checkpoints like every other model. The
affine-free BatchNorm at the input plays the StandardScaler that precedes the sklearn MLP: pooled
dB values and MFCCs differ in scale by orders of magnitude.
"""

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import heads

POOLINGS = {"mean": heads.masked_mean, "mean_std": heads.masked_mean_std}


class Model(nn.Module):
    """feats [B, T, F] -> time mean (and std) -> standardise -> hidden ReLU layers -> Dense."""

    num_classes: int
    hidden: tuple[int, ...] = (300,)
    pooling: str = "mean"
    dropout: float = 0.0

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; known: {', '.join(POOLINGS)}")
        super().__post_init__()

    @nn.compact
    def __call__(self, feats, train: bool = False):
        x = POOLINGS[self.pooling](jnp.asarray(feats, jnp.float32))
        x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                         momentum=0.9, epsilon=1e-5, name="standardize")(x)
        for i, width in enumerate(self.hidden):
            x = nn.relu(nn.Dense(width, name=f"hidden{i}")(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="classifier")(x)
