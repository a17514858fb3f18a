"""Workdirs trained before the package was rearranged (config keys under their old names:
train.bn_statistics, train.speaker_im_steps, data.eval_crops, ...) still load and label
recordings exactly as they did. The fixtures are two tiny runs made with that code, and the
predict lines it wrote for the recordings in waves/ (expected_predictions.jsonl): then, a long
recording's segments were fixed windows with half-window hops; now they cover its speech only,
so its old windows are labelled one by one and compared."""

import json
import sys
from pathlib import Path

import pytest

import jax_ser
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import audio
from tests.e2e import run_cli, tiny

FIXTURES = Path(__file__).parent / "fixtures" / "old_workdirs"


@pytest.fixture(scope="module")
def loaded():
    """Each fixture workdir loaded once for the tests of this file."""
    cache = {}
    return lambda name: cache.setdefault(name, jax_ser.load(FIXTURES / name))


@pytest.mark.parametrize("name", ["plain", "adapted"])
def test_an_old_workdir_predicts_as_before(name, loaded):
    workdir = FIXTURES / name
    saved = json.loads((workdir / "config.json").read_text())
    assert "bn_statistics" in saved["train"] and "eval" not in saved  # the old layout
    model = loaded(name)
    assert model.config.adapt.bn_statistics == saved["train"]["bn_statistics"]
    assert model.config.eval.crops == saved["data"]["eval_crops"]
    assert model.needs_speaker == (name == "adapted")
    expected = [json.loads(line) for line in (workdir / "expected_predictions.jsonl").open()]
    paths = sorted(str(p) for p in (FIXTURES / "waves").glob("*.wav"))
    assert [Path(p).name for p in paths] == [e["path"] for e in expected]
    if model.needs_speaker:
        model = model.adapt(paths)
    long_files = 0
    for got, want, path in zip(model.predict_files(paths), expected, paths):
        if "segments" not in want:
            assert got["label"] == want["label"]
            assert got["probs"] == pytest.approx(want["probs"], abs=2e-5)
            continue
        long_files += 1
        assert got["segments"]
        member = model.members[0]
        wave = member.preprocess(audio.load(path, 16000), trim=False)
        rate = model.sample_rate
        starts = [round(w["start"] * rate) for w in want["segments"]]
        starts[-1] = len(wave) - model.clip_samples  # the last one ended at the last sample
        windows = [wave[s:s + model.clip_samples] for s in starts]
        for probs, w in zip(model.probs(windows, num_crops=1), want["segments"]):
            assert model.label(probs)["probs"] == pytest.approx(w["probs"], abs=2e-5)
    assert long_files >= 1


@pytest.mark.parametrize("name", ["plain", "adapted"])
def test_an_old_workdir_resumes_under_todays_key_names(name):
    """The same settings written with today's key names are the run's config: resuming it (or
    reading it back in cross_validate) is allowed; a changed evaluation key is a change."""
    saved = json.loads((FIXTURES / name / "config.json").read_text())
    overrides = {"train.progress_bar": False, "train.num_epochs": 2,
                 "train.checkpoint_every_steps": 0, "model.width": 4}
    if name == "adapted":
        overrides.update({"features.normalize": "speaker", "adapt.bn_statistics": "speaker",
                          "adapt.speaker_im_steps": 2, "data.val_speakers": 0})
    config = tiny(saved["data"]["root"], **overrides)
    assert workdir_lib.config_changes(config, FIXTURES / name) == []
    config.eval.crops = 3
    assert workdir_lib.config_changes(config, FIXTURES / name) == ["eval.crops: 1 -> 3"]


def test_an_adapting_model_says_what_it_needs_before_it_labels(loaded):
    model = loaded("adapted")
    path = str(sorted((FIXTURES / "waves").glob("*.wav"))[0])
    with pytest.raises(ValueError, match="adapts to the speaker .*adabn.*first.*adapt"):
        next(model.predict_files([path]))


def test_predict_adapts_to_each_speaker_folder_and_names_it(loaded, tmp_path):
    waves = sorted((FIXTURES / "waves").glob("*.wav"))
    folders = {"A": waves[:3], "B": waves[3:]}
    for name, files in folders.items():
        (tmp_path / name).mkdir()
        for f in files:
            (tmp_path / name / f.name).symlink_to(f)
    out = tmp_path / "lines.jsonl"
    done = run_cli([sys.executable, "-m", "jax_ser.predict", "--workdir",
                    str(FIXTURES / "adapted"), str(tmp_path / "A"), str(tmp_path / "B"),
                    "--output", str(out), "--plot", str(tmp_path / "timeline.png")])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "7 files in 2 speaker groups (--speakers=folder)" in done.stderr
    lines = [json.loads(line) for line in out.open()]
    assert [Path(line["speaker"]).name for line in lines] == ["A"] * 3 + ["B"] * 4
    model = loaded("adapted")
    for name, files in folders.items():
        paths = [str(tmp_path / name / f.name) for f in files]
        expected = list(model.adapt(paths, speaker=str(tmp_path / name)).predict_files(paths))
        got = [line for line in lines if line["speaker"] == str(tmp_path / name)]
        for g, e in zip(got, expected):
            assert g["probs"] == pytest.approx(e["probs"], abs=1e-5)
    alone = next(model.adapt(paths[:1]).predict_files(paths[:1]))  # another speaker: others
    assert alone["probs"] != pytest.approx(expected[0]["probs"], abs=1e-3)
    assert (tmp_path / "timeline.png").stat().st_size > 1000
