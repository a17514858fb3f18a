"""Each speaker's own BatchNorm statistics at evaluation (AdaBN, Li et al., 2016).

`train.bn_statistics = "speaker"`. A network trained on a few voices normalises a new voice's
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

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

MODES = ("running", "speaker")


def batch_statistics(mask: jax.Array):
    """A flax method interceptor: every nn.BatchNorm normalises its input with the mean and
    variance over the rows where `mask` [N] is true, and writes them to its `batch_stats`
    variables (apply the model with mutable=["batch_stats"] to get them back)."""

    def intercept(next_fun, args, kwargs, context):
        module = context.module
        if not (isinstance(module, nn.BatchNorm) and context.method_name == "__call__"):
            return next_fun(*args, **kwargs)
        if module.axis != -1 or module.axis_name is not None:
            raise ValueError(f"train.bn_statistics=speaker: BatchNorm {module.name} normalises "
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
