"""A bidirectional LSTM over log-mel frames (128 bands), the recurrent baseline of the SER reports.

Emotion is carried by how pitch, energy and spectrum move over an utterance; an LSTM read both
ways sees each frame in the context of the whole clip. Dropout between the stacked layers is the
usual regulariser for recurrent nets on small corpora.
"""

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import lstm

POOLINGS = ("mean", "last")


class BiLSTMEncoder(nn.Module):
    """[B, T, F] -> [B, T, 2 * hidden]: stacked bidirectional LSTMs with dropout between them."""

    hidden: int = 256
    num_layers: int = 2
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x, train: bool = False):
        for i in range(self.num_layers):
            if i > 0:
                x = nn.Dropout(self.dropout, deterministic=not train)(x)
            params = [lstm.LSTMParams(self.hidden, name=f"{way}{i}")(x.shape[-1])
                      for way in ("forward", "backward")]
            x = jnp.concatenate(lstm.lstm(x, params, reverse=(False, True)), axis=-1)
        return x


class Model(nn.Module):
    """BiLSTM encoder -> mean over frames (or each direction's final output) -> dropout -> Dense.

    `pooling="last"` takes the forward output at the last frame and the backward output at the
    first, i.e. each direction's summary of the whole clip.
    """

    num_classes: int
    hidden: int = 256
    num_layers: int = 2
    dropout: float = 0.3
    pooling: str = "mean"

    def __post_init__(self):
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; known: {', '.join(POOLINGS)}")
        super().__post_init__()

    @nn.compact
    def __call__(self, feats, train: bool = False):
        x = BiLSTMEncoder(self.hidden, self.num_layers, self.dropout, name="encoder")(
            jnp.asarray(feats, jnp.float32), train=train)
        if self.pooling == "mean":
            x = jnp.mean(x, axis=1)
        else:
            x = jnp.concatenate([x[:, -1, :self.hidden], x[:, 0, self.hidden:]], axis=-1)
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="classifier")(x)
