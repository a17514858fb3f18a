"""wav2vec 2.0, HuBERT and WavLM as one Flax encoder, equal to transformers' PyTorch models.

The three families share one body (a strided conv feature encoder, a feature projection, a
convolutional relative position embedding and a Transformer) and differ in a few switches, so
one module covers them, chosen by an `EncoderConfig` read from the checkpoint's config.json:
`feat_extract_norm` "group" (GroupNorm on the first conv only, base models) or "layer" (LayerNorm
after every conv); `do_stable_layer_norm` for pre-LN layers (large/XLSR) instead of post-LN;
HuBERT's optional LayerNorm-free feature projection; WavLM's gated relative position bias.

Everything mirrors transformers 5 (modeling_wav2vec2/hubert/wavlm.py), quirks included, so
Hugging Face checkpoints give the same numbers: `hidden_states[0]` is the input of the first
layer, `hidden_states[-1]` the last layer's output before the final LayerNorm of pre-LN models,
`extract_features` the conv features after the projection's LayerNorm, padded frames zeroed
before the position embedding, and padded keys masked in attention. Submodule names follow the
PyTorch modules (`feature_extractor`, `feature_projection`, `encoder/layers_0`, ...) so weights
map by name and optimizers can freeze parts by path.
"""

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

MODEL_TYPES = ("wav2vec2", "hubert", "wavlm")

ACTIVATIONS = {
    "gelu": functools.partial(nn.gelu, approximate=False),
    "gelu_new": functools.partial(nn.gelu, approximate=True),
    "gelu_pytorch_tanh": functools.partial(nn.gelu, approximate=True),
    "relu": nn.relu,
    "silu": nn.silu,
    "swish": nn.silu,
    "tanh": jnp.tanh,
}


@dataclasses.dataclass(frozen=True)
class EncoderConfig:
    """Architecture and regularisation of an encoder; names and defaults as in Wav2Vec2Config."""

    model_type: str = "wav2vec2"
    hidden_size: int = 768
    num_hidden_layers: int = 12
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout: float = 0.1
    activation_dropout: float = 0.1
    attention_dropout: float = 0.1
    feat_proj_dropout: float = 0.0
    layerdrop: float = 0.1
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-5
    feat_extract_norm: str = "group"
    feat_extract_activation: str = "gelu"
    conv_dim: tuple[int, ...] = (512, 512, 512, 512, 512, 512, 512)
    conv_stride: tuple[int, ...] = (5, 2, 2, 2, 2, 2, 2)
    conv_kernel: tuple[int, ...] = (10, 3, 3, 3, 3, 2, 2)
    conv_bias: bool = False
    num_conv_pos_embeddings: int = 128
    num_conv_pos_embedding_groups: int = 16
    feat_proj_layer_norm: bool = True
    do_stable_layer_norm: bool = False
    apply_spec_augment: bool = True
    mask_time_prob: float = 0.05
    mask_time_length: int = 10
    mask_time_min_masks: int = 2
    mask_feature_prob: float = 0.0
    mask_feature_length: int = 10
    mask_feature_min_masks: int = 0
    num_buckets: int = 320
    max_bucket_distance: int = 800

    def __post_init__(self):
        if self.model_type not in MODEL_TYPES:
            raise ValueError(f"unknown model_type {self.model_type!r}; known: {MODEL_TYPES}")
        if self.feat_extract_norm not in ("group", "layer"):
            raise ValueError(f"feat_extract_norm must be 'group' or 'layer', got "
                             f"{self.feat_extract_norm!r}")
        for name in ("hidden_act", "feat_extract_activation"):
            if getattr(self, name) not in ACTIVATIONS:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; known: "
                                 f"{sorted(ACTIVATIONS)}")
        if not len(self.conv_dim) == len(self.conv_kernel) == len(self.conv_stride):
            raise ValueError("conv_dim, conv_kernel and conv_stride must have the same length")
        if self.hidden_size % self.num_attention_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by "
                             f"num_attention_heads {self.num_attention_heads}")

    @classmethod
    def from_hf(cls, config: dict) -> "EncoderConfig":
        """From a Hugging Face config.json dict; options this encoder lacks raise ValueError."""
        unsupported = {
            "add_adapter": bool(config.get("add_adapter")),
            "adapter_attn_dim": config.get("adapter_attn_dim") is not None,
            "conv_pos_batch_norm": bool(config.get("conv_pos_batch_norm")),
        }
        if any(unsupported.values()):
            names = [name for name, used in unsupported.items() if used]
            raise ValueError(f"checkpoint config uses {names}, which jax_ser's encoder does not "
                             "implement")
        names = {field.name for field in dataclasses.fields(cls)}
        values = {key: tuple(value) if isinstance(value, list) else value
                  for key, value in config.items() if key in names}
        return cls(**values)

    @property
    def uses_masked_spec_embed(self) -> bool:
        """Whether the model has the learned SpecAugment vector (HF creates it only then)."""
        return self.mask_time_prob > 0 or self.mask_feature_prob > 0


