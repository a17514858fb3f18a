"""The train state and how it lies on the devices: a (data, fsdp) mesh, the batch split over
every device, large arrays of the state split over the `fsdp` axis (train.fsdp)."""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import jax
import jax.numpy as jnp
from flax.training import train_state
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jax_ser import frontend
from jax_ser.errors import ConfigError
from jax_ser.frontend import features

log = logging.getLogger(__name__)


class TrainState(train_state.TrainState):
    model_state: Any  # non-parameter collections, e.g. batch_stats


def init_state(config, model, tx, input_shape: tuple[int, ...], feature_config: dict,
               seed: int | None = None) -> TrainState:
    """Fresh weights of `model` for inputs of `input_shape`, with optimizer `tx`, drawn from
    `seed` (default config.seed)."""
    identity = jnp.stack([jnp.zeros(features.num_features(feature_config)),
                          jnp.ones(features.num_features(feature_config))])[None]
    feats = frontend.compute(jnp.zeros((1, *input_shape), jnp.float32), feature_config, identity)
    key = jax.random.PRNGKey(config.seed if seed is None else seed)
    variables = dict(model.init({"params": key, "dropout": key}, feats, train=False))
    params = variables.pop("params")
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx, model_state=variables)


# An ensemble's state (train.ensemble_size) stacks its members' arrays on a leading axis; the step
# count stays one scalar, as all members take every step together.
STACKED = ("params", "opt_state", "model_state")


def stack(states: list[TrainState]) -> TrainState:
    """One ensemble state from its members' states."""
    return states[0].replace(**{f: jax.tree.map(lambda *xs: jnp.stack(xs),
                                                *[getattr(s, f) for s in states])
                                for f in STACKED})


def member(state: TrainState, k: int) -> TrainState:
    """Member `k` of an ensemble state, as a single run's state."""
    return state.replace(**{f: jax.tree.map(lambda x: x[k], getattr(state, f)) for f in STACKED})


def ensemble_sharding(mesh, abstract_state, fsdp: int):
    """`state_sharding` of an ensemble state: each member's arrays as a single run's, the
    members' axis whole on every device."""
    spec = lambda x: P(None, *fsdp_spec(x.shape[1:], fsdp)) if x.shape else P()
    return jax.tree.map(lambda x: NamedSharding(mesh, spec(x)), abstract_state)


# FSDP leaves smaller arrays whole: gathering them would cost more than storing them saves.
FSDP_MIN_SIZE = 2**16


def fsdp_spec(shape: tuple[int, ...], fsdp: int) -> P:
    """Split a train-state array of at least FSDP_MIN_SIZE elements `fsdp` ways over the `fsdp`
    mesh axis, along its largest dimension that `fsdp` divides; replicate the rest. Optimizer
    moments have their parameter's shape, so they are split the same way."""
    if fsdp > 1 and math.prod(shape) >= FSDP_MIN_SIZE:
        for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
            if shape[dim] % fsdp == 0:
                return P(*["fsdp" if d == dim else None for d in range(len(shape))])
    return P()


# train.cpu_devices=0 gives each CPU device at least this many examples of a micro-batch: with
# fewer, ResNet18's step on two devices was slower than on one.
MIN_EXAMPLES_PER_CPU_DEVICE = 8


def cpu_devices(config, cores: int | None = None) -> int:
    """The CPU devices config.train.cpu_devices asks for on `cores` cores (default: those this
    process may use): 0 picks the most, up to one per core, that split a micro-batch evenly with
    at least MIN_EXAMPLES_PER_CPU_DEVICE examples each."""
    tc = config.train
    if not (isinstance(tc.cpu_devices, int) and tc.cpu_devices >= 0):
        raise ConfigError(f"config.train.cpu_devices must be a whole number >= 0 (0 = one per "
                          f"core), got {tc.cpu_devices!r}")
    if tc.cpu_devices:
        return tc.cpu_devices
    micro = tc.batch_size // tc.grad_accum_steps
    cores = len(os.sched_getaffinity(0)) if cores is None else cores
    return max(d for d in range(1, cores + 1)
               if micro % d == 0 and (d == 1 or micro // d >= MIN_EXAMPLES_PER_CPU_DEVICE))


def use_cpu_devices(config) -> None:
    """Give JAX cpu_devices(config) CPU devices. Programs call it before any JAX operation;
    JAX_NUM_CPU_DEVICES or a device count in XLA_FLAGS, where set, stand."""
    wanted = cpu_devices(config)
    if ("JAX_NUM_CPU_DEVICES" in os.environ
            or "xla_force_host_platform_device_count" in os.environ.get("XLA_FLAGS", "")):
        return
    try:
        jax.config.update("jax_num_cpu_devices", wanted)
    except RuntimeError:  # JAX has started (a caller ran an operation first): keep its devices
        log.warning("train.cpu_devices=%d not applied: JAX had already started",
                    config.train.cpu_devices)


def make_mesh(fsdp: int) -> jax.sharding.Mesh:
    """All devices as a (devices / fsdp, fsdp) mesh of axes ("data", "fsdp")."""
    if jax.device_count() % fsdp:
        raise ConfigError(f"config.train.fsdp={fsdp} must divide the {jax.device_count()} devices")
    return jax.make_mesh(
        (jax.device_count() // fsdp, fsdp),
        ("data", "fsdp"),
        axis_types=(jax.sharding.AxisType.Auto,) * 2,
    )


def state_sharding(mesh, abstract_state, fsdp: int):
    """Each array of the train state split by `fsdp_spec`."""
    return jax.tree.map(lambda x: NamedSharding(mesh, fsdp_spec(x.shape, fsdp)), abstract_state)
