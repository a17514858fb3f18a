"""Training recipes outside the step's maths: the weights' moving average and class-balanced
sampling."""

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.data import batches as batches_lib
from jax_ser.train import ema, trainer
from jax_ser.train import state as state_lib
from tests import tiny_config


def test_params_ema_follows_its_recursion_with_warm_up():
    decay = 0.9
    tx = optax.chain(optax.sgd(0.5), ema.params_ema(decay))
    params = {"w": jnp.array([1.0, -2.0])}
    state = tx.init(params)
    expected = params["w"]
    for t in range(30):
        grads = {"w": jnp.array([1.0 + t, 0.5])}
        updates, state = tx.update(grads, state, params)
        params = optax.apply_updates(params, updates)
        rate = min(decay, (1 + t) / (10 + t))
        expected = rate * expected + (1 - rate) * params["w"]
        np.testing.assert_allclose(state[1].ema["w"], expected, rtol=1e-6)
    assert not np.allclose(state[1].ema["w"], params["w"])  # an average, not the last weights


def test_run_evaluates_the_average_and_it_moves_once_per_update():
    """With 2 micro-batches per update, the two calls make one update and one averaging step."""
    accum = 2
    config = tiny_config.get_config()
    config.model = ml_collections.ConfigDict({"name": "mlp", "init": "random", "hidden": (16,)})
    config.train.ema_decay, config.train.grad_accum_steps = 0.5, accum
    config.train.schedule, config.train.warmup_epochs = "constant", 0.0
    run = trainer.Trainer(config, steps_per_epoch=4)
    state = run.init()
    assert ema.averaged(state).params is not state.params
    rng = np.random.default_rng(0)
    batch = {"wave": run.to_global(rng.normal(size=(16, run.clip_samples)).astype(np.float32)),
             "label": run.to_global(rng.integers(0, 8, 16).astype(np.int32))}
    first = jax.device_get(state.params)
    for _ in range(accum):
        state, _ = run.train_step(state, batch)
    second = jax.device_get(state.params)
    # One update at t = 0: rate min(0.5, 1/10), so the average is 0.1 init + 0.9 updated.
    averaged = jax.device_get(ema.averaged(state).params)
    jax.tree.map(lambda a, p0, p1: np.testing.assert_allclose(a, 0.1 * p0 + 0.9 * p1, rtol=1e-5,
                                                              atol=1e-6), averaged, first, second)
    assert not np.array_equal(averaged["hidden0"]["kernel"], second["hidden0"]["kernel"])


def test_without_ema_the_state_is_evaluated_as_it_is():
    params = {"w": jnp.ones(3)}
    state = state_lib.TrainState.create(apply_fn=None, params=params, tx=optax.adamw(1e-3),
                                    model_state={})
    assert ema.averaged(state) is state


def test_ema_decay_outside_its_range_is_named():
    config = tiny_config.get_config()
    config.train.ema_decay = 1.0
    with pytest.raises(errors.ConfigError, match="config.train.ema_decay"):
        config_lib.validate(config)


def test_class_balanced_sampling_draws_each_class_equally_often():
    labels = np.array([0] * 900 + [1] * 90 + [2] * 10, np.int32)
    order = batches_lib.epoch_order(len(labels), 50, seed=0, epoch=0, balance_labels=labels)
    assert order.shape == (20, 50)
    counts = np.bincount(labels[order.reshape(-1)], minlength=3)
    assert np.all(np.abs(counts - 1000 / 3) < 60), counts  # binomial sd ~15
    again = batches_lib.epoch_order(len(labels), 50, seed=0, epoch=0, balance_labels=labels)
    np.testing.assert_array_equal(order, again)
    other = batches_lib.epoch_order(len(labels), 50, seed=0, epoch=1, balance_labels=labels)
    assert not np.array_equal(order, other)
    plain = batches_lib.epoch_order(len(labels), 50, seed=0, epoch=0)
    assert sorted(plain.reshape(-1)) == list(range(1000))  # off: each utterance once


def test_speaker_batches_hold_one_speaker_each():
    # 3 speakers of 60, 30 and 10 utterances, batches of 32: 2, 1 and 1 batches of their own,
    # of which the epoch takes its 100 // 32 = 3 steps, as without speaker batches
    speakers = np.array([0] * 60 + [1] * 30 + [2] * 10)
    epochs = [batches_lib.epoch_order(len(speakers), 32, seed=0, epoch=e, speakers=speakers)
              for e in range(6)]
    for order in epochs:
        assert order.shape == (3, 32)
        for batch in order:
            assert len(set(speakers[batch])) == 1
            if speakers[batch[0]] == 0:  # enough utterances for a batch of distinct ones
                assert len(set(batch)) == 32
    assert {int(speakers[batch[0]]) for order in epochs for batch in order} == {0, 1, 2}
    again = batches_lib.epoch_order(len(speakers), 32, seed=0, epoch=0, speakers=speakers)
    np.testing.assert_array_equal(epochs[0], again)
    waves = [np.full(800, i, np.float32) for i in range(len(speakers))]
    batches = batches_lib.train_batches(waves, speakers.astype(np.int32), global_batch=32,
                                           clip_samples=400, seed=0, epoch=0, speakers=speakers)
    for batch in batches:
        assert len(set(speakers[batch["wave"][:, 0].astype(int)])) == 1


def test_speaker_batches_and_class_balance_do_not_go_together():
    config = tiny_config.get_config()
    config.train.speaker_batches = config.train.class_balanced_sampling = True
    with pytest.raises(errors.ConfigError, match="set one of them"):
        config_lib.validate(config)


def test_train_batches_sample_balanced_when_asked():
    labels = np.array([0] * 28 + [1] * 4, np.int32)
    waves = [np.full(800, i, np.float32) for i in range(len(labels))]
    kwargs = dict(global_batch=32, clip_samples=400, seed=0, epoch=0)
    balanced = next(batches_lib.train_batches(waves, labels, balanced=True, **kwargs))
    plain = next(batches_lib.train_batches(waves, labels, **kwargs))
    assert np.sum(plain["label"] == 1) == 4
    assert np.sum(balanced["label"] == 1) >= 10
    np.testing.assert_array_equal(balanced["label"], labels[balanced["wave"][:, 0].astype(int)])
