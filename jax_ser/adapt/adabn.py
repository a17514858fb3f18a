"""Each speaker's own BatchNorm statistics at evaluation (AdaBN, Li et al., 2016).

`adapt.bn_statistics = "speaker"`. A network trained on a few voices normalises a new voice's
activations with the running averages of its training batches, though a voice shifts them layer by
layer. Recomputing every BatchNorm layer's mean and variance over the speaker's own recordings,
without their labels, and evaluating with those, adapts each layer to the voice. As with
features.normalize=speaker, the protocol then assumes that a speaker's identity and a set of
their recordings are known at test time.

A speaker's statistics come from forward passes over their recordings in which each BatchNorm
layer normalises with the statistics of the batch it sees (padding rows masked out), so every
layer's statistics are those of activations already normalised by the speaker's statistics below
it. A speaker with more recordings than one evaluation batch takes several passes; their
statistics are pooled, weighted by the number of crops.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from jax_ser.errors import ConfigError

MODES = ("running", "speaker")
# BatchNorm statistics at evaluation and prediction: "running" (the averages of training) or
# "speaker" (each layer's mean and variance over the speaker's own recordings).
DEFAULTS = {"bn_statistics": "running"}
ORDER = 2  # last: the statistics of the network as the other methods left it


def active(config) -> bool:
    return config.adapt.bn_statistics == "speaker"


def check_config(config, variables) -> None:
    if config.adapt.bn_statistics not in MODES:
        raise ConfigError(
            f"config.adapt.bn_statistics: {config.adapt.bn_statistics!r} is not running or speaker"
        )
    if active(config) and (variables is None or "batch_stats" not in variables):
        raise ConfigError(
            f"config.adapt.bn_statistics=speaker: model {config.model.name!r} has no BatchNorm "
            "layer whose statistics could follow the speaker"
        )


def adapt(runner, speaker):
    """The speaker's state with every BatchNorm layer's statistics over their crops."""
    step = runner.compiled("adabn", lambda: jax.jit(
        statistics_step(runner), in_shardings=(runner.state_sharding, runner.data_sharding),
        out_shardings=runner.replicated))
    state = speaker.state
    parts = []
    for batch in runner.batches(speaker.crops, speaker.num_crops, speaker.stats):
        stats, count = step(state, batch)
        parts.append((stats, float(count)))
    batch_stats = jax.device_put(pool(parts), runner.state_sharding.model_state["batch_stats"])
    state = state.replace(model_state={**state.model_state, "batch_stats": batch_stats})
    return dataclasses.replace(speaker, state=state)


def statistics_step(runner):
    """step(state, batch): every BatchNorm layer's statistics over the batch's real crops, and
    how many crops that is."""

    def step(state, batch):
        k = batch["wave"].shape[1]
        mask = jnp.repeat(batch["mask"], k)
        with nn.intercept_methods(batch_statistics(mask)):
            _, updated = runner.model.apply({"params": state.params, **state.model_state},
                                            runner.eval_features(batch), train=False,
                                            mutable=["batch_stats"])
        return updated["batch_stats"], jnp.sum(mask)

    return step


def batch_statistics(mask: jax.Array):
    """A flax method interceptor: every nn.BatchNorm normalises its input with the mean and
    variance over the rows where `mask` [N] is true, and writes them to its `batch_stats`
    variables (apply the model with mutable=["batch_stats"] to get them back)."""

    def intercept(next_fun, args, kwargs, context):
        module = context.module
        if not (isinstance(module, nn.BatchNorm) and context.method_name == "__call__"):
            return next_fun(*args, **kwargs)
        if module.axis != -1 or module.axis_name is not None:
            raise ValueError(f"adapt.bn_statistics=speaker: BatchNorm {module.name} normalises "
                             f"axis {module.axis} (axis_name {module.axis_name}); only the last "
                             "axis, without axis_name, is supported")
        x = jnp.asarray(args[0], jnp.float32)
        axes = tuple(range(x.ndim - 1))
        weight = mask.astype(jnp.float32).reshape(-1, *[1] * (x.ndim - 1))
        count = jnp.maximum(jnp.sum(weight) * np.prod(x.shape[1:-1]), 1.0)
        mean = jnp.sum(x * weight, axis=axes) / count
        var = jnp.sum(jnp.square(x - mean) * weight, axis=axes) / count
        module.put_variable("batch_stats", "mean", mean)
        module.put_variable("batch_stats", "var", var)
        y = (x - mean) * jax.lax.rsqrt(var + module.epsilon)
        if module.use_scale:
            y = y * module.get_variable("params", "scale")
        if module.use_bias:
            y = y + module.get_variable("params", "bias")
        return y.astype(module.dtype or args[0].dtype)

    return intercept


def pool(parts: Sequence[tuple[dict, float]]) -> dict:
    """One `batch_stats` tree from several passes' (batch_stats, crop count): the mean and
    variance over all of their crops."""
    total = sum(count for _, count in parts)
    if not total:
        raise ValueError("speaker BatchNorm statistics need at least one recording")
    moments: dict = {}
    for stats, count in parts:
        flat = {key: np.asarray(value, np.float64)
                for key, value in traverse_util.flatten_dict(jax.device_get(stats)).items()}
        for key, value in flat.items():
            if key[-1] == "var":  # pooled as the second moment E[x^2]
                value = value + np.square(flat[(*key[:-1], "mean")])
            moments[key] = moments.get(key, 0.0) + value * (count / total)
    out = {}
    for key, value in moments.items():
        if key[-1] == "var":
            value = np.maximum(value - np.square(moments[(*key[:-1], "mean")]), 0.0)
        out[key] = value.astype(np.float32)
    return traverse_util.unflatten_dict(out)


def speaker_groups(speakers: Sequence[str]) -> dict[str, np.ndarray]:
    """{speaker: indices of their utterances}, in order of first appearance."""
    groups: dict[str, list[int]] = {}
    for i, speaker in enumerate(speakers):
        groups.setdefault(speaker, []).append(i)
    return {s: np.array(idx) for s, idx in groups.items()}
