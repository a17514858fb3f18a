"""`jax_ser.export` writes a SavedModel that TensorFlow alone runs to jax_ser's own probabilities
from raw waveforms, speaker-adapted models adapted to given recordings, and a TFLite model."""

import json
import shutil
import types

import jax
import jax.numpy as jnp
import librosa
import numpy as np
import pytest
import tensorflow as tf
from absl import flags

from jax_ser.data import audio
from jax_ser.evaluate import export
from jax_ser.evaluate import model as model_lib
from jax_ser.evaluate.trained import Trained

ATOL = 1e-3


def recordings(tiny_corpus):
    """Raw recordings of a test speaker that fit the 1.5 s window after trimming (cut
    mid-speech, quiet, with silence at both ends, very short), and one that does not (labelled
    by its evaluation crop)."""
    raws = [audio.load(p, 16000) for p in sorted((tiny_corpus / "Actor_02").glob("*.wav"))[-4:]]
    silence = np.zeros(4000, np.float32)
    return [raws[0][:20000], 0.2 * raws[1][6000:30000],
            np.concatenate([silence, raws[2][8000:26000], silence]), raws[3][9000:14000],
            raws[0]]


def padded(raws):
    """The `padded` signature's inputs: recordings zero-padded to one length, and their lengths."""
    longest = max(map(len, raws))
    return {"waveform": tf.constant(np.stack([np.pad(r, (0, longest - len(r))) for r in raws])),
            "num_samples": tf.constant([len(r) for r in raws], tf.int32)}


def test_trimming_and_crops_match_librosa_and_eval_crops():
    rng = np.random.default_rng(0)
    waves = []
    for n, lo, hi in [(3000, 500, 2500), (4096, 0, 4096), (24000, 6000, 15000),
                      (30011, 1000, 29000), (9000, 8500, 9000)]:
        wave = rng.normal(0, 0.002, n).astype(np.float32)
        wave[lo:hi] += np.sin(np.arange(hi - lo) * 0.05).astype(np.float32) * np.linspace(
            0.01, 1, hi - lo, dtype=np.float32)
        waves.append(audio.preprocess(wave, trim_db=None))
    rows = jnp.asarray(np.stack([np.pad(w, (0, 31000 - len(w))) for w in waves]))
    start, end = jax.jit(export.trim_bounds, static_argnums=2)(
        rows, jnp.array([len(w) for w in waves]), 30.0)
    kept = [librosa.effects.trim(w, top_db=30)[1] for w in waves]
    np.testing.assert_array_equal(np.stack([start, end], axis=1), kept)
    for crops in (1, 3, 4):
        got = jax.jit(export.crop_windows, static_argnums=(3, 4))(rows, start, end, 4000, crops)
        for wave, (a, b), windows in zip(waves, kept, got):
            np.testing.assert_array_equal(windows, audio.eval_crops(wave[a:b], 4000, crops))


@pytest.fixture(scope="module")
def adapted_workdir(trained, tmp_path_factory):
    """The tiny run as if trained with features.normalize=speaker, adapt.bn_statistics=speaker,
    and the PyTorch scripts' front end (padding masked, log(mel + 1e-6)), so the export is
    checked with each."""
    workdir = tmp_path_factory.mktemp("adapted")
    shutil.copytree(trained[0], workdir, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("tensorboard", "*.png"))
    config = json.loads((workdir / "config.json").read_text())
    config["features"]["normalize"] = "speaker"
    config["adapt"]["bn_statistics"] = "speaker"
    config["features"].update(mask_padding=True, log_offset=1e-6, top_db=0.0)
    (workdir / "config.json").write_text(json.dumps(config))
    return workdir


@pytest.fixture(scope="module")
def adapted(adapted_workdir):
    """Loaded once: a load compiles the model's initialisation (seconds on CPU)."""
    return Trained(adapted_workdir)


