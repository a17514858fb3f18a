"""The speed benchmarks run end to end at tiny sizes and print their figures: a test of the
benchmark code, not of speed. The PyTorch reference recipe cross-validates a tiny corpus."""

import csv
import json
import math

import jax
import numpy as np
import pytest
import soundfile
import torch

from benchmarks import (
    common,
    conv_speed,
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


def test_conv_speed_times_every_convolution_of_resnet18(capsys):
    """ResNet18 uses 20 convolutions (stem, 16 in its blocks, 3 shortcuts), read from the model;
    each shape is timed in both frameworks."""
    config = common.load_config(conv_speed.REPO / conv_speed.CONFIG)
    config.data.clip_seconds = 0.5
    convs = conv_speed.resnet_convs(config, batch=2)
    assert sum(convs.values()) == 20
    assert {spec[2:] for spec in convs} == {(7, 2, 3), (3, 1, 1), (3, 2, 1), (1, 2, 0)}
    figures = conv_speed.benchmark(batch=2, seconds=0.5, steps=1)
    assert_positive(figures)
    assert "resnet18 convolutions, forward and backward: ratio jax_ser/pytorch: " in (
        capsys.readouterr().out)


def test_ensemble_speed(capsys):
    epochs = ensemble_speed.benchmark(tiny_mlp_config(), sizes=(1, 2), epoch_clips=8, repeats=1)
    assert set(epochs) == {1, 2}
    assert_positive(epochs)
    assert "ensemble K=2: ratio time/epoch K=2 / K=1: " in capsys.readouterr().out


def test_recipe_speed_trains_both_an_epoch_in_turns(tiny_corpus, capsys, monkeypatch):
    """The recipe on a small BiLSTM (a ResNet18 step takes a minute to compile here)."""
    monkeypatch.setattr(reference_recipe, "_DECODED", {})
    config = reference_recipe.recipe_config()
    config.model = base_config(model=dict(name="bilstm", hidden=16, num_layers=1,
                                             dropout=0.0)).model
    config.features.n_mels, config.data.clip_seconds = 32, 0.5
    config.data.root, config.data.fold_size, config.data.val_speakers = str(tiny_corpus), 2, 1
    rates = recipe_speed.benchmark(config, epochs=1, recipe=config)
    assert set(rates) == {"jax_ser", "pytorch"}
    assert_positive(rates)
    assert "training epoch: ratio jax_ser/pytorch: " in capsys.readouterr().out
    # the script read the training utterances' files itself
    assert len(reference_recipe._DECODED) == 5 * 60


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
    """Issue #6's numbers, issue #29's plain-script settings, and the half-width ResNet18 at
    jax_ser's 2,797,800 parameters."""
    config = reference_recipe.recipe_config()
    config.data.root = str(tiny_corpus)
    validate(config)  # e.g. the masks fit a 3 s crop's frames and bins
    reference_recipe.check_config(config)
    d, a, t = config.data, config.augment, config.train
    assert (d.task, d.fold_size, d.val_speakers) == ("ravdess8", 4, 2)
    assert (d.clip_seconds, d.trim_db, d.normalize) == (3.0, 30.0, False)
    fc = config.features
    assert (fc.n_mels, fc.top_db, fc.log_offset, fc.mask_padding) == (128, 0.0, 1e-6, True)
    assert (config.model.width, config.model.dropout, config.eval.crops) == (32, 0.3, 1)
    assert (a.spec_time_masks, a.spec_time_mask_width, a.spec_freq_masks,
            a.spec_freq_mask_width, a.mixup_alpha) == (2, 20, 2, 16, 0.2)
    assert (t.learning_rate, t.weight_decay, t.label_smoothing, t.batch_size, t.num_epochs,
            t.select_metric) == (1e-3, 1e-4, 0.1, 32, 40, "ua")
    assert (t.ema_decay, t.warmup_epochs, t.grad_clip_norm) == (0.0, 0.0, 0.0)
    model = reference_recipe.make_model(config, 8)
    assert sum(p.numel() for p in model.parameters()) == 2_797_800
    assert model.dropout.p == 0.3 and isinstance(model.frontend, reference_recipe.LogMel)
    config.eval.crops = 5  # a setting the script has no code for is refused
    with pytest.raises(ConfigError, match="eval.crops=5"):
        reference_recipe.check_config(config)


def test_the_plain_script_ablations_last_row_is_the_script_in_jax_ser():
    """configs/ablations/plain_script.py ends where the script is: its last cell has the
    script's features, model, augmentation, training and test crops."""
    from pathlib import Path

    from jax_ser.config import load_module
    from jax_ser.train import ablation

    path = Path(__file__).parents[1] / "configs" / "ablations" / "plain_script.py"
    cells = ablation.cells(ablation.load_grid(path))
    last = ablation.cell_config(load_module(path).get_config(), cells[-1][1])
    recipe = reference_recipe.recipe_config()
    layout = {"cpu_devices"}  # how the batch lies on the devices, not the recipe
    for section in ("features", "model", "augment", "train"):
        ours, script = (
            {k: v for k, v in c[section].to_dict().items() if k not in layout}
            for c in (last, recipe))
        assert ours == script, section
    for key in ("clip_seconds", "trim_db", "normalize", "sample_rate"):
        assert last.data[key] == recipe.data[key], key
    assert last.eval.crops == recipe.eval.crops == 1
    first = ablation.cell_config(load_module(path).get_config(), cells[0][1])
    assert first.features.to_dict() != recipe.features.to_dict()


def test_log_mel_standardises_over_the_valid_frames_only():
    """Valid frames (centre t * hop in the real samples) have mean 0 and std 1 over the
    utterance, padded frames are exactly 0, and more padding changes no valid frame."""
    fc = reference_recipe.recipe_config().features
    logmel = reference_recipe.LogMel(fc, 1e-6)
    speech = torch.from_numpy(common.speech(0.5))  # 8000 samples
    narrow, wide = torch.zeros(2, 16000), torch.zeros(2, 48000)
    narrow[0, 3200:11200] = wide[0, 16000:24000] = speech  # starts at frames 20 and 100
    narrow[1, :16000] = wide[1, :16000] = torch.from_numpy(common.speech(1.0, seed=1))
    a = logmel(narrow, torch.tensor([[3200, 11200], [0, 16000]]))
    b = logmel(wide, torch.tensor([[16000, 24000], [0, 16000]]))
    assert a.shape == (2, 101, 128) and b.shape == (2, 301, 128)
    for feats, frames in ((a[0], slice(20, 70)), (b[0], slice(100, 150)), (a[1], slice(0, 100)),
                          (b[1], slice(0, 100))):
        valid = feats[frames]
        assert abs(valid.mean()) < 1e-4 and abs(valid.std(unbiased=False) - 1) < 1e-3
        assert torch.count_nonzero(feats) == valid.numel()  # every other frame exactly 0
    torch.testing.assert_close(a[0, 20:70], b[0, 100:150], atol=1e-4, rtol=0)


def test_the_scripts_log_mel_is_jax_sers_front_end_with_its_settings():
    """features.mask_padding and features.log_offset make jax_ser's front end compute the
    script's features: on short clips placed in zero-padded windows (where torch.stft's reflect
    padding meets zeros too) the two agree."""
    from jax_ser import frontend

    fc = reference_recipe.recipe_config().features
    windows = np.zeros((2, 16000), np.float32)
    windows[0, 3200:11200] = common.speech(0.5)
    windows[1, 5000:12999] = common.speech(0.5, seed=1)[:7999]  # frame centres off the edges
    valid = torch.tensor([[3200, 11200], [5000, 12999]])
    script = reference_recipe.LogMel(fc, fc.log_offset)(torch.from_numpy(windows), valid)
    ours = np.asarray(frontend.compute(windows, fc.to_dict()))
    np.testing.assert_allclose(ours, script.numpy(), atol=2e-4)
    plain = np.asarray(frontend.compute(windows, {**fc.to_dict(), "mask_padding": False}))
    assert np.abs(plain - script.numpy()).max() > 0.5


def test_windows_centre_a_short_clip_at_test_and_move_it_in_training():
    wave = np.arange(1, 101, dtype=np.float32)
    out, start, end = reference_recipe.window(wave, 160)
    assert (start, end) == (30, 130) and np.array_equal(out[30:130], wave)
    assert not out[:30].any() and not out[130:].any()
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(50):
        out, start, end = reference_recipe.window(wave, 160, rng)
        assert end - start == 100 and np.array_equal(out[start:end], wave)
        assert not out[:start].any() and not out[end:].any()
        starts.add(start)
    assert len(starts) > 20 and min(starts) >= 0 and max(starts) <= 60
    out, start, end = reference_recipe.window(wave, 40)  # a longer clip: the centre crop
    assert (start, end) == (0, 40) and np.array_equal(out, wave[30:70])
    crops = {reference_recipe.window(wave, 40, rng)[0][0] for _ in range(50)}
    assert len(crops) > 20 and min(crops) >= 1 and max(crops) <= 61
    windows, valid = reference_recipe.batch_of([wave, wave[:10]], 40)
    assert windows.shape == (2, 40) and valid.tolist() == [[0, 40], [15, 25]]


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


def tiny_recipe(root):
    """The recipe at a size that trains an epoch in a second: 0.5 s, 32 bands, width 8."""
    config = reference_recipe.recipe_config()
    config.data.root = str(root)
    config.data.fold_size, config.data.val_speakers = 2, 1
    config.data.clip_seconds = 0.5
    config.features.n_mels = 32
    config.model.width = 8
    config.train.num_epochs = 2
    return config


@pytest.fixture
def one_torch_thread():
    """PyTorch's threads spin against each other on a loaded 2-core host: one is 3-10x faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_reference_recipe_cross_validates_on_jax_sers_folds_and_reads_back(
        tiny_corpus, tmp_path, capsys, monkeypatch, one_torch_thread):
    monkeypatch.setattr(reference_recipe, "_DECODED", {})
    config = tiny_recipe(tiny_corpus)
    workdir = tmp_path / "torch_ref"
    rows = reference_recipe.cross_validate(config, workdir)
    assert len(reference_recipe._DECODED) == 480  # each file decoded once for the 4 folds

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
        assert results["skipped"] == {"count": 0, "files": {}}
        assert results["settings"]["dropout"] == 0.3 and results["settings"]["ema"] == 0
        assert results["settings"]["log_offset"] == 1e-6 and results["torch"]["threads"] == 1
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


def test_reference_recipe_skips_unreadable_and_empty_files_with_a_warning(
        tiny_corpus, tmp_path, capsys, caplog, monkeypatch, one_torch_thread):
    """A corrupt file and an empty one among 4 speakers: each skipped with a warning, recorded
    in metrics.json, and the run finishes; the files are read once per process."""
    monkeypatch.setattr(reference_recipe, "_DECODED", {})
    root = tmp_path / "corpus"
    for actor in ("Actor_01", "Actor_02", "Actor_03", "Actor_04"):
        (root / actor).mkdir(parents=True)
        for path in sorted((tiny_corpus / actor).iterdir()):
            (root / actor / path.name).symlink_to(path)
    corrupt, empty = sorted((root / "Actor_01").iterdir())[:2]
    corrupt.unlink()
    corrupt.write_bytes(b"RIFF not a wave file")
    empty.unlink()
    soundfile.write(empty, np.zeros(0, np.float32), 16000)
    config = tiny_recipe(root)
    config.train.num_epochs = 1
    config.data.split = "fold:0"
    results = reference_recipe.train_run(config, tmp_path / "run")

    assert results["skipped"]["count"] == 2
    assert set(results["skipped"]["files"]) == {str(corrupt), str(empty)}
    assert "no samples" in results["skipped"]["files"][str(empty)]
    assert sum(results["data"][f"num_{k}"] for k in ("train", "val", "test")) == 4 * 60 - 2
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["skipped"] == (
        results["skipped"])
    assert len(results["history"]) == 1 and results["test"]["n"] == results["data"]["num_test"]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert sum(m.startswith("skipped ") for m in warnings) == 2
    assert "fold 0: 2 files skipped" in " ".join(warnings)

    def no_decoding(*args):
        raise AssertionError("a file was decoded twice")

    monkeypatch.setattr(reference_recipe, "read_wave", no_decoding)
    utterances = load.read_utterances(config)
    waves, kept, skipped = reference_recipe.load_waves(config, utterances)
    assert len(waves) == len(kept) == 4 * 60 - 2 and set(skipped) == {str(corrupt), str(empty)}
