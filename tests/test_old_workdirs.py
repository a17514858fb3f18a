"""Workdirs trained before the package was rearranged (config keys under their old names:
train.bn_statistics, train.speaker_im_steps, data.eval_crops, ...) still load and label
recordings exactly as they did. The fixtures are two tiny runs made with that code, and the
predict lines it wrote for the recordings in waves/ (expected_predictions.jsonl)."""

import json
from pathlib import Path

import pytest

from jax_ser.config import workdir as workdir_lib
from jax_ser.evaluate import trained
from tests.e2e import tiny

FIXTURES = Path(__file__).parent / "fixtures" / "old_workdirs"


@pytest.fixture(scope="module")
def loaded():
    """Each fixture workdir loaded once for the tests of this file."""
    cache = {}
    return lambda name: cache.setdefault(name, trained.Trained(FIXTURES / name))


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
    speaker = model.adapt(paths) if model.needs_speaker else None
    long_files = 0
    for path, want in zip(paths, expected):
        got = model.predict_file(path, 0.0, speaker)
        assert got["label"] == want["label"]
        assert got["probs"] == pytest.approx(want["probs"], abs=2e-5)
        assert len(got.get("segments", [])) == len(want.get("segments", []))
        for g, w in zip(got.get("segments", []), want.get("segments", [])):
            assert (g["start"], g["end"], g["label"]) == (w["start"], w["end"], w["label"])
            assert g["probs"] == pytest.approx(w["probs"], abs=2e-5)
        long_files += "segments" in want
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
    with pytest.raises(ValueError, match="adapts to the speaker .*adabn.*first"):
        model.predict_file(path)
