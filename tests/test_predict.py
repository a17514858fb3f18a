"""`jax_ser.predict` and `jax_ser.load` label files like the evaluation did, label long recordings
where there is speech, group files by speaker for models that adapt, and report unreadable files
without stopping."""

import json
import sys

import librosa
import numpy as np
import pytest
import soundfile as sf

import jax_ser
from jax_ser.data import audio, corpora, labels
from jax_ser.evaluate import adaptation_sets as adaptation_sets_lib
from jax_ser.evaluate import calibration, speaker_groups
from tests.e2e import run_cli


def test_predict_reproduces_test_accuracy_and_handles_long_and_bad_files(
    trained, tiny_corpus, tmp_path
):
    workdir, results = trained
    test_files = [u for u in corpora.read("ravdess", str(tiny_corpus)) if u.speaker in ("01", "02")]
    pause = np.zeros(16000, np.float32)  # 1 s of silence after each clip
    clips = [sf.read(u.path, dtype="float32")[0] for u in test_files[:4]]
    long_wave = np.concatenate([part for clip in clips for part in (clip, pause)])
    sf.write(tmp_path / "long.wav", long_wave, 16000)
    (tmp_path / "broken.wav").write_bytes(b"RIFF....not audio at all")
    out = tmp_path / "preds.jsonl"
    done = run_cli(
        [
            sys.executable,
            "-m",
            "jax_ser.predict",
            "--workdir",
            f"{workdir},{workdir}",  # an ensemble of the run with itself labels as the run
            str(tiny_corpus / "Actor_01"),
            str(tiny_corpus / "Actor_02"),
            str(tmp_path / "long.wav"),
            str(tmp_path / "broken.wav"),
            "--output",
            str(out),
        ]
    )
    assert done.returncode == 0, done.stderr[-3000:]
    lines = {json.loads(line)["path"]: json.loads(line) for line in out.read_text().splitlines()}
    assert len(lines) == len(test_files) + 2

    assert lines[str(tmp_path / "broken.wav")]["error"].startswith("unreadable")
    classes = list(labels.task_classes("ravdess8"))
    for line in lines.values():
        if "error" not in line:
            assert line["label"] in classes
            assert abs(sum(line["probs"].values()) - 1) < 1e-3

    # A file that fits the training window gets the evaluation's crop and weights: the very
    # probabilities the run wrote for it, calibrated with the temperature fitted on the
    # validation speakers; longer ones are labelled by their windows' mean.
    temperature = results["calibration"]["temperature"]
    assert abs(temperature - 1) > 0.05  # else calibration would go unnoticed here
    evaluated = [json.loads(line) for line in (workdir / "predictions_test.jsonl").open()]
    assert len(evaluated) == len(test_files)
    assert np.mean([e["label"] == e["predicted"] for e in evaluated]) == results["test"]["wa"]
    fits = [e for e in evaluated if "segments" not in lines[e["path"]]]
    assert len(fits) >= 3
    for e in fits:
        calibrated = calibration.apply_temperature([[e["probs"][c] for c in classes]], temperature)
        np.testing.assert_allclose([lines[e["path"]]["probs"][c] for c in classes], calibrated[0],
                                   atol=1e-4)

    long = lines[str(tmp_path / "long.wav")]
    assert abs(long["duration_s"] - len(long_wave) / 16000) < 1e-3
    assert long["speech_s"] <= sum(len(c) for c in clips) / 16000 + 4 * 0.25
    segments = long["segments"]
    assert len(segments) >= 4  # one or more per clip: never merged across a pause
    ends = np.cumsum([len(c) + len(pause) for c in clips]) / 16000 - 1  # each clip's end
    for s in segments:  # inside a clip (with the detector's padding), never in a pause
        assert any(e - len(c) / 16000 - 0.15 <= s["start"] < s["end"] <= e + 0.15
                   for c, e in zip(clips, ends))
    assert [s["start"] for s in segments] == sorted(s["start"] for s in segments)


def test_adaptation_sets_refuse_a_model_that_does_not_adapt(trained):
    with pytest.raises(ValueError, match="does not adapt to the speaker"):
        adaptation_sets_lib.set_scores(trained[0])


def test_the_python_api_labels_arrays_of_any_rate_and_layout_as_files(trained, tiny_corpus):
    model = jax_ser.load(trained[0])
    paths = [str(p) for p in sorted((tiny_corpus / "Actor_01").glob("*.wav"))[:3]]
    by_file = list(model.predict_files(paths))
    wave, rate = sf.read(paths[0], dtype="float32")
    assert model.predict(wave, rate) == {k: v for k, v in by_file[0].items() if k != "path"}
    stereo = np.stack([wave, wave])  # [channels, samples], as librosa gives it
    assert model.predict(stereo, rate)["probs"] == by_file[0]["probs"]
    resampled = model.predict(librosa.resample(wave, orig_sr=rate, target_sr=44100), 44100)
    assert resampled["probs"] == pytest.approx(by_file[0]["probs"], abs=0.02)
    # labelled in one batch, each as if alone
    assert [next(model.predict_files([p])) for p in paths] == by_file
    assert model.labels == list(labels.task_classes("ravdess8"))
    with pytest.raises(audio.BadAudioError, match="silent"):
        model.predict(np.zeros(16000), 16000)


def test_speaker_groups_follow_folders_files_or_a_csv(tmp_path):
    paths = [str(tmp_path / a / f) for a in ("A", "B") for f in ("1.wav", "2.wav")]
    assert list(speaker_groups.group(paths, "folder").values()) == [paths[:2], paths[2:]]
    assert speaker_groups.group(paths, "one") == {"all": paths}
    assert len(speaker_groups.group(paths, "file")) == 4
    (tmp_path / "who.csv").write_text("path,speaker\nA/1.wav,x\nB/1.wav,x\nA/2.wav,y\nB/2.wav,y\n")
    assert speaker_groups.group(paths, str(tmp_path / "who.csv")) == {
        "x": [paths[0], paths[2]], "y": [paths[1], paths[3]]}
    with pytest.raises(ValueError, match="1 files are not in"):
        speaker_groups.group([*paths, str(tmp_path / "C.wav")], str(tmp_path / "who.csv"))
    with pytest.raises(ValueError, match="folder, one, file or a CSV"):
        speaker_groups.group(paths, "actor")


def test_labelling_does_not_import_tensorflow():
    """TensorFlow's import alone takes 0.7 GB and seconds: prediction's code path avoids it."""
    done = run_cli([sys.executable, "-c", "import sys, jax_ser.predict, jax_ser.evaluate.model; "
                    "print('tensorflow' in sys.modules)"])
    assert done.stdout.strip() == "False", done.stderr[-2000:]
