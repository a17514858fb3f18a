"""ResNet (He et al., 2016) over spectrograms treated as one- or three-channel images.

Follows flax's examples/imagenet/models.py, with torchvision's layout so ImageNet weights can be
loaded later: explicit torchvision padding, BatchNorm momentum 0.9 (torch's 0.1) and epsilon 1e-5,
stride on the 3x3 conv of bottlenecks (v1.5), and submodule names that map onto torchvision's
state-dict keys (`conv1`, `bn1`, `layer1_0.conv1`, `layer1_0.downsample_conv`, `fc`, ...).
"""

import functools
from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from jax_ser.models import _layers
from jax_ser.models.pretrained import imagenet

ModuleDef = Any

# torchvision's kaiming_normal_(mode="fan_out", nonlinearity="relu") for convolutions.
conv_init = nn.initializers.variance_scaling(2.0, "fan_out", "normal")


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with an identity (or projected) shortcut; ResNet-18/34."""

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    strides: int = 1

    @nn.compact
    def __call__(self, x):
        residual = x
        y = self.conv(self.filters, (3, 3), self.strides, padding=1, name="conv1")(x)
        y = nn.relu(self.norm(name="bn1")(y))
        y = self.conv(self.filters, (3, 3), padding=1, name="conv2")(y)
        # Zero-init of the last scale makes each block start as the identity (Goyal et al., 2017).
        y = self.norm(scale_init=nn.initializers.zeros_init(), name="bn2")(y)
        return nn.relu(residual_path(self, residual, y) + y)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand by 4; ResNet-50."""

    filters: int
    conv: ModuleDef
    norm: ModuleDef
    strides: int = 1

    @nn.compact
    def __call__(self, x):
        residual = x
        y = self.conv(self.filters, (1, 1), name="conv1")(x)
        y = nn.relu(self.norm(name="bn1")(y))
        y = self.conv(self.filters, (3, 3), self.strides, padding=1, name="conv2")(y)
        y = nn.relu(self.norm(name="bn2")(y))
        y = self.conv(self.filters * 4, (1, 1), name="conv3")(y)
        y = self.norm(scale_init=nn.initializers.zeros_init(), name="bn3")(y)
        return nn.relu(residual_path(self, residual, y) + y)


def residual_path(block: nn.Module, residual, y):
    """Projects the shortcut with a strided 1x1 conv + BN when the block changes its shape."""
    if residual.shape == y.shape:
        return residual
    residual = block.conv(y.shape[-1], (1, 1), block.strides, name="downsample_conv")(residual)
    return block.norm(name="downsample_bn")(residual)


STAGE_SIZES = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3)}
BLOCKS = {18: BasicBlock, 34: BasicBlock, 50: Bottleneck}


class Model(nn.Module):
    """ResNet classifier: feats [B, T, F] -> logits [B, num_classes] (float32)."""

    num_classes: int
    depth: int = 18
    width: int = 64
    dropout: float = 0.0
    head_hidden: int = 0
    in_channels: int = 1
    checkpoint: str = ""  # torchvision ImageNet weights (.pth / .safetensors) for init=pretrained
    freeze_stages: int = 0  # with pretrained weights: freeze the stem and this many stages
    stem: str = "imagenet"
    dtype: str = "float32"  # compute dtype: float32 | bfloat16 (parameters stay float32)

    @nn.compact
    def __call__(self, feats, train: bool = False):
        if self.depth not in STAGE_SIZES:
            raise ValueError(f"unknown ResNet depth {self.depth}; known: {sorted(STAGE_SIZES)}")
        if self.stem not in ("imagenet", "small"):
            raise ValueError(f"unknown stem {self.stem!r}; known: 'imagenet', 'small'")
        conv = functools.partial(
            nn.Conv, use_bias=False, kernel_init=conv_init, dtype=self.dtype, padding=0,
            conv_general_dilated=_layers.conv_general_dilated,
        )
        norm = functools.partial(
            nn.BatchNorm,
            use_running_average=not train,
            momentum=0.9,
            epsilon=1e-5,
            dtype=self.dtype,
        )
        x = jnp.asarray(feats, self.dtype)[..., None]
        x = jnp.repeat(x, self.in_channels, axis=-1)
        if self.stem == "imagenet":
            x = conv(self.width, (7, 7), 2, padding=3, name="conv1")(x)
        else:
            x = conv(self.width, (3, 3), 1, padding=1, name="conv1")(x)
        x = nn.relu(norm(name="bn1")(x))
        if self.stem == "imagenet":
            x = _layers.strided_max_pool(x, 3, 2, 1)
        block = BLOCKS[self.depth]
        for i, num_blocks in enumerate(STAGE_SIZES[self.depth]):
            for j in range(num_blocks):
                strides = 2 if i > 0 and j == 0 else 1
                x = block(
                    self.width * 2**i, conv=conv, norm=norm, strides=strides,
                    name=f"layer{i + 1}_{j}",
                )(x)
        x = jnp.mean(x, axis=(1, 2))
        if self.head_hidden > 0:
            x = nn.relu(nn.Dense(self.head_hidden, dtype=self.dtype, name="hidden")(x))
        if self.dropout > 0:
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        x = nn.Dense(self.num_classes, dtype=self.dtype, name="fc")(x)
        return jnp.asarray(x, jnp.float32)


def load_pretrained(variables: dict, model_config) -> dict:
    """ImageNet weights from torchvision's file at `model.checkpoint`; the classifier stays
    fresh."""
    return imagenet.load_torchvision(model_config.checkpoint, "resnet", variables)


def lr_scales(params, model_config):
    return imagenet.lr_scales(params, "resnet", model_config.freeze_stages)
