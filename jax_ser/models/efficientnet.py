"""EfficientNet-B0..B7 (Tan & Le, 2019) over spectrograms treated as one- or three-channel images.

Mirrors torchvision's efficientnet_b0..b7 so its ImageNet weights load one to one: the same channel
rounding and depth scaling, SiLU, squeeze-and-excitation on the expanded channels, the linearly
growing stochastic-depth schedule, BatchNorm epsilon 1e-5 and momentum 0.9 (torch's 0.1) for B0-B4
but 1e-3 and 0.99 (torch's 0.01) for B5-B7, whose weights were ported from TensorFlow. Submodule
names map onto torchvision's state-dict keys by turning `_` into `.`, `conv` into `0` and `bn` into
`1`: `features_1_0/block_2/conv` is `features.1.0.block.2.0`, `classifier_1` is `classifier.1`.
"""

import functools
import itertools
import math
from typing import Any, NamedTuple

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import _layers
from jax_ser.models.pretrained import imagenet

ModuleDef = Any

# torchvision's initialisers: kaiming_normal_(mode="fan_out") for convolutions and
# uniform(-1/sqrt(fan_out), 1/sqrt(fan_out)) for linear layers.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")
linear_init = nn.initializers.variance_scaling(1.0 / 3.0, "fan_out", "uniform")


class Variant(NamedTuple):
    width: float
    depth: float
    dropout: float
    bn_epsilon: float
    bn_momentum: float


VARIANTS = {
    "b0": Variant(1.0, 1.0, 0.2, 1e-5, 0.9),
    "b1": Variant(1.0, 1.1, 0.2, 1e-5, 0.9),
    "b2": Variant(1.1, 1.2, 0.3, 1e-5, 0.9),
    "b3": Variant(1.2, 1.4, 0.3, 1e-5, 0.9),
    "b4": Variant(1.4, 1.8, 0.4, 1e-5, 0.9),
    "b5": Variant(1.6, 2.2, 0.4, 1e-3, 0.99),
    "b6": Variant(1.8, 2.6, 0.5, 1e-3, 0.99),
    "b7": Variant(2.0, 3.1, 0.5, 1e-3, 0.99),
}


class Stage(NamedTuple):
    expand_ratio: int
    kernel: int
    stride: int
    in_channels: int
    out_channels: int
    num_layers: int


