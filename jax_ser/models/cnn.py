"""A small CNN on time-frequency maps, e.g. stacked log-mel + MFCC (features.name "log_mel+mfcc").

The compact convolutional baseline of the SER reports: a few conv3x3-BN-ReLU-maxpool blocks see
local time-frequency patterns (harmonics, formant moves), global average pooling makes the result
independent of the clip length, and dropout keeps the ~0.4M parameters from memorising the few
thousand utterances of an acted corpus.
"""

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import _layers


class ConvBlock(nn.Module):
    """conv3x3 -> BatchNorm -> ReLU -> max-pool by `pool` over (time, frequency)."""

    features: int
    pool: tuple[int, int] = (2, 2)

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.Conv(self.features, (3, 3), padding="SAME", use_bias=False, name="conv")(x)
        x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, name="bn")(x)
        # SAME padding keeps at least one row and column when a map is smaller than the window.
        return _layers.max_pool(nn.relu(x), self.pool)


class Model(nn.Module):
    """feats [B, T, F] as a one-channel image -> conv blocks -> GAP -> dropout -> Dense."""

    num_classes: int
    channels: tuple[int, ...] = (32, 64, 128, 256)
    dropout: float = 0.3

    @nn.compact
    def __call__(self, feats, train: bool = False):
        x = jnp.asarray(feats, jnp.float32)[..., None]
        for i, features in enumerate(self.channels):
            x = ConvBlock(features, name=f"block{i}")(x, train=train)
        x = jnp.mean(x, axis=(1, 2))
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="classifier")(x)
