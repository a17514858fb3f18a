"""`jax_ser.predict` labels files like the evaluation did, cuts long recordings into segments, and
reports unreadable files without stopping."""

import json
import sys

import numpy as np
import pytest
import soundfile as sf

from jax_ser.data import corpora, labels
from jax_ser.evaluate import adaptation_sets as adaptation_sets_lib
from jax_ser.evaluate import calibration, trained
from tests.e2e import run_cli


def test_predict_reproduces_test_accuracy_and_handles_long_and_bad_files(
    trained, tiny_corpus, tmp_path
):
    workdir, results = trained
    test_files = [u for u in corpora.read("ravdess", str(tiny_corpus)) if u.speaker in ("01", "02")]
    long_wave = np.concatenate([sf.read(u.path, dtype="float32")[0] for u in test_files[:4]])
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
    segments = long["segments"]
    assert len(segments) >= 3
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts) and starts[0] == 0
    assert abs(segments[-1]["end"] - long["duration_s"]) < 1e-3
    mean = np.mean([[s["probs"][c] for c in classes] for s in segments], axis=0)
    np.testing.assert_allclose([long["probs"][c] for c in classes], mean, atol=1e-4)


def test_adaptation_sets_refuse_a_model_that_does_not_adapt(trained):
    with pytest.raises(ValueError, match="does not adapt to the speaker"):
        adaptation_sets_lib.set_scores(trained[0])


def test_mean_line_averages_files_and_segments_and_passes_errors():
    label = lambda p: {"label": ["a", "b"][int(np.argmax(p))],
                       "probs": dict(zip("ab", map(float, p)))}
    one = {"path": "x", "duration_s": 4.0, **label([0.8, 0.2]),
           "segments": [{"start": 0.0, "end": 3.0, **label([0.9, 0.1])},
                        {"start": 1.0, "end": 4.0, **label([0.7, 0.3])}]}
    two = {"path": "x", "duration_s": 4.0, **label([0.2, 0.8]),
           "segments": [{"start": 0.0, "end": 3.0, **label([0.5, 0.5])},
                        {"start": 1.0, "end": 4.0, **label([0.1, 0.9])}]}
    line = trained.mean_line([one, two], label)
    assert line["probs"] == {"a": 0.5, "b": 0.5} and line["duration_s"] == 4.0
    assert [s["probs"]["a"] for s in line["segments"]] == pytest.approx([0.7, 0.4])
    assert [s["label"] for s in line["segments"]] == ["a", "b"]
    assert [(s["start"], s["end"]) for s in line["segments"]] == [(0.0, 3.0), (1.0, 4.0)]
    error = {"path": "y", "error": "unreadable"}
    assert trained.mean_line([error, error], label) == error
