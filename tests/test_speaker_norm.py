"""Speaker-level normalisation (features.normalize=speaker): the statistics are those of the
speaker's real frames, each example carries its own speaker's through the pipeline, and a trained
run labels new recordings with the statistics of the files given."""

import json
import sys

import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser import config as config_lib
from jax_ser import errors, frontend
from jax_ser.adapt import speaker_norm
from jax_ser.data import batches as batches_lib
from jax_ser.data import corpora, labels
from jax_ser.evaluate import adaptation_sets as adaptation_sets_lib
from jax_ser.evaluate import calibration
from jax_ser.frontend import features
from jax_ser.train import loop
from tests.e2e import run_cli, tiny

FEATURES = dict(name="log_mel", sample_rate=16000, n_fft=512, hop_length=160, win_length=400,
                n_mels=32, top_db=80.0, normalize="speaker")


def test_statistics_are_those_of_the_real_frames():
    rng = np.random.default_rng(0)
    clip = 8000
    short = rng.normal(size=5000).astype(np.float32)  # one padded window
    long = (rng.normal(size=19123) * np.linspace(0.1, 1, 19123)).astype(np.float32)  # 3 windows
    frames = []
    for wave in (short, long):
        for start in range(0, len(wave), clip):
            part = wave[start : start + clip]
            # the frames whose centre lies in the audio, from the unpadded part itself
            feats = np.asarray(features.compute(jnp.asarray(part[None]), FEATURES))[0]
            frames.append(feats[: -(-len(part) // 160)])
    frames = np.concatenate(frames).astype(np.float64)
    stats = speaker_norm.statistics([short, long], FEATURES, clip)
    assert stats.shape == (2, 32)
    np.testing.assert_allclose(stats[0], frames.mean(0), rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(stats[1], np.sqrt(frames.var(0) + 1e-5), rtol=1e-4, atol=1e-3)


def test_normalised_speaker_has_zero_mean_unit_std_per_band():
    rng = np.random.default_rng(1)
    clip = 8000
    # two speakers far apart in level and spectral tilt
    waves = [rng.normal(size=clip).astype(np.float32) for _ in range(4)]
    waves += [np.cumsum(rng.normal(size=clip)).astype(np.float32) * 0.01 for _ in range(4)]
    speakers = ["a"] * 4 + ["b"] * 4
    stats = speaker_norm.per_utterance(speakers, waves, FEATURES, clip)
    assert stats.shape == (8, 2, 32)
    np.testing.assert_array_equal(stats[0], stats[3])
    assert np.abs(stats[0, 0] - stats[4, 0]).max() > 10  # dB apart in some band
    feats = frontend.compute(jnp.asarray(np.stack(waves)), FEATURES, jnp.asarray(stats))
    feats = np.asarray(feats)[:, :50]  # the last frame's centre is the clip's end: not counted
    for rows in (slice(0, 4), slice(4, 8)):
        frames = feats[rows].reshape(-1, 32)
        np.testing.assert_allclose(frames.mean(0), 0, atol=1e-3)
        np.testing.assert_allclose(frames.std(0), 1, atol=1e-2)
    with pytest.raises(ValueError, match="speaker statistics"):
        features.normalize(jnp.zeros((1, 5, 32)), "speaker")


def test_batches_carry_each_examples_own_statistics():
    waves = [np.full(100 + i, i, np.float32) for i in range(10)]
    labels = np.arange(10, dtype=np.int32)
    stats = np.arange(10, dtype=np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32)
    kwargs = dict(global_batch=4, clip_samples=64, seed=0, epoch=1)
    batches = list(batches_lib.train_batches(waves, labels, speaker_stats=stats, **kwargs))
    assert len(batches) == 2
    for batch in batches:
        np.testing.assert_array_equal(batch["speaker_stats"][:, 0, 0], batch["label"])
        np.testing.assert_array_equal(batch["wave"][:, 0], batch["label"])
    assert "speaker_stats" not in next(batches_lib.train_batches(waves, labels, **kwargs))

    out = list(batches_lib.eval_batches(waves, global_batch=4, clip_samples=64, num_crops=2,
                                           speaker_stats=stats))
    got = np.concatenate([b["speaker_stats"] for b in out])
    mask = np.concatenate([b["mask"] for b in out])
    np.testing.assert_array_equal(got[mask], stats)
    np.testing.assert_array_equal(got[~mask][:, 0], 0)  # batch padding: mean 0, std 1
    np.testing.assert_array_equal(got[~mask][:, 1], 1)


@pytest.mark.parametrize("change, message", [
    ({"features.normalize": "speakers"}, "none, utterance, frequency, speaker"),
    ({"features.normalize": "speaker", "features.name": "waveform"}, "has none"),
])
def test_config_errors(change, message, tiny_corpus):
    config = tiny(tiny_corpus, **change)
    with pytest.raises(errors.ConfigError, match=message):
        config_lib.validate(config)


# With the speaker's BatchNorm statistics too (jax_ser.adapt.adabn) and then its BatchNorm scales
# and biases fitted from them (jax_ser.adapt.speaker_im), on clips long enough for every file:
# predict takes the statistics over what it labels, a long file's windows, and evaluation over its
# centre crop, so only a speaker whose files all fit the clip gets the same statistics in both.
# (The statistics alone are tested in test_adabn.py.)
@pytest.mark.parametrize("changes", [{}, {"adapt.bn_statistics": "speaker",
                                          "data.clip_seconds": 3.5, "adapt.speaker_im_steps": 3}])
def test_trained_run_labels_new_recordings_as_it_evaluated(changes, tiny_corpus, tmp_path):
    """A run with normalize=speaker; predict, given one test speaker's files, takes their
    statistics and reproduces the probabilities the run's own evaluation wrote for them."""
    workdir = tmp_path / "run"
    config = tiny(tiny_corpus, **{"features.normalize": "speaker", "train.num_epochs": 2,
                                  "train.progress_bar": False, **changes})
    results = loop.train_and_evaluate(config, workdir)
    assert results["test"]["n"] == 120
    speaker_files = sorted(u.path for u in corpora.read("ravdess", str(tiny_corpus))
                           if u.speaker == "01")
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio at all")
    out = tmp_path / "preds.jsonl"
    done = run_cli([sys.executable, "-m", "jax_ser.predict", "--workdir", str(workdir),
                    str(tiny_corpus / "Actor_01"), str(tmp_path / "broken.wav"),
                    "--output", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {json.loads(x)["path"]: json.loads(x) for x in out.read_text().splitlines()}
    assert "error" in lines[str(tmp_path / "broken.wav")]
    evaluated = {e["path"]: e for e in map(json.loads, (workdir / "predictions_test.jsonl").open())}
    classes = list(labels.task_classes("ravdess8"))
    temperature = results.get("calibration", {}).get("temperature", 1.0)
    compared = 0
    for path in speaker_files:
        if "segments" in lines[path]:  # longer than the window: labelled by its windows
            continue
        written = [[evaluated[path]["probs"][c] for c in classes]]
        np.testing.assert_allclose([lines[path]["probs"][c] for c in classes],
                                   calibration.apply_temperature(written, temperature)[0],
                                   atol=2e-4)
        compared += 1
    # at 1.5 s the others are longer than the window; at 3.5 s every file fits
    assert compared == len(speaker_files) if changes else compared >= 3

    # statistics from all of a test speaker's recordings: the run's own evaluation
    scores = adaptation_sets_lib.set_scores(workdir)
    assert list(scores) == list(adaptation_sets_lib.SETS)
    assert scores["all"] == pytest.approx(results["test"]["ua"], abs=1e-9)
    assert all(0 <= ua <= 1 for ua in scores.values())
