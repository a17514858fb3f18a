"""The jitted step: a non-finite loss leaves the model untouched, and the losses compute what they
say."""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jax_ser.train import losses, trainer
from tests import tiny_config


def test_non_finite_batch_is_skipped_and_a_finite_one_updates():
    config = tiny_config.get_config()
    config.train.schedule, config.train.warmup_epochs = "constant", 0.0  # no zero-lr first step
    run = trainer.Trainer(config, steps_per_epoch=4)
    state = run.init()
    before = jax.device_get(state.params)
    rng = np.random.default_rng(0)
    wave = rng.normal(size=(16, run.clip_samples)).astype(np.float32)
    label = rng.integers(0, 8, 16).astype(np.int32)
    bad = wave.copy()
    bad[3, 100] = np.nan
    state, m = run.train_step(state, {"wave": run.to_global(bad), "label": run.to_global(label)})
    assert not bool(m["finite"])  # the NaN reaches the gradients through batch statistics
    assert int(state.step) == 1
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(state.params), before)
    state, m = run.train_step(state, {"wave": run.to_global(wave), "label": run.to_global(label)})
    assert bool(m["finite"])
    after = jax.device_get(state.params)
    for name in ("conv1", "fc"):
        assert not np.array_equal(after[name]["kernel"], before[name]["kernel"]), name


def test_losses_match_their_definitions():
    logits = jnp.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0]])
    labels = jnp.array([0, 2])
    ones = jnp.ones(3)
    softmax = losses.classification_loss(logits, labels, ones, 0.0, "softmax")
    expected = -np.mean([jax.nn.log_softmax(logits)[0, 0], jax.nn.log_softmax(logits)[1, 2]])
    np.testing.assert_allclose(softmax, expected, rtol=1e-6)
    sigmoid = losses.classification_loss(logits, labels, ones, 0.0, "sigmoid")
    targets = jax.nn.one_hot(labels, 3)
    np.testing.assert_allclose(
        sigmoid, optax.sigmoid_binary_cross_entropy(logits, targets).sum(-1).mean(), rtol=1e-6
    )
    # class weights: only the weighted example's loss counts when the other weighs 0
    weighted = losses.classification_loss(
        logits, labels, jnp.array([1.0, 1.0, 0.0]), 0.0, "softmax"
    )
    np.testing.assert_allclose(weighted, -jax.nn.log_softmax(logits)[0, 0], rtol=1e-6)
    for kind in ("softmax", "sigmoid"):
        np.testing.assert_allclose(losses.probabilities(logits, kind).sum(-1), 1.0, rtol=1e-6)


def test_train_accuracy_scores_a_mixed_example_against_its_larger_share():
    logits = jnp.array([[2.0, -1.0, 0.5], [0.1, 0.2, 3.0], [0.0, 1.0, 0.0]])
    np.testing.assert_allclose(losses.batch_accuracy(logits, jnp.array([0, 2, 0])), 2 / 3)
    # mixup: example 3 is 0.8 of its partner's class 1, which it is predicted as; example 2
    # is 0.6 class 0, which its logits miss
    mixed = jnp.array([[0.9, 0.1, 0.0], [0.6, 0.0, 0.4], [0.2, 0.8, 0.0]])
    np.testing.assert_allclose(losses.batch_accuracy(logits, mixed), 2 / 3)
