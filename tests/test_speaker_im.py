"""Information maximisation per speaker (adapt.speaker_im_steps): the loss, which parameters it
moves, and that each speaker is fitted from the trained weights alone."""

import flax.linen as nn
import jax
import numpy as np
import pytest
from flax import traverse_util

from jax_ser import config as config_lib
from jax_ser import errors, frontend
from jax_ser.adapt import adabn, speaker_im
from jax_ser.data import precomputed
from jax_ser.evaluate import runner
from tests.e2e import tiny


def test_loss_rewards_confident_predictions_spread_over_the_classes():
    eye = 20.0 * np.eye(4, dtype=np.float32)
    mask = np.ones(4, bool)
    spread = float(speaker_im.information_loss(eye, mask))
    collapsed = float(speaker_im.information_loss(np.tile(eye[:1], (4, 1)), mask))
    unsure = float(speaker_im.information_loss(np.zeros((4, 4), np.float32), mask))
    assert spread == pytest.approx(-np.log(4), abs=1e-4)
    assert collapsed == pytest.approx(0.0, abs=1e-4) and unsure == pytest.approx(0.0, abs=1e-4)
    # padding rows count for nothing, whatever their logits
    padded = np.concatenate([eye, np.tile(eye[:1], (3, 1))])
    assert float(speaker_im.information_loss(padded, np.arange(7) < 4)) == pytest.approx(spread)


@pytest.fixture(scope="module")
def im_run(tiny_corpus):
    config = tiny(tiny_corpus, **{"adapt.bn_statistics": "speaker", "eval.batch_size": 8,
                                  "adapt.speaker_im_steps": 4, "adapt.speaker_im_lr": 1e-2})
    run = runner.Runner(config)
    state = run.init()
    rng = np.random.default_rng(3)
    waves = [rng.normal(size=int(n)).astype(np.float32) * s
             for n, s in zip(rng.integers(8000, 30000, size=10), [0.1, 0.5, 1.0, 2.0, 0.3] * 2)]
    return run, state, waves


def im_loss(run, state, waves):
    """The information loss of `state` on `waves` (one batch), each BatchNorm layer normalising
    with their statistics: what the fitting lowers."""
    batch = next(iter(run.batches(waves, None, None)))
    mask = batch["mask"]
    feats = frontend.compute(batch["wave"][:, 0], precomputed.feature_config(run.config))
    with nn.intercept_methods(adabn.batch_statistics(mask)):
        logits, _ = run.model.apply({"params": state.params, **state.model_state}, feats,
                                    train=False, mutable=["batch_stats"])
    return float(speaker_im.information_loss(logits, mask))


def test_only_batchnorm_scales_and_biases_move_and_the_loss_falls(im_run):
    run, state, waves = im_run
    some = waves[:6]  # one batch of 8 with 2 padding rows
    adapted = run.adapt(state, some).state
    before = traverse_util.flatten_dict(jax.device_get(state.params))
    after = traverse_util.flatten_dict(jax.device_get(adapted.params))
    keys = set(speaker_im.affine_keys(state.params, state.model_state["batch_stats"]))
    assert keys and all(k[-1] in ("scale", "bias") for k in keys)
    assert len(keys) == 2 * len({k[:-1] for k in traverse_util.flatten_dict(
        state.model_state["batch_stats"])})
    for key, value in before.items():
        if key in keys:
            continue
        np.testing.assert_array_equal(after[key], value, err_msg=str(key))
    assert max(np.abs(after[k] - before[k]).max() for k in keys) > 1e-3
    assert im_loss(run, adapted, some) < im_loss(run, state, some)
    # deterministic, and the trained state is left as it was
    again = traverse_util.flatten_dict(jax.device_get(run.adapt(state, some).state.params))
    for key in keys:
        np.testing.assert_array_equal(again[key], after[key])
    np.testing.assert_array_equal(
        traverse_util.flatten_dict(jax.device_get(state.params))[sorted(keys)[0]],
        before[sorted(keys)[0]])


def test_each_speaker_is_fitted_from_the_trained_weights(im_run):
    run, state, waves = im_run
    speakers = ["a", "b"] * 5
    probs = run.probs(state, waves, speakers=speakers)
    b = [i for i, s in enumerate(speakers) if s == "b"]
    alone = run.probs(state, [waves[i] for i in b], speakers=["b"] * len(b))
    np.testing.assert_allclose(probs[b], alone, rtol=1e-4, atol=1e-6)
    off = run.config.copy_and_resolve_references()
    off.adapt.speaker_im_steps = 0
    other = runner.Runner(off)
    same = other.init().replace(params=state.params, model_state=state.model_state)
    plain = other.probs(same, waves, speakers=speakers)
    assert np.abs(plain - probs).max() > 1e-3


def test_config_errors(tiny_corpus):
    config = tiny(tiny_corpus, **{"adapt.speaker_im_steps": 5})
    with pytest.raises(errors.ConfigError, match="set config.adapt.bn_statistics=speaker"):
        config_lib.validate(config)
    config = tiny(tiny_corpus, **{"adapt.speaker_im_steps": -1,
                                  "adapt.bn_statistics": "speaker"})
    with pytest.raises(errors.ConfigError, match="speaker_im_steps must be >= 0"):
        config_lib.validate(config)
