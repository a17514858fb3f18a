"""Query2Label over a frame encoder: per-class queries attend to the frames of an utterance.

The head (jax_ser.models.heads.Query2Label) is generic over frame features; this model pairs it with
a light front end trained from scratch on spectral features, chosen by `frontend`:
  "mel_projection"  a Dense projection of each feature frame plus a learned positional embedding
                    (up to `max_frames` frames), so attention can tell early frames from late;
  "cnn"             conv blocks that pool only frequency, keeping every frame, then each frame's
                    frequency x channel map flattened into one vector (local spectral patterns);
  "bilstm"          the BiLSTM encoder of models/bilstm.py with dim // 2 units per direction.
"""

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import bilstm, cnn, heads

FRONTENDS = ("mel_projection", "cnn", "bilstm")


class Model(nn.Module):
    """feats [B, T, F] -> frontend frames [B, T, D] -> Query2Label head -> logits [B, C]."""

    num_classes: int
    frontend: str = "mel_projection"
    dim: int = 256
    num_layers: int = 2
    num_heads: int = 4
    mlp_dim: int = 512
    dropout: float = 0.1
    pre_norm: bool = False
    max_frames: int = 1024
    cnn_channels: tuple[int, ...] = (32, 64)
    lstm_layers: int = 2

    def __post_init__(self):
        if self.frontend not in FRONTENDS:
            raise ValueError(f"unknown frontend {self.frontend!r}; known: {', '.join(FRONTENDS)}")
        super().__post_init__()

    @nn.compact
    def __call__(self, feats, train: bool = False):
        x = jnp.asarray(feats, jnp.float32)
        if self.frontend == "mel_projection":
            if x.shape[1] > self.max_frames:
                raise ValueError(f"{x.shape[1]} frames exceed max_frames={self.max_frames}")
            x = nn.Dense(self.dim, name="projection")(x)
            positions = self.param("positions", nn.initializers.normal(0.02),
                                   (self.max_frames, self.dim))
            x = x + positions[:x.shape[1]]
        elif self.frontend == "cnn":
            x = x[..., None]
            for i, features in enumerate(self.cnn_channels):
                x = cnn.ConvBlock(features, pool=(1, 2), name=f"block{i}")(x, train=train)
            x = x.reshape(*x.shape[:2], -1)
        else:
            x = bilstm.BiLSTMEncoder(self.dim // 2, self.lstm_layers, self.dropout,
                                     name="encoder")(x, train=train)
        head = heads.Query2Label(self.num_classes, self.num_layers, self.num_heads, self.dim,
                                 self.mlp_dim, self.dropout, self.pre_norm, name="head")
        return head(x, train=train)
