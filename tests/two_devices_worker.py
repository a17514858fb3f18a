"""The CPU chunked loops and the LSTM on a batch split over two devices, run by
tests/test_layers.py in a process with two CPU devices (`JAX_NUM_CPU_DEVICES=2 python -m
tests.two_devices_worker OUT`): writes to OUT.json what each split computes, against the same
maths on an unsplit batch, and whether XLA gathered the batch onto every device to compute it."""

import json
import sys

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jax_ser import frontend
from jax_ser.models import _layers, lstm


def kernel_grads(mesh):
    """The chunked kernel gradient of a 3x3 convolution on 32 examples split over the devices,
    and XLA's on the whole batch."""
    x = jax.random.normal(jax.random.key(0), (32, 20, 16, 3))
    weights = jax.random.normal(jax.random.key(2), (32, 20, 16, 4))

    def grad(fn):
        module = nn.Conv(4, (3, 3), padding=1, use_bias=False, conv_general_dilated=fn)
        params = module.init(jax.random.key(1), x[:1])
        return jax.jit(jax.grad(lambda p, x: jnp.sum(module.apply(p, x) * weights)),
                       in_shardings=(None, NamedSharding(mesh, P("data")))), params

    ours, params = grad(_layers.conv_general_dilated)
    theirs, _ = grad(jax.lax.conv_general_dilated)
    return (ours(params, x)["params"]["kernel"], theirs(params, x)["params"]["kernel"],
            ours.lower(params, x).compile().as_text())


def log_mels(mesh, normalize: str):
    """Log-mel features of 32 clips split over the devices (frontend.compute with the mesh)
    and of the whole batch on one; normalize=speaker also passes each clip's statistics."""
    config = {"name": "log_mel", "sample_rate": 16000, "n_fft": 512, "hop_length": 160,
              "n_mels": 40, "normalize": normalize}
    waves = np.asarray(jax.random.normal(jax.random.key(3), (32, 8000)))
    stats = None
    if normalize == "speaker":
        stats = np.stack([np.full(40, -30.0), np.full(40, 10.0)])[None].repeat(32, 0)
        stats = stats.astype(np.float32)
    batch = NamedSharding(mesh, P("data"))
    split = jax.jit(lambda w, s: frontend.compute(w, config, s, mesh=mesh),
                    in_shardings=(batch, None if stats is None else batch))
    return (split(waves, stats), frontend.compute(waves, config, stats),
            split.lower(waves, stats).compile().as_text())


def lstm_grads(mesh):
    """Gradients of a bidirectional LSTM layer (jax_ser.models.lstm) with respect to its
    parameters and inputs, on 32 sequences split over the devices and on the whole batch."""
    x = jax.random.normal(jax.random.key(4), (32, 10, 6))
    params = [tuple(0.3 * jax.random.normal(k, shape) for k, shape in
                    zip(jax.random.split(jax.random.key(5 + d), 3), ((6, 16), (4, 16), (16,))))
              for d in range(2)]
    grad = jax.grad(lambda p, x: sum(jnp.sum(jnp.sin(h)) for h in
                                     lstm.lstm(x, p, reverse=(False, True))), argnums=(0, 1))
    split = jax.jit(grad, in_shardings=(None, NamedSharding(mesh, P("data"))))
    errors = jax.tree.map(lambda a, b: float(jnp.abs(a - b).max() / jnp.abs(b).max()),
                          split(params, x), jax.jit(grad)(params, x))
    return max(jax.tree.leaves(errors)), split.lower(params, x).compile().as_text()


def main(out: str):
    mesh = jax.make_mesh((jax.device_count(),), ("data",),
                         axis_types=(jax.sharding.AxisType.Auto,))  # as the trainer's
    ours, theirs, hlo = kernel_grads(mesh)
    features = {}
    for normalize in ("utterance", "speaker"):
        feats, whole, feats_hlo = log_mels(mesh, normalize)
        features[normalize] = {"error": float(jnp.abs(feats - whole).max()),
                               "gathers": "all-gather" in feats_hlo}
    chunks = np.asarray(_layers._chunks(jnp.arange(32), 8)).tolist()
    lstm_error, lstm_hlo = lstm_grads(mesh)
    json.dump({"devices": jax.device_count(), "chunks": chunks,
               "kernel_grad_error": float(jnp.abs(ours - theirs).max() / jnp.abs(theirs).max()),
               "kernel_grad_gathers": "all-gather" in hlo, "features": features,
               "lstm_grad_error": lstm_error, "lstm_gathers": "all-gather" in lstm_hlo},
              open(out, "w"))


if __name__ == "__main__":
    main(sys.argv[1])
