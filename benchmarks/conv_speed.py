"""ResNet18's convolutions one at a time, jax_ser against PyTorch, forward and backward, in one
process: where the train step's time goes on a CPU.

  python -m benchmarks.conv_speed [--batch 32] [--seconds 3] [--steps 5]
  taskset -c 0 python -m benchmarks.conv_speed

The convolutions are those of configs/resnet18_mel.py (half-width ResNet18 on 64-band log-mel),
read from the model itself: every nn.Conv call with its input shape, kernel, stride and padding.
jax_ser's side is what the train step runs, `_layers.conv_general_dilated` (on CPU its kernel
gradient is summed over chunks of 8 examples), jitted; PyTorch's is F.conv2d on the same NCHW
data. Each shape is timed forward alone and forward plus both gradients, and the totals weight
each shape by how often the model uses it.

With more than one thread, read the rows one by one: XLA runs the 32- and 64-channel convolutions
on one thread wherever they are, but the 128- and 256-channel ones, called alone again and again
as here, often got one thread too, where inside a compiled step (or a chain of them in one jitted
function) they use two. One core has no such effect.
"""

import collections
import functools
import os
from pathlib import Path

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import torch
from absl import app, flags

from benchmarks import common
from jax_ser import models
from jax_ser.data import precomputed
from jax_ser.frontend import features
from jax_ser.models import _layers

REPO = Path(__file__).resolve().parents[1]
CONFIG = "configs/resnet18_mel.py"


def resnet_convs(config, batch: int) -> collections.Counter:
    """{(input NHWC shape, out channels, kernel, stride, padding): uses} of the config's model."""
    frames = features.num_frames(precomputed.input_shape(config)[0], config.features)
    feats = jnp.zeros((batch, frames, features.num_features(config.features)), jnp.float32)
    model = models.build(config.model, num_classes=8)
    convs = collections.Counter()

    def record(next_fun, args, kwargs, context):
        module = context.module
        if isinstance(module, nn.Conv) and context.method_name == "__call__":
            pad = module.padding
            pad = pad if isinstance(pad, int) else pad[0][0]
            convs[(tuple(args[0].shape), module.features, module.kernel_size[0],
                   module.strides if isinstance(module.strides, int) else module.strides[0],
                   pad)] += 1
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(functools.partial(model.init, train=False), jax.random.key(0), feats)
    return convs


def jax_fns(shape, out_channels: int, kernel: int, stride: int, pad: int):
    """Jitted forward and forward-plus-gradients of the convolution, on fixed random data."""
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape, np.float32))
    w = jnp.asarray(0.1 * rng.standard_normal((kernel, kernel, shape[-1], out_channels),
                                              np.float32))
    conv = functools.partial(_layers.conv_general_dilated, window_strides=(stride, stride),
                             padding=((pad, pad), (pad, pad)),
                             dimension_numbers=("NHWC", "HWIO", "NHWC"))
    forward = jax.jit(conv)
    g = jnp.asarray(rng.standard_normal(jax.eval_shape(conv, x, w).shape, np.float32))
    # value_and_grad: with grad alone XLA would drop the forward pass, which PyTorch runs.
    both = jax.jit(jax.value_and_grad(lambda x, w: jnp.vdot(conv(x, w), g), argnums=(0, 1)))
    return (lambda: forward(x, w)), (lambda: both(x, w))


def torch_fns(shape, out_channels: int, kernel: int, stride: int, pad: int):
    """The same convolution in PyTorch (NCHW), forward and forward plus both gradients."""
    b, h, w_, c = shape
    x = torch.randn(b, c, h, w_, requires_grad=True)
    w = (0.1 * torch.randn(out_channels, c, kernel, kernel)).requires_grad_()
    conv = functools.partial(torch.nn.functional.conv2d, stride=stride, padding=pad)
    g = torch.randn_like(conv(x, w))

    def forward():
        with torch.no_grad():
            return conv(x, w)

    def both():
        x.grad = w.grad = None
        conv(x, w).backward(g)

    return forward, both


def benchmark(*, batch: int = 32, seconds: float = 3.0, steps: int = 5) -> dict:
    """Prints ms per call of each convolution in both frameworks and the ratio of their totals;
    returns {"forward": ratio, "forward_backward": ratio}."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    config = common.load_config(REPO / CONFIG)
    config.data.clip_seconds = seconds
    rows, totals = [], collections.Counter()
    for (shape, out_channels, kernel, stride, pad), uses in resnet_convs(config, batch).items():
        spec = (shape, out_channels, kernel, stride, pad)
        (jf, jb), (tf, tb) = jax_fns(*spec), torch_fns(*spec)
        t = common.compare({"jf": jf, "jb": jb, "tf": tf, "tb": tb}, steps)
        for key, value in t.items():
            totals[key] += uses * value
        rows.append((f"{kernel}x{kernel}/{stride} {shape[-1]}->{out_channels}",
                     "x".join(map(str, shape[1:3])), uses, 1e3 * t["jf"], 1e3 * t["tf"],
                     1e3 * t["jb"], 1e3 * t["tb"], t["tb"] / t["jb"]))
    rows.append((f"all {sum(r[2] for r in rows)}, as used", "", sum(r[2] for r in rows),
                 1e3 * totals["jf"], 1e3 * totals["tf"], 1e3 * totals["jb"], 1e3 * totals["tb"],
                 totals["tb"] / totals["jb"]))
    print(f"device: {jax.devices()[0].device_kind}, torch {torch.__version__} with "
          f"{torch.get_num_threads()} threads; {CONFIG}, batch {batch} x {seconds:g} s, "
          f"median of {steps} calls")
    common.print_table(("convolution", "map", "uses", "jax fwd ms", "torch fwd ms",
                        "jax fwd+bwd ms", "torch fwd+bwd ms", "speed vs PyTorch"), rows)
    figures = {"forward": totals["tf"] / totals["jf"],
               "forward_backward": totals["tb"] / totals["jb"]}
    common.print_ratio("resnet18 convolutions, forward", "pytorch", figures["forward"])
    common.print_ratio("resnet18 convolutions, forward and backward", "pytorch",
                       figures["forward_backward"])
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    benchmark(batch=f.batch, seconds=f.seconds, steps=f.steps)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_integer("batch", 32, "Batch size of every convolution's input.")
    flags.DEFINE_float("seconds", 3.0, "Crop length, as data.clip_seconds.")
    flags.DEFINE_integer("steps", 5, "Timed calls per convolution and framework; the median.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