def feat_extract_output_lengths(lengths, config: EncoderConfig):
    """Frames the conv feature encoder makes from `lengths` samples (int or int array)."""
    for kernel, stride in zip(config.conv_kernel, config.conv_stride):
        lengths = (lengths - kernel) // stride + 1
    return lengths


def frame_mask_from_samples(attention_mask: jax.Array, num_frames: int,
                            config: EncoderConfig) -> jax.Array:
    """[B, N] sample mask -> [B, T] valid frames, from the mask's sum as HF computes it.

    HF marks frame `length - 1` and fills backwards, with torch's negative-index wrap-around, so
    a clip shorter than the receptive field (length <= 0) gets every frame; mod reproduces that.
    """
    lengths = feat_extract_output_lengths(jnp.sum(attention_mask.astype(jnp.int32), -1), config)
    last = jnp.mod(lengths - 1, num_frames)
    return jnp.arange(num_frames)[None, :] <= last[:, None]


def span_mask(rng: jax.Array, shape: tuple[int, int], mask_prob: float, mask_length: int,
              min_masks: int, lengths: jax.Array | None = None) -> jax.Array:
    """Random [B, L] bool spans as HF's _compute_mask_indices draws them, in jittable form.

    Each row gets int(mask_prob * length / mask_length + u) spans (u ~ U[0, 1) shared by the
    batch, at least min_masks, capped so they fit), whose starts are a uniform random subset of
    the positions where a span fits inside the row's valid `lengths`; spans may overlap.
    """
    batch, size = shape
    if mask_length < 1:
        raise ValueError("mask_length has to be at least 1")
    if mask_length > size:
        raise ValueError(f"mask_length {mask_length} is longer than the axis of {size} to mask")
    lengths = jnp.full((batch,), size) if lengths is None else lengths
    epsilon_rng, order_rng = jax.random.split(rng)
    epsilon = jax.random.uniform(epsilon_rng)
    num_spans = jnp.floor(mask_prob * lengths / mask_length + epsilon).astype(jnp.int32)
    num_spans = jnp.maximum(num_spans, min_masks)
    num_spans = jnp.where(num_spans * mask_length > size, size // mask_length, num_spans)
    num_starts = lengths - (mask_length - 1)
    num_spans = jnp.where(num_starts < num_spans, jnp.maximum(num_starts, 0), num_spans)
    position = jnp.arange(size)[None, :]
    can_start = position < num_starts[:, None]
    scores = jnp.where(can_start, jax.random.uniform(order_rng, (batch, size)), -1.0)
    rank = jnp.argsort(jnp.argsort(-scores, axis=-1), axis=-1)
    starts = can_start & (rank < num_spans[:, None])
    count = jnp.cumsum(starts.astype(jnp.int32), axis=-1)
    before = jnp.pad(count, ((0, 0), (mask_length, 0)))[:, :size]
    return count - before > 0


def spec_augment(rng: jax.Array, hidden: jax.Array, masked_spec_embed: jax.Array,
                 config: EncoderConfig, lengths: jax.Array | None = None):
    """HF's _mask_hidden_states: time spans -> masked_spec_embed, feature spans -> 0.

    Returns the masked [B, T, D] hidden states and the [B, T] time mask.
    """
    batch, frames, dim = hidden.shape
    time_rng, feature_rng = jax.random.split(rng)
    time_mask = jnp.zeros((batch, frames), bool)
    if config.mask_time_prob > 0:
        time_mask = span_mask(time_rng, (batch, frames), config.mask_time_prob,
                              config.mask_time_length, config.mask_time_min_masks, lengths)
        hidden = jnp.where(time_mask[..., None], masked_spec_embed.astype(hidden.dtype), hidden)
    if config.mask_feature_prob > 0:
        feature_mask = span_mask(feature_rng, (batch, dim), config.mask_feature_prob,
                                 config.mask_feature_length, config.mask_feature_min_masks)
        hidden = jnp.where(feature_mask[:, None, :], jnp.zeros((), hidden.dtype), hidden)
    return hidden, time_mask


def relative_position_buckets(length: int, num_buckets: int, max_distance: int) -> np.ndarray:
    """[T, T] T5-style log buckets of key - query offsets, in float32 as WavLM computes them."""
    half = num_buckets // 2
    relative = np.arange(length)[None, :] - np.arange(length)[:, None]
    buckets = (relative > 0).astype(np.int64) * half
    distance = np.abs(relative)
    max_exact = half // 2
    # Offsets below max_exact take the exact branch; the floor of 1 only keeps log() finite.
    large = np.log(np.maximum(distance, 1).astype(np.float32) / np.float32(max_exact))
    large = large / np.float32(math.log(max_distance / max_exact)) * np.float32(half - max_exact)
    large = np.minimum((np.float32(max_exact) + large).astype(np.int64), half - 1)
    return buckets + np.where(distance < max_exact, distance, large)


def _layer_norm(eps: float, dtype: Any, name: str) -> nn.LayerNorm:
    """torch.nn.LayerNorm: two-pass variance, so float32 sums match PyTorch to ~1e-7."""
    return nn.LayerNorm(epsilon=eps, dtype=dtype, use_fast_variance=False, name=name)


def _dense(features: int, config: EncoderConfig, dtype: Any, name: str) -> nn.Dense:
    return nn.Dense(features, dtype=dtype, name=name,
                    kernel_init=nn.initializers.normal(config.initializer_range))


class ConvLayer(nn.Module):
    """One strided conv of the feature encoder with its optional norm and activation."""

    config: EncoderConfig
    layer_id: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        i = self.layer_id
        x = nn.Conv(cfg.conv_dim[i], (cfg.conv_kernel[i],), (cfg.conv_stride[i],), padding="VALID",
                    use_bias=cfg.conv_bias, dtype=self.dtype, name="conv",
                    kernel_init=nn.initializers.variance_scaling(2.0, "fan_in", "normal"))(x)
        if cfg.feat_extract_norm == "layer":
            x = _layer_norm(1e-5, self.dtype, "layer_norm")(x)
        elif i == 0:
            # One group per channel: each channel normalised over the whole clip, padding included.
            x = nn.GroupNorm(num_groups=cfg.conv_dim[0], epsilon=1e-5, dtype=self.dtype,
                             use_fast_variance=False, name="layer_norm")(x)
        return ACTIVATIONS[cfg.feat_extract_activation](x)


class FeatureEncoder(nn.Module):
    """Conv stack on the raw wave: [B, N] -> [B, T, conv_dim[-1]]; 20 ms hop for the usual one."""

    config: EncoderConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, waves):
        x = jnp.asarray(waves, self.dtype)[..., None]
        for i in range(len(self.config.conv_dim)):
            x = ConvLayer(self.config, i, self.dtype, name=f"conv_layers_{i}")(x)
        return x


