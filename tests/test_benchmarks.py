"""The speed benchmarks run end to end at tiny sizes and print their figures: a test of the
benchmark code, not of speed. The PyTorch reference recipe cross-validates a tiny corpus."""

import csv
import json
import math

import jax
import numpy as np
import pytest
import torch

from benchmarks import (
    common,
    cpu_layers_speed,
    ensemble_speed,
    features_speed,
    input_pipeline_speed,
    predict_speed,
    recipe_speed,
    reference_recipe,
    torch_models,
    train_step_speed,
)
from jax_ser import protocols as splits
from jax_ser.config import ConfigError, base_config, validate
from jax_ser.data import load, synthetic
from jax_ser.evaluate import runner
from jax_ser.train import state as state_lib


def assert_positive(figures: dict) -> None:
    for name, value in figures.items():
        assert math.isfinite(value) and value > 0, (name, value)


def tiny_mlp_config():
    """A model that compiles in a second: the pipeline and prediction benchmarks take any."""
    config = base_config(model=dict(name="mlp", hidden=(16,)))
    config.data.clip_seconds = 0.5
    config.train.batch_size = 4
    config.eval.batch_size = 8
    config.train.progress_bar = False
    return config


def test_features_speed(capsys):
    figures = features_speed.benchmark(batch=2, seconds=0.5, repeats=1)
    assert set(figures) == {"log_mel", "mfcc"}
    for f in figures.values():
        assert_positive(f)
    out = capsys.readouterr().out
    assert "log_mel: ratio jax_ser/librosa: " in out and "mfcc: ratio jax_ser/librosa: " in out


def test_cpu_layers_speed(capsys):
    """The CNN's step with the CPU-fast pooling and with flax's: same first loss (checked inside),
    both timed."""
    figures = cpu_layers_speed.benchmark(batch=2, seconds=0.5, steps=1, models=("cnn",))
    assert_positive(figures["cnn"])
    assert "cnn: ratio jax_ser/flax_ops: " in capsys.readouterr().out


def test_ensemble_speed(capsys):
    epochs = ensemble_speed.benchmark(tiny_mlp_config(), sizes=(1, 2), epoch_clips=8, repeats=1)
    assert set(epochs) == {1, 2}
    assert_positive(epochs)
    assert "ensemble K=2: ratio time/epoch K=2 / K=1: " in capsys.readouterr().out


def test_recipe_speed_trains_both_an_epoch_in_turns(tiny_corpus, capsys):
    """The recipe on a small BiLSTM (a ResNet18 step takes a minute to compile here)."""
    config = reference_recipe.recipe_config()
    config.model = base_config(model=dict(name="bilstm", hidden=16, num_layers=1,
                                             dropout=0.0)).model
    config.features.n_mels, config.data.clip_seconds = 32, 0.5
    config.data.root, config.data.fold_size, config.data.val_speakers = str(tiny_corpus), 2, 1
    rates = recipe_speed.benchmark(config, epochs=1)
    assert set(rates) == {"jax_ser", "pytorch"}
    assert_positive(rates)
    assert "training epoch: ratio jax_ser/pytorch: " in capsys.readouterr().out


def test_train_step_speed(capsys):
    """The whole comparison on the BiLSTM (the ResNet18's jitted step takes a minute to compile
    on a 2-core CPU; its twin is checked below)."""
    figures = train_step_speed.benchmark(batch=2, seconds=0.5, steps=1, models=("bilstm",))
    assert_positive(figures["bilstm"])
    # nn.LSTM's second bias vector: 4 gates x 128 units in each of 2 layers x 2 directions.
    assert figures["bilstm"]["torch_params"] - figures["bilstm"]["jax_params"] == 4 * 128 * 4
    assert "bilstm: ratio jax_ser/pytorch: " in capsys.readouterr().out


def test_torch_resnet18_twin_has_jax_sers_parameters_and_trains():
    config = common.load_config(train_step_speed.REPO / train_step_speed.CONFIGS["resnet18"])
    config.data.clip_seconds = 0.5
    run = runner.Runner(config)
    abstract = jax.eval_shape(lambda: state_lib.init_state(config, run.model, run.tx,
                                                           run.input_shape, run.feature_config))
    model = torch_models.torch_model(config, len(run.class_names))
    assert (sum(p.numel() for p in model.parameters())
            == sum(x.size for x in jax.tree.leaves(abstract.params)))
    waves = common.speech_clips(2, 0.5)
    step = train_step_speed.torch_step_fn(config, model, waves, np.array([0, 1], np.int32))
    assert math.isfinite(step())


def test_input_pipeline_speed(tmp_path, capsys):
    synthetic.generate(tmp_path / "corpus", num_speakers=2)
    config = tiny_mlp_config()
    config.data.root = str(tmp_path / "corpus")
    config.data.split = "final"
    config.data.val_speakers = 1
    config.data.data_dir = str(tmp_path / "tfds")
    figures = input_pipeline_speed.benchmark(config, steps=2, step_repeats=2, spawn=False)
    assert_positive({"train_step": figures["train_step"], "per_core": figures["per_core"],
                     **{f"{s}_{k}": figures[s][k] for s in ("folders", "tfds")
                        for k in ("startup_s", "samples_per_s", "peak_gb")}})
    assert figures["folders"]["train_utterances"] == figures["tfds"]["train_utterances"] == 60
    out = capsys.readouterr().out
    assert "tfds pipeline: ratio jax_ser/folders: " in out
    assert "tfds pipeline: ratio jax_ser/train_step: " in out


