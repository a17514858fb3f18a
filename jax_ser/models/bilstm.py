"""A bidirectional LSTM over log-mel frames (128 bands), the recurrent baseline of the SER reports.

Emotion is carried by how pitch, energy and spectrum move over an utterance; an LSTM read both
ways sees each frame in the context of the whole clip. Dropout between the stacked layers is the
usual regulariser for recurrent nets on small corpora.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax.linen.recurrent import DenseParams

POOLINGS = ("mean", "last")
GATES = ("i", "f", "g", "o")


class LSTM(nn.Module):
    """[B, T, F] -> [B, T, hidden]: one LSTM direction over the frames (`reverse`: last to
    first, outputs in frame order).

    The same function and parameters as nn.RNN(nn.OptimizedLSTMCell(hidden)) (gate kernels
    i{gate} of the input, h{gate} with bias of the state, same names and initialisers, so old
    checkpoints load), computed faster: the input's share of the gates is one [B*T, F] x [F, 4H]
    matmul before the scan, and its gradient one matmul after it, instead of T small ones; the
    scan keeps only the state's [B, H] x [H, 4H]."""

    hidden: int
    reverse: bool = False

    @nn.compact
    def __call__(self, x):
        def kernels(prefix, init, bias, rows):
            made = [DenseParams(self.hidden, use_bias=bias, kernel_init=init,
                                bias_init=nn.initializers.zeros_init(), name=f"{prefix}{g}")(rows)
                    for g in GATES]
            kernel = jnp.concatenate([k for k, _ in made], axis=-1)
            return kernel, jnp.concatenate([b for _, b in made], axis=-1) if bias else None

        batch = x.shape[0]
        w_in, _ = kernels("i", nn.initializers.lecun_normal(), False, x[:, 0])
        w_h, b_h = kernels("h", nn.initializers.orthogonal(), True,
                           jnp.zeros((batch, self.hidden), x.dtype))
        gates_in = jnp.einsum("btf,fg->tbg", x, w_in) + b_h  # [T, B, 4H]

        def step(carry, z):
            c, h = carry
            i, f, g, o = jnp.split(z + h @ w_h, 4, axis=-1)
            c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (c, h), h

        zeros = jnp.zeros((batch, self.hidden), x.dtype)
        _, out = jax.lax.scan(step, (zeros, zeros), gates_in, reverse=self.reverse)
        return out.swapaxes(0, 1)


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
            x = jnp.concatenate([LSTM(self.hidden, name=f"forward{i}")(x),
                                 LSTM(self.hidden, reverse=True, name=f"backward{i}")(x)],
                                axis=-1)
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
