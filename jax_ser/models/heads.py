"""Classification heads over frame features [B, T, D] from any encoder, with an optional frame mask.

A head turns a variable-length sequence of frames into logits [B, num_classes]. The mask [B, T]
(True = valid frame) lets a batch of padded utterances, or the padded outputs of a pretrained
encoder, be pooled as if each utterance stood alone: masked frames never reach the logits.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

# Logit of an excluded frame in attention pooling: exp() of it is exactly 0 in float32.
_MASKED = -1e9


def frame_weights(frames: jax.Array, mask: jax.Array | None) -> jax.Array:
    """[B, T, 1] float weights: 1 for valid frames and 0 for padding (all 1 without a mask)."""
    if mask is None:
        return jnp.ones((*frames.shape[:2], 1), frames.dtype)
    return jnp.asarray(mask, frames.dtype)[..., None]


def masked_mean(frames: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean over the valid frames: [B, T, D] -> [B, D]."""
    w = frame_weights(frames, mask)
    return jnp.sum(frames * w, axis=1) / jnp.maximum(jnp.sum(w, axis=1), 1.0)


def masked_mean_std(frames: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean and standard deviation over the valid frames, concatenated: [B, T, D] -> [B, 2D]."""
    w = frame_weights(frames, mask)
    return weighted_mean_std(frames, w / jnp.maximum(jnp.sum(w, axis=1, keepdims=True), 1.0))


def weighted_mean_std(frames: jax.Array, weights: jax.Array) -> jax.Array:
    """[B, T, D] frames, [B, T, 1] weights summing to 1 over T -> [B, 2D] (mean, std)."""
    mean = jnp.sum(frames * weights, axis=1)
    var = jnp.sum(jnp.square(frames - mean[:, None]) * weights, axis=1)
    return jnp.concatenate([mean, jnp.sqrt(var + 1e-6)], axis=-1)


class MeanLinear(nn.Module):
    """Masked mean pooling and one Dense layer: the sequence-classification baseline."""

    num_classes: int

    @nn.compact
    def __call__(self, frames, mask=None, train: bool = False):
        x = masked_mean(jnp.asarray(frames, jnp.float32), mask)
        return nn.Dense(self.num_classes, name="classifier")(x)


class DeepMLP(nn.Module):
    """Masked mean pooling, [Dense -> BatchNorm -> ReLU -> Dropout] per hidden width, Dense.

    The "encoder + classifier" head of the SER reports built on WavLM/wav2vec2 features: a few wide
    layers learn a non-linear boundary the linear probe cannot, BatchNorm keeps them trainable at
    the encoder's feature scale.
    """

    num_classes: int
    hidden: tuple[int, ...] = (256,)
    dropout: float = 0.1

    @nn.compact
    def __call__(self, frames, mask=None, train: bool = False):
        x = masked_mean(jnp.asarray(frames, jnp.float32), mask)
        for i, width in enumerate(self.hidden):
            x = nn.Dense(width, name=f"hidden{i}")(x)
            x = nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5,
                             name=f"bn{i}")(x)
            x = nn.Dropout(self.dropout, deterministic=not train)(nn.relu(x))
        return nn.Dense(self.num_classes, name="classifier")(x)


class AttentiveStatsPooling(nn.Module):
    """Attention-weighted mean and std of the frames, then Dense (Okabe et al., 2018).

    Emotion often shows in a few frames (a laugh, a raised pitch); a learned frame score lets those
    dominate the statistics where a plain mean would dilute them, and the std keeps how much the
    voice varies.
    """

    num_classes: int
    attention_dim: int = 128

    @nn.compact
    def __call__(self, frames, mask=None, train: bool = False):
        frames = jnp.asarray(frames, jnp.float32)
        hidden = nn.tanh(nn.Dense(self.attention_dim, name="attention")(frames))
        scores = nn.Dense(1, name="score")(hidden)
        if mask is not None:
            scores = jnp.where(mask[..., None], scores, _MASKED)
        x = weighted_mean_std(frames, jax.nn.softmax(scores, axis=1))
        return nn.Dense(self.num_classes, name="classifier")(x)


class DecoderLayer(nn.Module):
    """Decoder layer for label queries: self-attention, cross-attention to frames, feed-forward."""

    num_heads: int
    mlp_dim: int
    dropout: float
    pre_norm: bool

    @nn.compact
    def __call__(self, queries, frames, mask, train: bool):
        def attend(name, x, context, attention_mask=None):
            return nn.MultiHeadDotProductAttention(
                self.num_heads, dropout_rate=self.dropout, deterministic=not train, name=name,
            )(x, context, mask=attention_mask)

        def feed_forward(x):
            h = nn.relu(nn.Dense(self.mlp_dim, name="mlp_in")(x))
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
            return nn.Dense(x.shape[-1], name="mlp_out")(h)

        sublayers = (
            ("self_attention", lambda x: attend("self_attention", x, x)),
            ("cross_attention", lambda x: attend("cross_attention", x, frames, mask)),
            ("mlp", feed_forward),
        )
        x = queries
        for name, sublayer in sublayers:
            norm = nn.LayerNorm(name=f"{name}_norm")
            y = sublayer(norm(x) if self.pre_norm else x)
            x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
            if not self.pre_norm:
                x = norm(x)
        return x


class Query2Label(nn.Module):
    """Query2Label (Liu et al., 2021): one learned query per class attends to the frames.

    Each class looks for its own evidence across the utterance through cross-attention, instead
    of all classes sharing one pooled vector; a per-class linear projection
    (logit_c = <h_c, w_c> + b_c) then scores each query. Frames are projected to `dim` first, so
    any encoder width fits; no positional encoding is added here (encoders that need one add it
    themselves). `pre_norm` selects pre-LN layers (stabler when deep) over the paper's post-LN.
    """

    num_classes: int
    num_layers: int = 1
    num_heads: int = 4
    dim: int = 256
    mlp_dim: int = 1024
    dropout: float = 0.1
    pre_norm: bool = False

    @nn.compact
    def __call__(self, frames, mask=None, train: bool = False):
        frames = nn.Dense(self.dim, name="frame_projection")(jnp.asarray(frames, jnp.float32))
        attention_mask = None if mask is None else mask[:, None, None, :]
        queries = self.param("label_queries", nn.initializers.normal(1.0),
                             (self.num_classes, self.dim))
        x = jnp.broadcast_to(queries, (frames.shape[0], *queries.shape))
        for i in range(self.num_layers):
            x = DecoderLayer(self.num_heads, self.mlp_dim, self.dropout, self.pre_norm,
                             name=f"layer{i}")(x, frames, attention_mask, train)
        if self.pre_norm:
            x = nn.LayerNorm(name="final_norm")(x)
        per_class_init = nn.initializers.lecun_normal(in_axis=-1, out_axis=-2)  # fan-in is dim
        weight = self.param("class_kernel", per_class_init, (self.num_classes, self.dim))
        bias = self.param("class_bias", nn.initializers.zeros_init(), (self.num_classes,))
        return jnp.einsum("bcd,cd->bc", x, weight) + bias


HEADS = {
    "linear": MeanLinear,
    "mlp": DeepMLP,
    "attentive_stats": AttentiveStatsPooling,
    "q2l": Query2Label,
}


def build_head(kind: str, num_classes: int, **kwargs) -> nn.Module:
    """The head called `kind`, constructed with `num_classes` and the head's own fields."""
    if kind not in HEADS:
        raise ValueError(f"unknown head {kind!r}; known: {', '.join(HEADS)}")
    return HEADS[kind](num_classes=num_classes, **kwargs)
