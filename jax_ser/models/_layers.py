"""Pooling and convolution written so XLA's CPU backend runs them fast.

On CPU, XLA lowers a grouped convolution with one channel per group to a generic loop, and the
gradient of a windowed max-pool to select-and-scatter. Fused shifted slices do the same maths:
8x faster for EfficientNet's 5x5 depthwise convolutions and 2.4x for a 2x2 max-pool, forward
and backward; ResNet's 3x3 stride-2 stem pool makes the ResNet18 step 1.06-1.12x faster. A
convolution's kernel gradient summed over chunks of the batch makes it 1.1-1.27x faster again.
GPUs and TPUs keep the native ops, which their libraries tune. Parameters are the same arrays
as flax's, so checkpoints and ImageNet weights load either way.
"""

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp


def _on_cpu() -> bool:
    return jax.default_backend() == "cpu"


def max_pool(x, window: tuple[int, int]):
    """nn.max_pool(x, window, strides=window, padding="SAME") over [B, H, W, C]: the windows tile
    the map, so a reshape and a max over each tile give the same values and gradients."""
    if not _on_cpu():
        return nn.max_pool(x, window, strides=window, padding="SAME")
    pads = [(0, 0)]
    for size, w in zip(x.shape[1:3], window):
        total = -size % w
        pads.append((total // 2, total - total // 2))  # XLA's SAME split
    x = jnp.pad(x, pads + [(0, 0)], constant_values=-jnp.inf)
    b, h, w_, c = x.shape
    tiles = x.reshape(b, h // window[0], window[0], w_ // window[1], window[1], c)
    return tiles.max(axis=(2, 4))


def strided_max_pool(x, window: int, stride: int, pad: int):
    """nn.max_pool(x, (window,) * 2, strides=(stride,) * 2, padding=((pad, pad),) * 2) over
    [B, H, W, C], for overlapping windows such as ResNet's 3x3 stride-2 stem pool. XLA's CPU
    backend runs that op's gradient as a reduce-window that tracks the index of every maximum
    (about a tenth of a ResNet18 step); here the forward pass is a maximum of strided slices and
    the backward pass sends each window's gradient to its first maximum in row-major order, as
    XLA's select-and-scatter does, adding overlaps in the same order."""
    if not _on_cpu():
        return nn.max_pool(x, (window, window), strides=(stride, stride),
                           padding=((pad, pad), (pad, pad)))
    return _strided_max_pool(x, window, stride, pad)


def _pool_taps(padded, window: int, stride: int):
    """The window's taps in row-major order: strided slices [B, out_h, out_w, C] of `padded`."""
    out_h = (padded.shape[1] - window) // stride + 1
    out_w = (padded.shape[2] - window) // stride + 1
    return [((i, j), padded[:, i:i + stride * (out_h - 1) + 1:stride,
                            j:j + stride * (out_w - 1) + 1:stride])
            for i in range(window) for j in range(window)]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2, 3))
def _strided_max_pool(x, window, stride, pad):
    return _strided_max_pool_fwd(x, window, stride, pad)[0]


def _strided_max_pool_fwd(x, window, stride, pad):
    padded = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)), constant_values=-jnp.inf)
    out = functools.reduce(jnp.maximum, (tap for _, tap in _pool_taps(padded, window, stride)))
    return out, (padded, out)


def _strided_max_pool_bwd(window, stride, pad, residuals, g):
    padded, out = residuals
    taken = jnp.zeros(out.shape, bool)
    pieces = []
    for (i, j), tap in _pool_taps(padded, window, stride):
        first = (tap == out) & ~taken  # the first maximum of its window takes the gradient
        taken = taken | first
        pieces.append(((i, j), jnp.where(first, g, jnp.zeros_like(g))))
    grad = jnp.zeros_like(padded)
    for (i, j), piece in reversed(pieces):  # each input gathers its windows in row-major order
        rows = (i, padded.shape[1] - i - stride * (out.shape[1] - 1) - 1, stride - 1)
        cols = (j, padded.shape[2] - j - stride * (out.shape[2] - 1) - 1, stride - 1)
        grad = grad + jax.lax.pad(piece, jnp.zeros((), g.dtype), [(0, 0, 0), rows, cols,
                                                                   (0, 0, 0)])
    return (grad[:, pad:padded.shape[1] - pad, pad:padded.shape[2] - pad],)


_strided_max_pool.defvjp(_strided_max_pool_fwd, _strided_max_pool_bwd)


