"""Re-scoring finished runs with evaluation-only changes: unchanged it reproduces the run's own
test scores; training keys are refused."""

import shutil
import sys

import pytest

from jax_ser import errors
from jax_ser.evaluate import reevaluation, tables
from tests.e2e import run_cli


def test_without_a_change_the_runs_own_test_scores_come_back(trained):
    workdir, results = trained
    scores, lines = reevaluation.rescore(workdir, {"eval.batch_size": 7})
    for m in tables.METRICS:
        assert scores[m] == pytest.approx(results["test"][m], abs=1e-6)
    own = tables.test_predictions(workdir)
    assert sorted(lines) == sorted(own)
    for path, line in own.items():
        assert lines[path]["label"] == line["label"] and lines[path]["speaker"] == line["speaker"]
        assert lines[path]["probs"] == pytest.approx(line["probs"], abs=1e-4)


def test_training_keys_and_malformed_changes_are_refused():
    with pytest.raises(errors.ConfigError, match="change what was trained"):
        reevaluation.parse_changes(["train.learning_rate=0.1"])
    with pytest.raises(errors.ConfigError, match="KEY=VALUE"):
        reevaluation.parse_changes(["adapt.speaker_im_steps"])
    assert reevaluation.parse_changes(["adapt.speaker_im_steps=30", "adapt.bn_statistics=speaker"]
                                    ) == {"adapt.speaker_im_steps": 30,
                                          "adapt.bn_statistics": "speaker"}
    # the keys' names before they had their own sections still work
    assert reevaluation.parse_changes(["train.bn_statistics=speaker", "data.eval_crops=3"]) == {
        "adapt.bn_statistics": "speaker", "eval.crops": 3}


def test_command_tabulates_each_run_before_and_after(trained, tmp_path):
    workdir, results = trained
    cv = tmp_path / "cv"
    shutil.copytree(workdir, cv / "fold0_seed0")
    shutil.copytree(workdir, cv / "fold0_seed1")
    done = run_cli([sys.executable, "-m", "jax_ser.reevaluate", "--workdir", str(cv),
                    "--set", "adapt.bn_statistics=speaker", "--set", "adapt.speaker_im_steps=2",
                    "--ensemble=2"])
    assert done.returncode == 0, done.stderr[-3000:]
    table = (cv / "reevaluate.md").read_text()
    assert "adapt.bn_statistics='speaker', adapt.speaker_im_steps=2" in table
    assert f"| fold0_seed0 | {results['test']['ua']:.3f} |" in table
    assert "| **mean ± std, 2 runs** |" in table
    # two copies of one run: their ensemble scores as each of them does with the changes
    after_ua = table.splitlines()[4].split("|")[5].strip()
    ensemble = (cv / "reevaluate_ensemble.md").read_text()
    assert "with adapt.bn_statistics='speaker', adapt.speaker_im_steps=2" in ensemble
    assert "| 0 | 0+1 | " in ensemble and f"| {after_ua} |" in ensemble
    # without bn_statistics=speaker the fitting has no speaker statistics to work with
    done = run_cli([sys.executable, "-m", "jax_ser.reevaluate", "--workdir", str(cv),
                    "--set", "adapt.speaker_im_steps=2"])
    assert done.returncode == 2 and "set config.adapt.bn_statistics=speaker" in done.stderr