def test_predict_speed_labels_files_and_a_long_recording(capsys):
    figures = predict_speed.benchmark({"tiny": tiny_mlp_config()}, files=3, minutes=0.2,
                                      reference_files=2)["tiny"]
    assert figures["segments"] >= 1 and 0 < figures["speech_s"] < figures["recording_s"]
    assert_positive({k: v for k, v in figures.items()
                     if k not in ("adapts", "adapt_s_per_speaker")})
    out = capsys.readouterr().out
    assert "tiny: ratio jax_ser/one_file_per_call: " in out and "tiny: RTF: " in out


def test_reference_recipe_is_the_issues_recipe(tiny_corpus):
    """Issue #6's numbers, and the half-width ResNet18 twin at jax_ser's 2,797,800 parameters."""
    config = reference_recipe.recipe_config()
    config.data.root = str(tiny_corpus)
    validate(config)  # e.g. the masks fit a 3 s crop's frames and bins
    assert (config.data.task, config.data.fold_size, config.data.val_speakers) == ("ravdess8", 4, 2)
    assert (config.data.clip_seconds, config.features.n_mels, config.model.width) == (3.0, 128, 32)
    a, t = config.augment, config.train
    assert (a.spec_time_masks, a.spec_time_mask_width, a.spec_freq_masks,
            a.spec_freq_mask_width, a.mixup_alpha) == (2, 20, 2, 16, 0.2)
    assert (t.learning_rate, t.label_smoothing, t.batch_size, t.num_epochs,
            t.select_metric) == (1e-3, 0.1, 32, 40, "ua")
    model = torch_models.torch_model(config, 8)
    assert sum(p.numel() for p in model.parameters()) == 2_797_800


def test_spec_augment_masks_at_most_the_recipes_spans():
    feats = torch.ones(64, 300, 128)
    masked = reference_recipe.spec_augment(feats, reference_recipe.recipe_config().augment,
                                           np.random.default_rng(0))
    assert set(masked.unique().tolist()) == {0.0, 1.0}
    frames = (masked == 0).all(dim=2).sum(dim=1)  # whole frames zeroed: time masks
    bins = (masked == 0).all(dim=1).sum(dim=1)  # whole bins zeroed: frequency masks
    assert frames.max() <= 2 * 20 and bins.max() <= 2 * 16
    assert frames.float().mean() > 5 and bins.float().mean() > 5  # about 2 x 10 and 2 x 8
    # every zero lies in a masked frame or bin
    hit = (masked == 0).all(dim=2)[:, :, None] | (masked == 0).all(dim=1)[:, None, :]
    assert torch.equal(masked == 0, hit)


@pytest.fixture
def one_torch_thread():
    """PyTorch's threads spin against each other on a loaded 2-core host: one is 3-10x faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reference_recipe_cross_validates_on_jax_sers_folds_and_reads_back(
        tiny_corpus, tmp_path, capsys, monkeypatch, one_torch_thread):
    config = reference_recipe.recipe_config()
    config.data.root = str(tiny_corpus)
    config.data.fold_size, config.data.val_speakers = 2, 1
    config.data.clip_seconds = 0.5
    config.features.n_mels = 32
    config.model.width = 8
    config.train.num_epochs = 2
    workdir = tmp_path / "torch_ref"
    rows = reference_recipe.cross_validate(config, workdir)

    utterances = load.read_utterances(config)
    assert [r["fold"] for r in rows] == [0, 1, 2, 3]  # 8 speakers, 2 per fold
    tested = []
    for fold in range(4):
        split = splits.make_split(utterances, f"fold:{fold}", fold_size=2, val_speakers=1)
        results = json.loads((workdir / f"fold{fold}_seed0" / "metrics.json").read_text())
        data = results["data"]
        for part in ("train", "val", "test"):
            assert data[f"{part}_speakers"] == sorted({u.speaker_key for u in getattr(split, part)})
        assert len(data["test_speakers"]) == 2 and len(data["val_speakers"]) == 1
        assert not set(data["test_speakers"]) & set(data["train_speakers"] + data["val_speakers"])
        assert not set(data["val_speakers"]) & set(data["train_speakers"])
        assert results["test"]["n"] == len(split.test) and results["val"]["n"] == len(split.val)
        assert results["best_epoch"] in (1, 2) and len(results["history"]) == 2
        tested += data["test_speakers"]
    assert sorted(tested) == sorted({u.speaker_key for u in utterances})  # each tested once

    with open(workdir / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["fold"]) for r in table] == [0, 1, 2, 3]
    assert [float(r["ua"]) for r in table] == pytest.approx([r["ua"] for r in rows])
    summary = (workdir / "summary.md").read_text()
    for r in rows:
        assert f"| {r['fold']} | 0 | {r['test_speakers']} | {r['ua']:.3f} |" in summary
    assert "| **mean ± std** | | 4 runs |" in summary
    out = capsys.readouterr().out
    assert out.count(" epoch ") == 4 * 2 and "fold 3 seed 0 epoch 2/2 | train loss" in out

    def no_training(*args, **kwargs):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(reference_recipe, "train_fold", no_training)
    assert reference_recipe.cross_validate(config, workdir) == rows
    assert capsys.readouterr().err.count("finished earlier") == 4
    config.train.num_epochs = 3  # another recipe is refused, not read back
    with pytest.raises(ConfigError, match="train.num_epochs"):
        reference_recipe.cross_validate(config, workdir, folds=[0])
