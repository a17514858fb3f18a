"""The CPU-fast pooling and depthwise convolution equal flax's ops, values and gradients."""

import json
import os
import subprocess
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser.models import _layers
from tests.e2e import REPO


def value_and_grad(fn, x):
    return jax.value_and_grad(lambda x: jnp.sum(jnp.sin(fn(x))))(x)


@pytest.mark.parametrize("shape, window", [((2, 9, 7, 3), (2, 2)), ((1, 8, 5, 2), (3, 2)),
                                           ((2, 1, 1, 4), (2, 2))])
def test_max_pool_matches_flax(shape, window):
    x = jax.random.normal(jax.random.key(0), shape)
    ours = value_and_grad(lambda x: _layers.max_pool(x, window), x)
    flax_ = value_and_grad(lambda x: nn.max_pool(x, window, window, "SAME"), x)
    for a, b in zip(ours, flax_):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(2, 9, 7, 3), (2, 8, 6, 2), (1, 3, 2, 1)])
def test_strided_max_pool_equals_flax_bit_for_bit_with_ties(shape):
    """ResNet's 3x3 stride-2 stem pool on ReLU outputs, where ties are common: the same values
    and gradients to the bit, so a window's gradient reaches the same (first) maximum."""
    x = jax.nn.relu(jnp.round(2 * jax.random.normal(jax.random.key(0), shape)) / 2)
    assert len(np.unique(np.asarray(x))) <= x.size / 2  # plenty of ties
    weights = jax.random.normal(jax.random.key(1), (shape[0], (shape[1] + 1) // 2,
                                                     (shape[2] + 1) // 2, shape[3]))

    def grad(pool):
        return jax.jit(jax.value_and_grad(lambda x: jnp.sum(pool(x) * weights)))(x)

    ours = grad(lambda x: _layers.strided_max_pool(x, 3, 2, 1))
    flax_ = grad(lambda x: nn.max_pool(x, (3, 3), strides=(2, 2), padding=((1, 1), (1, 1))))
    for a, b in zip(ours, flax_):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("batch, kernel, strides, chunked", [(16, 3, 1, True), (24, 1, 2, False),
                                                             (16, 7, 2, False), (12, 3, 1, False)])
def test_conv_with_a_chunked_kernel_gradient_equals_xlas(batch, kernel, strides, chunked):
    """nn.Conv(conv_general_dilated=_layers.conv_general_dilated): the same outputs and input
    gradient, and a kernel gradient summed over chunks of 8 examples where the output has at
    least 256 positions per example and the batch splits into chunks (else XLA's, unchanged)."""
    x = jax.random.normal(jax.random.key(0), (batch, 20, 16, 3))
    if batch == 24:  # 1x1 stride 2: 80 positions, too few to chunk
        x = x[:, :, :8]
    pad = kernel // 2

    def conv(fn):
        module = nn.Conv(4, (kernel, kernel), strides, padding=pad, use_bias=False,
                         conv_general_dilated=fn)
        params = module.init(jax.random.key(1), x)
        return module, params

    ours, params = conv(_layers.conv_general_dilated)
    theirs, _ = conv(jax.lax.conv_general_dilated)
    weights = jax.random.normal(jax.random.key(2), ours.apply(params, x).shape)

    def grads(module):
        return jax.jit(jax.grad(lambda p, x: jnp.sum(module.apply(p, x) * weights),
                                argnums=(0, 1)))(params, x)

    np.testing.assert_array_equal(ours.apply(params, x), theirs.apply(params, x))
    (p_ours, x_ours), (p_theirs, x_theirs) = grads(ours), grads(theirs)
    np.testing.assert_array_equal(x_ours, x_theirs)
    kernel_grad = p_theirs["params"]["kernel"]  # sums of 16 x 320 terms: float32 rounding
    np.testing.assert_allclose(p_ours["params"]["kernel"], kernel_grad, rtol=1e-5,
                               atol=1e-6 * np.abs(kernel_grad).max())
    jaxpr = str(jax.make_jaxpr(lambda p: jax.grad(
        lambda p: jnp.sum(ours.apply(p, x) * weights))(p))(params))
    assert (f"f32[8,{','.join(map(str, x.shape[1:]))}]" in jaxpr) == chunked  # 8-example chunks


@pytest.mark.parametrize("kernel, strides, shape", [(3, 1, (2, 9, 7, 5)), (5, 2, (2, 11, 8, 4)),
                                                    (3, 2, (1, 6, 6, 3)), (5, 1, (1, 3, 2, 2))])
def test_depthwise_conv_matches_grouped_conv(kernel, strides, shape):
    x = jax.random.normal(jax.random.key(0), shape)
    channels = shape[-1]
    ours = _layers.DepthwiseConv(kernel, strides)
    grouped = nn.Conv(channels, (kernel, kernel), strides, padding=(kernel - 1) // 2,
                      feature_group_count=channels, use_bias=False)
    params = grouped.init(jax.random.key(1), x)
    assert jax.tree.map(jnp.shape, ours.init(jax.random.key(1), x)) == jax.tree.map(
        jnp.shape, params)
    for a, b in zip(value_and_grad(lambda x: ours.apply(params, x), x),
                    value_and_grad(lambda x: grouped.apply(params, x), x)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    weight_grads = [jax.grad(lambda p: jnp.sum(jnp.sin(m.apply(p, x))))(params)
                    for m in (ours, grouped)]
    np.testing.assert_allclose(weight_grads[0]["params"]["kernel"],
                               weight_grads[1]["params"]["kernel"], rtol=1e-5, atol=1e-5)


def test_cpu_paths_keep_a_batch_split_over_two_devices_on_them(tmp_path):
    """With the batch split over two CPU devices (train.cpu_devices=2), each chunk of the kernel
    gradient takes 8 examples of each device's half, and each device computes its own examples'
    features and LSTM states: the same numbers, and no device gathers the other's examples (a
    1.25x slower ResNet step, a 1.6x slower BiLSTM step)."""
    out = tmp_path / "out.json"
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "JAX_NUM_CPU_DEVICES": "2"}
    done = subprocess.run([sys.executable, "-m", "tests.two_devices_worker", str(out)], cwd=REPO,
                          env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(out.read_text())
    assert got["devices"] == 2
    assert got["chunks"] == [[*range(8), *range(16, 24)], [*range(8, 16), *range(24, 32)]]
    assert got["kernel_grad_error"] < 1e-5 and not got["kernel_grad_gathers"]
    for normalize in ("utterance", "speaker"):  # the latter with each clip's statistics
        assert got["features"][normalize]["error"] < 1e-4, normalize
        assert not got["features"][normalize]["gathers"], normalize
    assert got["lstm_grad_error"] < 1e-5 and not got["lstm_gathers"]
