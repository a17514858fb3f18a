"""End to end: a tiny ResNet trains on generated speakers, resumes after a kill, and gives the same
losses on two simulated devices as on one."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from jax_ser.data import labels
from jax_ser.train import loop, losses
from tests.e2e import CHANCE_UA, cli_args, run_cli, tiny


def test_learns_well_above_chance(trained):
    _, results = trained
    assert results["speaker_independent"]
    assert results["test"]["ua"] > 3 * CHANCE_UA, results["test"]
    losses = [h["train_loss"] for h in results["history"]]
    assert losses[-1] < 0.8 * losses[0]


def test_workdir_holds_everything(trained):
    workdir, results = trained
    metrics = json.loads((workdir / "metrics.json").read_text())
    test = metrics["test"]
    assert test["labels"] == list(labels.task_classes("ravdess8"))
    assert set(test) >= {
        "wa",
        "ua",
        "macro_f1",
        "per_class",
        "labels",
        "confusion_matrix",
        "roc_auc",
    }
    assert np.array(test["confusion_matrix"]).sum() == test["n"] == metrics["data"]["num_test"]
    assert set(test["per_class"]["angry"]) == {"precision", "recall", "f1", "support"}
    # speaker-independent: the parts share no speaker
    parts = [set(metrics["data"][f"{p}_speakers"]) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[2] or parts[1] & parts[2] or parts[0] & parts[1])
    assert metrics["data"]["test_speakers"] == ["ravdess/01", "ravdess/02"]
    for name in ("config.json", "log.txt", "confusion_test.png", "confusion_val.png"):
        assert (workdir / name).stat().st_size > 0, name
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert (workdir / "checkpoints" / "best").is_dir()
    log = (workdir / "log.txt").read_text()
    assert "epoch 8/8" in log and "val UA" in log
    # where and with what it ran, for the results tables
    made = metrics["provenance"]
    assert made["jax"] == jax.__version__ and made["backend"] == "cpu"
    assert made["device_count"] == jax.device_count() and made["host_cores"] >= 1
    assert made["commit"] and made["host_cpu"]


def test_rerun_of_a_finished_run_does_not_train_again(trained, tiny_corpus):
    workdir, results = trained
    again = loop.train_and_evaluate(tiny(tiny_corpus, **{"train.progress_bar": False}), workdir)
    assert again["history"] == results["history"]
    assert again["test"]["ua"] == results["test"]["ua"]


def test_two_simulated_devices_give_the_same_losses(trained, tiny_corpus, tmp_path):
    """The batch split over two CPU devices (train.cpu_devices=2) computes the same step. Adam
    amplifies reduction-order differences (1e-7) to ~1e-2 within a few epochs, so the first
    epoch is compared: its 18 steps' mean loss and the validation loss of the weights they
    produce. The learning rate is still warming up then, identically for a 1-epoch and the
    reference 8-epoch run."""
    _, reference = trained
    done = run_cli(
        cli_args(tiny_corpus, tmp_path / "two", "--config.train.num_epochs=1",
                 "--config.train.cpu_devices=2"),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    two = json.loads((tmp_path / "two" / "metrics.json").read_text())
    assert len(two["devices"]) == 2 and len(reference["devices"]) == 1
    got, want = two["history"][0], reference["history"][0]
    assert got["step"] == want["step"] == 18
    np.testing.assert_allclose(got["train_loss"], want["train_loss"], rtol=1e-5)
    # The weights after 18 steps: 1.8e-5 apart on an Intel Xeon host, below 1e-5 on others.
    np.testing.assert_allclose(got["val_nll"], want["val_nll"], rtol=1e-4)


def test_early_stopping_ends_the_run_after_patience_epochs(tiny_corpus, tmp_path):
    """With a learning rate too small to move any float32 weight, and no batch statistics, the
    validation score never improves after epoch 1, so patience 2 ends the run after epoch 3."""
    config = tiny(
        tiny_corpus,
        **{
            "train.num_epochs": 8,
            "train.early_stopping_patience": 2,
            "train.learning_rate": 1e-30,
            "train.schedule": "constant",
            "train.warmup_epochs": 0.0,
            "train.progress_bar": False,
            "train.checkpoint_every_steps": 0,
        },
    )
    with config.unlocked():
        config.model = ml_collections.ConfigDict(
            dict(name="lstm_dense", init="random", hidden=8, dense=(8, 8), standardize=False)
        )
    results = loop.train_and_evaluate(config, tmp_path)
    assert results["stopped_early"] and results["epochs_run"] == 3 and results["best_epoch"] == 1
    assert len({h["val_ua"] for h in results["history"]}) == 1


def test_a_run_of_non_finite_losses_stops_training(tiny_corpus, tmp_path, monkeypatch):
    """Every loss NaN: each step is skipped, and after train.max_nan_steps of them in a row the
    run stops with an error that says what to change, instead of training on."""
    classification_loss = losses.classification_loss
    monkeypatch.setattr(losses, "classification_loss",
                        lambda *args, **kwargs: classification_loss(*args, **kwargs) * jnp.nan)
    config = tiny(tiny_corpus, **{"train.max_nan_steps": 3, "train.progress_bar": False,
                                  "train.checkpoint_every_steps": 0})
    with config.unlocked():
        config.model = ml_collections.ConfigDict(
            dict(name="lstm_dense", init="random", hidden=8, dense=(8, 8), standardize=False)
        )
    with pytest.raises(FloatingPointError, match="3 consecutive non-finite losses at step 3; "
                                                 "lower train.learning_rate"):
        loop.train_and_evaluate(config, tmp_path)
    assert not (tmp_path / "metrics.json").exists()
