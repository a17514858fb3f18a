"""Each test speaker's BatchNorm scales and biases fitted to their recordings, without labels.

`adapt.speaker_im_steps = K` (with `adapt.bn_statistics = "speaker"`). AdaBN (adabn.py)
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

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import optax
from flax import traverse_util

from jax_ser.adapt import adabn
from jax_ser.errors import ConfigError

# Adam steps fitting every BatchNorm scale and bias to each speaker's recordings (0 = off), and
# their learning rate.
DEFAULTS = {"speaker_im_steps": 0, "speaker_im_lr": 3e-3}
ORDER = 1  # after the feature statistics, before the BatchNorm statistics are taken


def active(config) -> bool:
    return config.adapt.speaker_im_steps > 0


def check_config(config, variables) -> None:
    if config.adapt.speaker_im_steps < 0 or config.adapt.speaker_im_lr <= 0:
        raise ConfigError("config.adapt.speaker_im_steps must be >= 0 and speaker_im_lr > 0")
    if active(config) and config.adapt.bn_statistics != "speaker":
        raise ConfigError("config.adapt.speaker_im_steps fits BatchNorm layers to each speaker's "
                          "statistics: set config.adapt.bn_statistics=speaker too")


def optimizer(adapt_config) -> optax.GradientTransformation:
    """The optimizer of the fitting: the jitted step updates with it and its state starts
    from it, so both follow this one definition."""
    return optax.adam(adapt_config.speaker_im_lr)


def adapt(runner, speaker):
    """The speaker's state with its BatchNorm scales and biases fitted to their crops."""
    tx = optimizer(runner.config.adapt)
    step = runner.compiled("speaker_im", lambda: jax.jit(fitting_step(runner, tx)))
    state = speaker.state
    batches = list(runner.batches(speaker.crops, speaker.num_crops, speaker.stats))
    flat = traverse_util.flatten_dict(state.params)
    affine = {key: flat[key] for key in affine_keys(state.params,
                                                     state.model_state["batch_stats"])}
    opt_state = tx.init(affine)
    for _ in range(runner.config.adapt.speaker_im_steps):
        for batch in batches:
            affine, opt_state = step(state, affine, opt_state, batch)
    params = traverse_util.unflatten_dict({**flat, **affine})
    state = state.replace(params=jax.device_put(params, runner.state_sharding.params))
    return dataclasses.replace(speaker, state=state)


def fitting_step(runner, tx):
    """step(state, affine, opt_state, batch): one update of the BatchNorm scales and biases
    `affine` {flat key: array} on the batch, each layer normalising with the batch's statistics."""

    def step(state, affine, opt_state, batch):
        k = batch["wave"].shape[1]
        mask = jnp.repeat(batch["mask"], k)
        feats = runner.eval_features(batch)
        rest = traverse_util.flatten_dict(state.params)

        def loss_fn(affine):
            params = traverse_util.unflatten_dict({**rest, **affine})
            with nn.intercept_methods(adabn.batch_statistics(mask)):
                logits, _ = runner.model.apply({"params": params, **state.model_state}, feats,
                                               train=False, mutable=["batch_stats"])
            return information_loss(logits, mask)

        grads = jax.grad(loss_fn)(affine)
        updates, opt_state = tx.update(grads, opt_state, affine)
        return optax.apply_updates(affine, updates), opt_state

    return step


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