# The B0 stages that every variant scales.
B0_STAGES = (
    Stage(1, 3, 1, 32, 16, 1),
    Stage(6, 3, 2, 16, 24, 2),
    Stage(6, 5, 2, 24, 40, 2),
    Stage(6, 3, 2, 40, 80, 3),
    Stage(6, 5, 1, 80, 112, 3),
    Stage(6, 5, 2, 112, 192, 4),
    Stage(6, 3, 1, 192, 320, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's channel rounding: nearest multiple of `divisor`, at most 10% below `value`."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def scaled_stages(variant: Variant) -> list[Stage]:
    """B0's stages widened by `variant.width` and deepened (rounding up) by `variant.depth`."""
    return [
        s._replace(
            in_channels=make_divisible(s.in_channels * variant.width),
            out_channels=make_divisible(s.out_channels * variant.width),
            num_layers=int(math.ceil(s.num_layers * variant.depth)),
        )
        for s in B0_STAGES
    ]


class ConvNormAct(nn.Module):
    """torchvision's Conv2dNormActivation: bias-free conv with 'same' padding, BatchNorm, SiLU."""

    features: int
    kernel: int
    norm: ModuleDef
    strides: int = 1
    groups: int = 1
    activation: bool = True
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        if self.groups > 1 and self.groups == x.shape[-1] == self.features:
            conv = _layers.DepthwiseConv(
                self.kernel, self.strides, kernel_init=conv_init, dtype=self.dtype, name="conv"
            )
        else:
            conv = nn.Conv(
                self.features, (self.kernel, self.kernel), self.strides,
                padding=(self.kernel - 1) // 2, feature_group_count=self.groups, use_bias=False,
                kernel_init=conv_init, dtype=self.dtype, name="conv",
            )
        x = conv(x)
        x = self.norm(name="bn")(x)
        return nn.silu(x) if self.activation else x


class SqueezeExcitation(nn.Module):
    """Channel gates from the global average: 1x1 conv down, SiLU, 1x1 conv up, sigmoid."""

    squeeze_channels: int
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        conv = functools.partial(
            nn.Conv, kernel_size=(1, 1), kernel_init=conv_init, dtype=self.dtype
        )
        scale = jnp.mean(x, axis=(1, 2), keepdims=True)
        scale = nn.silu(conv(self.squeeze_channels, name="fc1")(scale))
        scale = nn.sigmoid(conv(x.shape[-1], name="fc2")(scale))
        return x * scale


class MBConv(nn.Module):
    """Inverted residual: 1x1 expand, depthwise conv, SE, 1x1 project; stochastic depth on the
    residual branch (whole examples dropped, survivors rescaled, as torchvision's "row" mode)."""

    expand_ratio: int
    kernel: int
    strides: int
    out_channels: int
    drop_prob: float
    norm: ModuleDef
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x, train: bool):
        in_channels = x.shape[-1]
        expanded = make_divisible(in_channels * self.expand_ratio)
        conv = functools.partial(ConvNormAct, norm=self.norm, dtype=self.dtype)
        names = (f"block_{k}" for k in itertools.count())
        y = x
        if expanded != in_channels:
            y = conv(expanded, 1, name=next(names))(y)
        y = conv(expanded, self.kernel, strides=self.strides, groups=expanded, name=next(names))(y)
        y = SqueezeExcitation(max(1, in_channels // 4), dtype=self.dtype, name=next(names))(y)
        y = conv(self.out_channels, 1, activation=False, name=next(names))(y)
        if self.strides != 1 or in_channels != self.out_channels:
            return y
        y = nn.Dropout(self.drop_prob, broadcast_dims=(1, 2, 3), deterministic=not train)(y)
        return x + y


class Model(nn.Module):
    """EfficientNet classifier: feats [B, T, F] -> logits [B, num_classes] (float32).

    `dropout` None takes torchvision's per-variant rate; `stochastic_depth` is the drop rate of the
    last block, growing linearly from 0 at the first.
    """

    num_classes: int
    variant: str = "b0"
    dropout: float | None = None
    head_hidden: int = 0
    in_channels: int = 1
    checkpoint: str = ""  # torchvision ImageNet weights (.pth / .safetensors) for init=pretrained
    freeze_stages: int = 0  # with pretrained weights: freeze the stem and this many stages
    stochastic_depth: float = 0.2
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)

    @nn.compact
    def __call__(self, feats, train: bool = False):
        if self.variant not in VARIANTS:
            known = ", ".join(VARIANTS)
            raise ValueError(f"unknown EfficientNet variant {self.variant!r}; known: {known}")
        variant = VARIANTS[self.variant]
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=variant.bn_momentum,
            epsilon=variant.bn_epsilon,
            dtype=self.dtype,
        )
        conv = functools.partial(ConvNormAct, norm=norm, dtype=self.dtype)
        stages = scaled_stages(variant)
        x = jnp.asarray(feats, self.dtype)[..., None]
        x = jnp.repeat(x, self.in_channels, axis=-1)
        x = conv(stages[0].in_channels, 3, strides=2, name="features_0")(x)
        num_blocks = sum(stage.num_layers for stage in stages)
        block_index = 0
        for i, stage in enumerate(stages, start=1):
            for j in range(stage.num_layers):
                x = MBConv(
                    stage.expand_ratio, stage.kernel, stage.stride if j == 0 else 1,
                    stage.out_channels, self.stochastic_depth * block_index / num_blocks,
                    norm=norm, dtype=self.dtype, name=f"features_{i}_{j}",
                )(x, train)
                block_index += 1
        x = conv(4 * stages[-1].out_channels, 1, name=f"features_{len(stages) + 1}")(x)
        x = jnp.mean(x, axis=(1, 2))
        dense = functools.partial(nn.Dense, kernel_init=linear_init, dtype=self.dtype)
        if self.head_hidden > 0:
            x = nn.relu(dense(self.head_hidden, name="hidden")(x))
        dropout = variant.dropout if self.dropout is None else self.dropout
        x = nn.Dropout(dropout, deterministic=not train)(x)
        x = dense(self.num_classes, name="classifier_1")(x)
        return jnp.asarray(x, jnp.float32)


def load_pretrained(variables: dict, model_config) -> dict:
    """ImageNet weights from torchvision's file at `model.checkpoint`; the classifier stays
    fresh."""
    return imagenet.load_torchvision(model_config.checkpoint, "efficientnet", variables)


def lr_scales(params, model_config):
    return imagenet.lr_scales(params, "efficientnet", model_config.freeze_stages)