@pytest.fixture
def program(adapted, monkeypatch):
    """jax_ser.export's main(*args) with its flags; its workdirs load as `adapted`."""
    from jax_ser import export as program

    monkeypatch.setattr(model_lib, "Trained", lambda workdir: adapted)
    program.define_flags()

    def main(*args):
        flags.FLAGS.unparse_flags()
        flags.FLAGS(["jax-ser-export", *map(str, args)])
        return program.main(["jax-ser-export"])

    yield main
    for name in ("workdir", "output", "format", "speaker_files", "tflite_seconds"):
        delattr(flags.FLAGS, name)


def test_export_labels_raw_waveforms_as_jax_ser_does(program, adapted, adapted_workdir,
                                                     tiny_corpus, tmp_path):
    """A speaker-adapting run, as an ensemble with itself, exported adapted to one speaker's
    recordings, with TFLite. (A plain run exports through the same code without the speaker's
    weights and statistics; loading one more run here would cost seconds.)"""
    speaker = tmp_path / "speaker"
    speaker.mkdir()
    for path in sorted((tiny_corpus / "Actor_02").glob("*.wav"))[:6]:
        shutil.copy(path, speaker)
    out = tmp_path / "out"
    assert program("--workdir", f"{adapted_workdir},{adapted_workdir}", "--speaker_files",
                   speaker, "--format", "tflite", "--output", out) == 0
    info = json.loads((out / export.FILE).read_text())
    assert info["labels"] == adapted.labels and info["window_samples"] == 24000
    assert info["sample_rate"] == 16000
    assert info["temperatures"] == [adapted.temperature] * 2 and adapted.temperature
    assert [m["adapted_to_speaker"] for m in info["members"]] == [
        {"methods": ["speaker_norm", "adabn"], "recordings": 6}] * 2

    raws = recordings(tiny_corpus)
    waves = [adapted.preprocess(audio.load(p, 16000)) for p in sorted(speaker.iterdir())]
    # jax_ser's own probabilities, the mean of the two (equal) members'
    want = adapted.probs([adapted.preprocess(r) for r in raws], speaker=adapted.adapt(waves))
    saved = tf.saved_model.load(str(out))  # TensorFlow alone from here
    got = saved.signatures["padded"](**padded(raws))["probabilities"].numpy()
    np.testing.assert_allclose(got, want, atol=ATOL)
    model = model_lib.Model([adapted, adapted]).adapt(sorted(speaker.iterdir()))
    for raw, row in zip(raws[:4], got):  # those that fit the window: what jax_ser.load predicts
        line = model.predict(raw, 16000)
        assert "segments" not in line
        np.testing.assert_allclose(list(line["probs"].values()), row, atol=ATOL)
    one = saved.signatures["serving_default"](waveform=tf.constant(raws[2][None]))
    np.testing.assert_allclose(one["probabilities"].numpy(), want[2:3], atol=ATOL)

    assert info["tflite"]["ops"] == "builtins"
    lite = tf.lite.Interpreter(model_path=str(out / export.TFLITE_FILE)).get_signature_runner()
    samples = info["tflite"]["input_samples"]
    for raw, row in zip(raws, want):
        if len(raw) <= samples:
            got = lite(waveform=np.pad(raw, (0, samples - len(raw)))[None],
                       num_samples=np.array([len(raw)], np.int32))["probabilities"]
            np.testing.assert_allclose(got[0], row, atol=ATOL)


def test_models_that_cannot_be_exported_are_refused(program, adapted_workdir, tmp_path, capsys):
    assert program("--workdir", adapted_workdir, "--output", tmp_path / "out") == 2
    assert "(speaker_norm, adabn): export it adapted to recordings of one speaker " \
        "(--speaker_files)" in capsys.readouterr().err
    classical = types.SimpleNamespace(workdir=tmp_path, state=None)
    with pytest.raises(ValueError, match="classical .*no JAX graph"):
        export.export([classical], None, tmp_path / "out")