class FeatureProjection(nn.Module):
    """(LayerNorm,) Linear to hidden_size, dropout; also returns the Linear's input."""

    config: EncoderConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, deterministic: bool):
        cfg = self.config
        if cfg.feat_proj_layer_norm:
            x = _layer_norm(cfg.layer_norm_eps, self.dtype, "layer_norm")(x)
        bound = 1.0 / math.sqrt(x.shape[-1])
        uniform = functools.partial(jax.random.uniform, minval=-bound, maxval=bound)
        hidden = nn.Dense(cfg.hidden_size, dtype=self.dtype, name="projection",
                          kernel_init=uniform, bias_init=uniform)(x)
        hidden = nn.Dropout(cfg.feat_proj_dropout)(hidden, deterministic=deterministic)
        return hidden, x


class WeightNormConv(nn.Module):
    """Grouped 'same' conv whose kernel is g * v / |v| (torch weight_norm, dim=2), kept as g, v.

    Keeping the parametrisation (rather than folding it into one kernel) makes fine-tuning
    follow PyTorch's, which updates g and v.
    """

    features: int
    kernel_size: int
    groups: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        shape = (self.kernel_size, x.shape[-1] // self.groups, self.features)
        std = 2.0 * math.sqrt(1.0 / (self.kernel_size * x.shape[-1]))
        weight_v = self.param("weight_v", nn.initializers.normal(std), shape)
        norm = jnp.sqrt(jnp.sum(jnp.square(weight_v), axis=(1, 2), keepdims=True))
        weight_g = self.param("weight_g", lambda _, v_norm: v_norm, norm)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
        kernel = (weight_g * weight_v / norm).astype(self.dtype)
        pad = self.kernel_size // 2
        y = jax.lax.conv_general_dilated(
            jnp.asarray(x, self.dtype), kernel, window_strides=(1,), padding=[(pad, pad)],
            dimension_numbers=("NWC", "WIO", "NWC"), feature_group_count=self.groups)
        return y + bias.astype(self.dtype)


class PositionalConvEmbedding(nn.Module):
    """Grouped conv over time added to the input: the models' only position signal (+ WavLM's)."""

    config: EncoderConfig
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        y = WeightNormConv(cfg.hidden_size, cfg.num_conv_pos_embeddings,
                           cfg.num_conv_pos_embedding_groups, self.dtype, name="conv")(x)
        if cfg.num_conv_pos_embeddings % 2 == 0:
            y = y[:, :-1]  # an even kernel with symmetric padding makes one frame too many
        return ACTIVATIONS[cfg.feat_extract_activation](y)


class SelfAttention(nn.Module):
    """Multi-head self-attention over valid keys, with WavLM's gated relative position bias.

    WavLM's first layer owns the bucket embedding and hands its ungated [H, T, T] bias on; every
    layer gates it per query and head from its own input (gru_rel_pos_linear/const).
    """

    config: EncoderConfig
    dtype: Any = jnp.float32
    deterministic: bool = True
    has_relative_position_bias: bool = False

    @nn.compact
    def __call__(self, x, frame_mask, position_bias):
        cfg = self.config
        batch, frames, dim = x.shape
        heads = cfg.num_attention_heads
        head_dim = dim // heads

        def split(y):
            return y.reshape(batch, frames, heads, head_dim)

        query = split(_dense(dim, cfg, self.dtype, "q_proj")(x))
        key = split(_dense(dim, cfg, self.dtype, "k_proj")(x))
        value = split(_dense(dim, cfg, self.dtype, "v_proj")(x))
        scores = jnp.einsum("bqhd,bkhd->bhqk", query, key).astype(jnp.float32)
        scores = scores * head_dim**-0.5
        if cfg.model_type == "wavlm":
            if position_bias is None:
                buckets = relative_position_buckets(frames, cfg.num_buckets,
                                                    cfg.max_bucket_distance)
                table = nn.Embed(cfg.num_buckets, heads, name="rel_attn_embed",
                                 embedding_init=nn.initializers.normal(cfg.initializer_range))
                position_bias = jnp.transpose(table(jnp.asarray(buckets)), (2, 0, 1))
            gate_logits = _dense(8, cfg, self.dtype, "gru_rel_pos_linear")(split(x))
            gates = nn.sigmoid(gate_logits.reshape(batch, frames, heads, 2, 4).sum(-1))
            gates = jnp.transpose(gates.astype(jnp.float32), (0, 2, 1, 3))  # [B, H, T, 2]
            const = self.param("gru_rel_pos_const", nn.initializers.ones_init(),
                               (1, heads, 1, 1))
            gate = gates[..., :1] * (gates[..., 1:] * const - 1.0) + 2.0
            scores = scores + gate * position_bias[None]
        scores = jnp.where(frame_mask[:, None, None, :], scores, jnp.finfo(jnp.float32).min)
        probs = jax.nn.softmax(scores, axis=-1)
        probs = nn.Dropout(cfg.attention_dropout)(probs, deterministic=self.deterministic)
        out = jnp.einsum("bhqk,bkhd->bqhd", probs.astype(self.dtype), value)
        out = _dense(dim, cfg, self.dtype, "out_proj")(out.reshape(batch, frames, dim))
        return out, position_bias


class FeedForward(nn.Module):
    """Linear, activation, dropout, Linear, dropout."""

    config: EncoderConfig
    dtype: Any = jnp.float32
    deterministic: bool = True

    @nn.compact
    def __call__(self, x):
        cfg = self.config
        x = _dense(cfg.intermediate_size, cfg, self.dtype, "intermediate_dense")(x)
        x = ACTIVATIONS[cfg.hidden_act](x)
        x = nn.Dropout(cfg.activation_dropout)(x, deterministic=self.deterministic)
        x = _dense(cfg.hidden_size, cfg, self.dtype, "output_dense")(x)
        return nn.Dropout(cfg.hidden_dropout)(x, deterministic=self.deterministic)


class EncoderLayer(nn.Module):
    """Transformer layer, post-LN (base models) or pre-LN (`do_stable_layer_norm`)."""

    config: EncoderConfig
    dtype: Any = jnp.float32
    deterministic: bool = True
    has_relative_position_bias: bool = False

    @nn.compact
    def __call__(self, x, frame_mask, position_bias):
        cfg = self.config
        attention = SelfAttention(cfg, self.dtype, self.deterministic,
                                  self.has_relative_position_bias, name="attention")
        dropout = nn.Dropout(cfg.hidden_dropout, deterministic=self.deterministic)
        layer_norm = _layer_norm(cfg.layer_norm_eps, self.dtype, "layer_norm")
        feed_forward = FeedForward(cfg, self.dtype, self.deterministic, name="feed_forward")
        final_layer_norm = _layer_norm(cfg.layer_norm_eps, self.dtype, "final_layer_norm")
        if cfg.do_stable_layer_norm:
            attended, position_bias = attention(layer_norm(x), frame_mask, position_bias)
            x = x + dropout(attended)
            x = x + feed_forward(final_layer_norm(x))
        else:
            attended, position_bias = attention(x, frame_mask, position_bias)
            x = layer_norm(x + dropout(attended))
            x = final_layer_norm(x + feed_forward(x))
        return x, position_bias


class TransformerEncoder(nn.Module):
    """Zero padded frames, add the position conv, run the layers (with LayerDrop in training).

    Returns the input of the first layer followed by each layer's output, and the final output
    (after the closing LayerNorm of pre-LN models).
    """

    config: EncoderConfig
    dtype: Any = jnp.float32
    remat: bool = False

    @nn.compact
    def __call__(self, x, frame_mask, train: bool):
        cfg = self.config
        x = jnp.where(frame_mask[..., None], x, jnp.zeros((), x.dtype))
        x = x + PositionalConvEmbedding(cfg, self.dtype, name="pos_conv_embed")(x)
        layer_norm = _layer_norm(cfg.layer_norm_eps, self.dtype, "layer_norm")
        if not cfg.do_stable_layer_norm:
            x = layer_norm(x)
        x = nn.Dropout(cfg.hidden_dropout)(x, deterministic=not train)
        layer_cls = nn.remat(EncoderLayer) if self.remat else EncoderLayer
        wavlm = cfg.model_type == "wavlm"
        hidden_states = [x]
        position_bias = None
        for i in range(cfg.num_hidden_layers):
            layer = layer_cls(cfg, self.dtype, not train, wavlm and i == 0, name=f"layers_{i}")
            y, position_bias = layer(x, frame_mask, position_bias)
            # One draw per layer for the whole batch; WavLM never drops the layer that makes the
            # position bias.
            if train and cfg.layerdrop > 0 and not (wavlm and i == 0):
                skip = jax.random.uniform(self.make_rng("dropout")) < cfg.layerdrop
                y = jnp.where(skip, x, y)
            x = y
            hidden_states.append(x)
        if cfg.do_stable_layer_norm:
            x = layer_norm(x)
        return tuple(hidden_states), x


class Encoder(nn.Module):
    """wav2vec 2.0 / HuBERT / WavLM encoder: waves [B, N] at 16 kHz -> frame features.

    `__call__(waves, attention_mask=None, train=False)` returns a dict:
      hidden_states     tuple of num_hidden_layers + 1 [B, T, hidden_size] (HF's hidden_states)
      last_hidden_state [B, T, hidden_size]
      extract_features  [B, T, conv_dim[-1]] conv features as the projection's Linear sees them
      frame_mask        [B, T] bool, frames inside each clip's valid samples
    Training needs rng "dropout" (dropout, LayerDrop) and, when SpecAugment is on, rng "mask".
    `dtype` is the compute dtype (params stay float32); `remat` recomputes layers in backprop.
    """

    config: EncoderConfig
    dtype: Any = jnp.float32
    remat: bool = False
    freeze_feature_encoder: bool = False  # no gradient through the conv stack (HF's freeze_...)

    @nn.compact
    def __call__(self, waves, attention_mask=None, train: bool = False):
        cfg = self.config
        features = FeatureEncoder(cfg, self.dtype, name="feature_extractor")(waves)
        if self.freeze_feature_encoder:
            features = jax.lax.stop_gradient(features)
        batch, frames, _ = features.shape
        if attention_mask is None:
            frame_mask = jnp.ones((batch, frames), bool)
        else:
            frame_mask = frame_mask_from_samples(attention_mask, frames, cfg)
        hidden, extract_features = FeatureProjection(cfg, self.dtype, name="feature_projection")(
            features, deterministic=not train)
        if cfg.uses_masked_spec_embed:
            embed = self.param("masked_spec_embed", nn.initializers.uniform(1.0),
                               (cfg.hidden_size,))
            if train and cfg.apply_spec_augment:
                # HuBERT draws time spans over the padded length; the others within each clip.
                lengths = None
                if attention_mask is not None and cfg.model_type != "hubert":
                    lengths = jnp.sum(frame_mask, axis=-1)
                hidden, _ = spec_augment(self.make_rng("mask"), hidden, embed, cfg, lengths)
        hidden_states, last = TransformerEncoder(cfg, self.dtype, self.remat, name="encoder")(
            hidden, frame_mask, train)
        return {
            "hidden_states": hidden_states,
            "last_hidden_state": last,
            "extract_features": extract_features,
            "frame_mask": frame_mask,
        }
