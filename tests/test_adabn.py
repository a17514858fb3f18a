"""Each speaker's own BatchNorm statistics at evaluation (adapt.bn_statistics=speaker,
jax_ser.adapt.adabn): the statistics are those of the speaker's real crops, layer after layer, and a
speaker's probabilities depend on their own recordings alone."""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.adapt import adabn
from jax_ser.evaluate import runner
from tests.e2e import tiny


class TwoLayers(nn.Module):
    @nn.compact
    def __call__(self, x, train: bool = False):
        x = nn.BatchNorm(use_running_average=not train, name="bn_in")(x)
        x = nn.Dense(5)(x)
        return nn.BatchNorm(use_running_average=not train, use_scale=False, name="bn_out")(x)


def _masked(x, mask):
    rows = np.asarray(x, np.float64)[np.asarray(mask)].reshape(-1, x.shape[-1])
    return rows.mean(0), rows.var(0)


def test_batch_statistics_are_those_of_the_real_rows_layer_after_layer():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(3.0, 2.0, size=(6, 7, 4)), jnp.float32)
    mask = jnp.array([True, True, False, True, True, False])
    model = TwoLayers()
    variables = model.init(jax.random.key(0), x)
    variables = {"params": variables["params"], "batch_stats": jax.tree.map(
        lambda v: v + 0.5, variables["batch_stats"])}  # running averages far from the batch's
    with nn.intercept_methods(adabn.batch_statistics(mask)):
        y, updated = model.apply(variables, x, mutable=["batch_stats"])
    stats = updated["batch_stats"]
    mean, var = _masked(x, mask)
    np.testing.assert_allclose(stats["bn_in"]["mean"], mean, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(stats["bn_in"]["var"], var, rtol=1e-5)
    # the second layer's statistics are those of activations normalised by the first's
    normed = (np.asarray(x) - mean) / np.sqrt(var + 1e-5)
    dense = variables["params"]["Dense_0"]
    hidden = normed @ np.asarray(dense["kernel"]) + np.asarray(dense["bias"])
    mean2, var2 = _masked(hidden, mask)
    np.testing.assert_allclose(stats["bn_out"]["mean"], mean2, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(stats["bn_out"]["var"], var2, rtol=1e-4)
    # evaluating with those statistics as running averages gives the same outputs
    again = model.apply({"params": variables["params"], "batch_stats": stats}, x)
    np.testing.assert_allclose(np.asarray(y)[np.asarray(mask)], np.asarray(again)[np.asarray(mask)],
                               rtol=1e-4, atol=1e-4)


def test_pooled_statistics_equal_those_of_all_rows():
    rng = np.random.default_rng(1)
    a, b = rng.normal(1.0, 1.0, size=(5, 3)), rng.normal(-2.0, 3.0, size=(11, 3))
    part = lambda x: ({"bn": {"mean": x.mean(0), "var": x.var(0)}}, len(x))
    pooled = adabn.pool([part(a), part(b)])
    both = np.concatenate([a, b])
    np.testing.assert_allclose(pooled["bn"]["mean"], both.mean(0), rtol=1e-5)
    np.testing.assert_allclose(pooled["bn"]["var"], both.var(0), rtol=1e-5)
    with pytest.raises(ValueError, match="at least one recording"):
        adabn.pool([])


@pytest.fixture(scope="module")
def resnet_run(tiny_corpus):
    config = tiny(tiny_corpus, **{"adapt.bn_statistics": "speaker", "eval.batch_size": 8})
    run = runner.Runner(config)
    state = run.init()
    rng = np.random.default_rng(2)
    waves = [rng.normal(size=int(n)).astype(np.float32) * s
             for n, s in zip(rng.integers(8000, 30000, size=9), [0.1, 0.5, 1.0] * 3)]
    return run, state, waves


def test_speaker_probabilities_depend_on_their_own_recordings_alone(resnet_run):
    run, state, waves = resnet_run
    speakers = ["a", "b", "a", "c", "b", "a", "c", "c", "b"]
    probs = run.probs(state, waves, speakers=speakers)
    assert probs.shape == (9, 8)
    np.testing.assert_allclose(probs.sum(1), 1, rtol=1e-5)
    a = [i for i, s in enumerate(speakers) if s == "a"]
    alone = run.probs(state, [waves[i] for i in a], speakers=["a"] * len(a))
    np.testing.assert_allclose(probs[a], alone, rtol=1e-4, atol=1e-6)
    adapted = run.adapt(state, [waves[i] for i in a]).state
    np.testing.assert_allclose(run.probs(adapted, [waves[i] for i in a]), alone,
                               rtol=1e-4, atol=1e-6)
    # the running averages of a fresh model give other probabilities
    running = run.probs(state, waves)
    assert np.abs(running - probs).max() > 1e-3


def test_padding_rows_do_not_count(resnet_run):
    """Three recordings in a batch of 8 (5 padding rows) or 4 (1): the same statistics."""
    run, state, waves = resnet_run
    some = waves[:3]
    config = run.config.copy_and_resolve_references()
    config.eval.batch_size = 4
    small = runner.Runner(config)
    first = jax.device_get(run.adapt(state, some).state.model_state["batch_stats"])
    same = small.init().replace(params=state.params, model_state=state.model_state)
    second = jax.device_get(small.adapt(same, some).state.model_state["batch_stats"])
    jax.tree.map(lambda x, y: np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5),
                 first, second)


@pytest.mark.parametrize("model, value, message", [
    ("resnet", "speakers", "is not running or speaker"),
    ("bilstm", "speaker", "model 'bilstm' has no BatchNorm"),
    ("classical", "speaker", "model 'classical' has no BatchNorm"),
])
def test_config_errors(model, value, message, tiny_corpus):
    config = config_lib.base_config(model={"name": model})
    config.data.corpus, config.data.root = "ravdess", str(tiny_corpus)
    config.adapt.bn_statistics = value
    with pytest.raises(errors.ConfigError, match=message):
        config_lib.validate(config)