# On CPU, a convolution's kernel gradient is summed over chunks of this many examples where its
# output has at least KERNEL_GRAD_MIN_POSITIONS positions per example.
KERNEL_GRAD_CHUNK = 8
KERNEL_GRAD_MIN_POSITIONS = 256


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
                         dimension_numbers=None, feature_group_count=1, precision=None):
    """jax.lax.conv_general_dilated, for nn.Conv(conv_general_dilated=...): the same values and
    input gradient. On CPU, XLA computes the kernel gradient of a convolution over a whole batch
    of large feature maps at half its speed over 8 examples, so there the kernel gradient is the
    sum of XLA's own over chunks of KERNEL_GRAD_CHUNK examples (the same up to float rounding):
    in ResNet18, the stem and the first two stages."""
    conv = functools.partial(
        jax.lax.conv_general_dilated, window_strides=tuple(window_strides),
        padding=padding if isinstance(padding, str) else tuple(map(tuple, padding)),
        lhs_dilation=lhs_dilation, rhs_dilation=rhs_dilation,
        dimension_numbers=dimension_numbers, feature_group_count=feature_group_count,
        precision=precision)
    batch = lhs.shape[0]  # symbolic under jax.export: not chunked
    if (not _on_cpu() or not isinstance(batch, int)
            or feature_group_count != 1 or not _batch_first(dimension_numbers)):
        return conv(lhs, rhs)
    per_device = batch // _blocks(batch)
    if per_device <= KERNEL_GRAD_CHUNK or per_device % KERNEL_GRAD_CHUNK:
        return conv(lhs, rhs)
    positions = math.prod(jax.eval_shape(conv, lhs, rhs).shape[1:-1])
    if positions < KERNEL_GRAD_MIN_POSITIONS:
        return conv(lhs, rhs)
    return _conv_chunked_kernel_grad(conv, lhs, rhs)


def _batch_first(dimension_numbers) -> bool:
    """Whether the input's and output's batch axis is 0 (NHWC, as flax's nn.Conv lays them out)."""
    if dimension_numbers is None:
        return True
    if isinstance(dimension_numbers, tuple) and isinstance(dimension_numbers[0], str):
        return dimension_numbers[0][0] == "N" and dimension_numbers[2][0] == "N"
    return dimension_numbers.lhs_spec[0] == 0 and dimension_numbers.out_spec[0] == 0


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _conv_chunked_kernel_grad(conv, lhs, rhs):
    return conv(lhs, rhs)


def _conv_chunked_kernel_grad_fwd(conv, lhs, rhs):
    return conv(lhs, rhs), (lhs, rhs)


def _conv_chunked_kernel_grad_bwd(conv, residuals, g):
    lhs, rhs = residuals
    d_lhs = jax.vjp(lambda x: conv(x, rhs), lhs)[1](g)[0]
    xs, gs = _chunks(lhs, KERNEL_GRAD_CHUNK), _chunks(g, KERNEL_GRAD_CHUNK)
    d_rhs = functools.reduce(jnp.add, (jax.vjp(lambda w: conv(xs[c], w), rhs)[1](gs[c])[0]
                                       for c in range(xs.shape[0])))
    return d_lhs, d_rhs


def _blocks(batch: int) -> int:
    """How many contiguous blocks the trainer splits a batch axis into, one per device: all
    devices where they divide it, else 1."""
    devices = jax.device_count()
    return devices if batch % devices == 0 else 1


def _chunks(x, size: int):
    """[B, ...] -> [B // (D * size), D * size, ...] for D = _blocks(B): chunk c holds examples
    c * size .. (c + 1) * size - 1 of every device's block. Chunks of consecutive examples would
    each lie on one device, and the others would wait: with two CPU devices, the ResNet18 step
    ran 1.25x slower so (benchmarks.train_step_speed)."""
    d = _blocks(x.shape[0])
    per_block = x.shape[0] // d
    x = jnp.moveaxis(x.reshape(d, per_block // size, size, *x.shape[1:]), 1, 0)
    return x.reshape(per_block // size, d * size, *x.shape[3:])


_conv_chunked_kernel_grad.defvjp(_conv_chunked_kernel_grad_fwd, _conv_chunked_kernel_grad_bwd)


class DepthwiseConv(nn.Module):
    """nn.Conv(C, (k, k), strides, padding=(k - 1) // 2, feature_group_count=C, use_bias=False):
    one k x k filter per channel, kernel shaped [k, k, 1, C] as flax stores it."""

    kernel_size: int
    strides: int = 1
    kernel_init: Any = nn.initializers.lecun_normal()
    dtype: Any = jnp.float32

    @nn.compact
    def __call__(self, x):
        k, s, channels = self.kernel_size, self.strides, x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, k, 1, channels), jnp.float32)
        x, kernel = jnp.asarray(x, self.dtype), jnp.asarray(kernel, self.dtype)
        pad = (k - 1) // 2
        if not _on_cpu():
            return jax.lax.conv_general_dilated(
                x, kernel, (s, s), [(pad, pad), (pad, pad)],
                dimension_numbers=("NHWC", "HWIO", "NHWC"), feature_group_count=channels,
            )
        x = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
        out_h, out_w = (x.shape[1] - k) // s + 1, (x.shape[2] - k) // s + 1
        taps = (
            x[:, i : i + s * (out_h - 1) + 1 : s, j : j + s * (out_w - 1) + 1 : s] * kernel[i, j, 0]
            for i in range(k)
            for j in range(k)
        )
        return sum(taps)
