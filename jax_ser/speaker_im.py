"""Each test speaker's BatchNorm scales and biases fitted to their recordings, without labels.

`train.speaker_im_steps = K` (with `train.bn_statistics = "speaker"`). AdaBN (jax_ser/adabn.py)
gives every BatchNorm layer the speaker's own mean and variance; this goes one step further:
K Adam steps on the BatchNorm scales and biases alone, on the speaker's recordings, make the
model's predictions on them confident (low mean entropy) and spread over the classes (high
entropy of their mean): the information maximisation loss of SHOT (Liang et al., 2020), applied
to one speaker at a time as TENT (Wang et al., 2021) applies entropy minimisation to one test
batch. Every speaker starts again from the trained weights, and the BatchNorm statistics are
then those of the fitted network. The second term assumes that the speaker's recordings span
the classes, as their AdaBN statistics already do.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax
from flax import traverse_util


def optimizer(train_config) -> optax.GradientTransformation:
    """The optimizer of the fitting: the jitted step updates with it and its state starts
    from it, so both follow this one definition."""
    return optax.adam(train_config.speaker_im_lr)


def affine_keys(params: dict, batch_stats: dict) -> list[tuple[str, ...]]:
    """The flattened keys of every BatchNorm layer's scale and bias: the parameters of the
    modules that keep batch statistics."""
    norms = {key[:-1] for key in traverse_util.flatten_dict(batch_stats)}
    return [key for key in traverse_util.flatten_dict(params)
            if key[:-1] in norms and key[-1] in ("scale", "bias")]


def information_loss(logits: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean prediction entropy minus the entropy of the mean prediction, over the rows where
    `mask` [N] is true (padding rows count for nothing)."""
    weight = mask.astype(jnp.float32)[:, None] / jnp.maximum(jnp.sum(mask), 1)
    log_p = jax.nn.log_softmax(logits.astype(jnp.float32))
    p = jnp.exp(log_p)
    mean_entropy = -jnp.sum(weight * p * log_p)
    marginal = jnp.sum(weight * p, axis=0)
    return mean_entropy + jnp.sum(marginal * jnp.log(marginal + 1e-8))
