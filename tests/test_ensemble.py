"""train.ensemble_size: K members in one compiled step, each training as the single run with its
seed would; saved, resumed, evaluated, re-evaluated, loaded and exported as an ensemble."""

import json

import jax
import numpy as np
import pytest

import jax_ser
from jax_ser.config import base_config
from jax_ser.data import batches, load
from jax_ser.data import labels as labels_lib
from jax_ser.errors import ConfigError
from jax_ser.evaluate import calibration, export, metrics, reevaluation, trained
from jax_ser.train import loop, trainer
from tests.e2e import tiny


def augmented(config, **keys):
    """A small CNN with BatchNorm and dropout, trained with gain, SpecAugment and mixup: every
    source of per-member randomness."""
    config.model = base_config(model=dict(name="cnn", channels=(8, 16), dropout=0.3)).model
    config.augment.gain_db = 6.0
    config.augment.spec_time_masks, config.augment.spec_time_mask_width = 2, 8
    config.augment.spec_freq_masks, config.augment.spec_freq_mask_width = 2, 4
    config.augment.mixup_alpha = 0.2
    for key, value in keys.items():
        section, field = key.split(".")
        config[section][field] = value
    return config


def test_each_member_trains_as_the_single_run_with_its_seed(tiny_corpus):
    """Both lowerings of the members (vmapped, as on a GPU; unrolled, as on a CPU)."""
    config = augmented(tiny(tiny_corpus), **{"train.ensemble_size": 3})
    config.seed = 3
    split, parts, decoded = load.load_data(config)
    waves = decoded.of(parts["train"])
    classes = labels_lib.task_classes(config.data.task)
    labels = np.array([classes.index(u.label) for u in parts["train"]], np.int32)
    clip = trainer.Trainer(config).clip_samples
    steps = 3

    def stream(seed, members=1):
        return batches.train_batches(waves, labels, global_batch=16, clip_samples=clip,
                                     seed=seed, epoch=1, members=members)

    stacked = [b for _, b in zip(range(steps), stream(3, members=3))]
    assert stacked[0]["wave"].shape == (3, 16, clip)
    losses, members = {}, {}
    for vectorize in (False, True):
        ensemble = trainer.Trainer(config, steps_per_epoch=4, vectorize=vectorize)
        state = ensemble.init()
        assert {x.shape[0] for x in jax.tree.leaves(state.params)} == {3}
        assert state.step.shape == ()
        losses[vectorize] = []
        for batch in stacked:
            state, m = ensemble.train_step(state, {k: ensemble.to_batch(v)
                                                   for k, v in batch.items()})
            losses[vectorize].append(float(m["loss"]))
        members[vectorize] = [jax.device_get(s.params) for s in ensemble.members(state)]
    single_losses = []
    for k in range(3):
        single = config.copy_and_resolve_references()
        single.seed, single.train.ensemble_size = 3 + k, 1
        run = trainer.Trainer(single, steps_per_epoch=4)
        alone = run.init()
        for i, batch in enumerate(stream(3 + k)):
            if i == steps:
                break
            for key in batch:  # member k's batches are the single run's
                np.testing.assert_array_equal(batch[key], stacked[i][key][k])
            alone, m = run.train_step(alone, {key: run.to_global(value)
                                              for key, value in batch.items()})
            single_losses.append(float(m["loss"]))
        for vectorize in (False, True):
            jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5),
                         members[vectorize][k], jax.device_get(alone.params))
    for vectorize in (False, True):  # the logged loss is the members' mean, step by step
        np.testing.assert_allclose(losses[vectorize],
                                   np.reshape(single_losses, (3, steps)).mean(0), rtol=1e-5)
    # the members differ: their seeds drew different weights and batches
    first, second = members[False][0], members[False][1]
    assert not np.allclose(first["classifier"]["kernel"], second["classifier"]["kernel"])


def test_an_ensemble_run_reports_its_members_and_loads_as_an_ensemble(tiny_corpus, tmp_path):
    config = tiny(tiny_corpus, **{"train.ensemble_size": 2, "train.num_epochs": 2,
                                  "train.progress_bar": False})
    config.model = base_config(model=dict(name="cnn", channels=(8, 16))).model
    results = loop.train_and_evaluate(config, tmp_path)
    temperature = results["calibration"]["temperature"]  # fitted on the members' mean
    assert abs(temperature - 1) > 0.05  # else calibrating each member would go unnoticed
    assert results["model"]["ensemble_size"] == 2 and results["model"]["seeds"] == [0, 1]
    assert [m["seed"] for m in results["members"]] == [0, 1]
    assert all(0 <= m["test"]["ua"] <= 1 and "val" in m for m in results["members"])
    assert json.loads((tmp_path / "metrics.json").read_text())["members"] == results["members"]
    # the stacked train state restores from `latest`: run again, it resumes at the end
    again = loop.train_and_evaluate(config, tmp_path)
    assert again["members"] == results["members"] and again["test"] == results["test"]

    model = jax_ser.load(tmp_path)
    assert len(model.members) == 2 and [m.member for m in model.members] == [0, 1]
    lines = [json.loads(x) for x in (tmp_path / "predictions_test.jsonl").read_text().splitlines()]
    _, parts, decoded = load.load_data(config)
    ensemble = model.probs(decoded.of(parts["test"]))
    expected = np.array([[line["probs"][c] for c in model.labels] for line in lines])
    # the run's test predictions (written before calibration), calibrated after the mean
    np.testing.assert_allclose(ensemble, calibration.apply_temperature(expected, temperature),
                               atol=1e-5)
    members = [m.probs(decoded.of(parts["test"])) for m in model.members]
    assert not np.allclose(members[0], members[1])
    for member, row in zip(members, results["members"]):  # each member's reported UA
        targets = [model.labels.index(u.label) for u in parts["test"]]
        report = metrics.classification_report(np.array(targets), member, model.labels)
        assert report["ua"] == pytest.approx(row["test"]["ua"], abs=1e-6)
    with pytest.raises(ValueError, match="2 trained member"):
        trained.Trained(tmp_path)
    # exported, the members average inside the SavedModel as jax_ser.load averages them
    import soundfile as sf
    import tensorflow as tf

    info = export.export(model.members, None, tmp_path / "exported")
    assert [m["member"] for m in info["members"]] == [0, 1]
    raw = sf.read(parts["test"][0].path, dtype="float32")[0]
    saved = tf.saved_model.load(str(tmp_path / "exported"))
    got = saved.signatures["serving_default"](waveform=tf.constant(raw[None]))
    np.testing.assert_allclose(got["probabilities"].numpy()[0],
                               model.probs([model.members[0].preprocess(raw)])[0], atol=2e-5)
    # re-evaluation labels with every member: unchanged, it scores as training did
    scores, rescored = reevaluation.rescore(tmp_path, {})
    assert scores["ua"] == pytest.approx(results["test"]["ua"], abs=1e-6)
    for line in lines:
        np.testing.assert_allclose(list(rescored[line["path"]]["probs"].values()),
                                   list(line["probs"].values()), atol=1e-5)


def test_classical_models_refuse_an_ensemble_size():
    from jax_ser.train import check_config

    config = base_config(model=dict(name="classical"))
    config.train.ensemble_size = 2
    with pytest.raises(ConfigError, match="ensemble_size"):
        check_config(config)
    config.train.ensemble_size = 0
    with pytest.raises(ConfigError, match="ensemble_size must be positive"):
        check_config(config)
