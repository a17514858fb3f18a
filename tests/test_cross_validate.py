"""Cross-validation reuses finished runs, tabulates every run with mean ± std, and the launch
script shows the commands it would run and keeps its processes to their slots."""

import json
import shutil
import subprocess

import pytest

from jax_ser import errors
from jax_ser.config import workdir as workdir_lib
from jax_ser.evaluate import tables
from jax_ser.train import cross_validation, loop
from tests.e2e import REPO, tiny


def test_mean_std_is_the_sample_statistic():
    assert tables.mean_std([0.5, 0.7]) == "0.600 ± 0.141"
    assert tables.mean_std([0.5]) == "0.500 ± 0.000"


def test_finished_run_is_read_not_retrained(trained, tiny_corpus, tmp_path):
    workdir, results = trained
    shutil.copytree(workdir, tmp_path / "fold0_seed0")
    rows = cross_validation.cross_validate(
        tiny(tiny_corpus, **{"train.progress_bar": False}), tmp_path, folds=["0"]
    )
    assert len(rows) == 1
    assert rows[0]["ua"] == results["test"]["ua"]
    assert rows[0]["test_speakers"] == "ravdess/01 ravdess/02"
    table = (tmp_path / "summary.md").read_text()
    assert f"{results['test']['ua']:.3f} ± 0.000" in table
    assert (
        (tmp_path / "summary.csv").read_text().startswith("fold,seed,test_speakers,ua,wa,macro_f1")
    )


def test_another_config_in_a_finished_run_is_refused(trained, tiny_corpus, tmp_path):
    workdir, _ = trained
    shutil.copytree(workdir, tmp_path / "fold0_seed0")
    with pytest.raises(ValueError, match="train.learning_rate"):
        cross_validation.cross_validate(
            tiny(tiny_corpus, **{"train.learning_rate": 0.1}), tmp_path, folds=["0"]
        )


def test_parallel_launch_dry_run_prints_one_command_per_fold():
    done = subprocess.run(
        [
            "bash",
            "launch/cross_validate_parallel.sh",
            "--dry-run",
            "--gpus",
            "0,1",
            "--folds",
            "0,1,2",
            "configs/resnet18_mel.py",
            "runs/cv",
            "--config.seed=3",
            "--config.data.root=/data/my corpus",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("+ ")]
    assert len(lines) == 4
    for fold, gpu in ((0, 0), (1, 1), (2, 0)):
        assert (
            f"CUDA_VISIBLE_DEVICES={gpu} python -m jax_ser.cross_validate --config "
            f"configs/resnet18_mel.py --workdir runs/cv --folds={fold} --config.seed=3 "
            "'--config.data.root=/data/my corpus' >"  # quoted: the line runs as printed
        ) in lines[fold]
    assert lines[3].endswith("--folds=0,1,2 --config.seed=3 '--config.data.root=/data/my corpus'")
    assert not (REPO / "runs" / "cv").exists()


def test_parallel_launch_runs_per_gpu_processes_of_each_fold_and_seed_at_once(tmp_path):
    """--seeds makes one process per fold and seed; --per-gpu 2 keeps at most two on each GPU,
    without preallocating its memory. A stand-in python records each call and how many ran."""
    fake = tmp_path / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        f"cd {tmp_path}\n"
        'echo "$CUDA_VISIBLE_DEVICES|${XLA_PYTHON_CLIENT_PREALLOCATE:-}|$*" >> calls\n'
        "[[ -z ${CUDA_VISIBLE_DEVICES:-} ]] && exit 0  # the closing summary\n"
        "flock lock bash -c 'n=$(( $(cat running 2>/dev/null || echo 0) + 1 )); echo $n > running;"
        " echo \"$CUDA_VISIBLE_DEVICES $n\" >> peaks'\n"
        "sleep 1.5\n"
        "flock lock bash -c 'echo $(( $(cat running) - 1 )) > running'\n"
    )
    fake.chmod(0o755)
    done = subprocess.run(
        ["bash", "launch/cross_validate_parallel.sh", "--gpus", "0", "--per-gpu", "2", "--folds",
         "0,1", "--seeds", "6,7", "configs/resnet18_mel.py", str(tmp_path / "cv"),
         "--config.seed=3"],
        cwd=REPO, capture_output=True, text=True, timeout=120, env={"PATH": "/usr/bin:/bin",
                                                                    "PYTHON": str(fake)},
    )
    assert done.returncode == 0, done.stderr
    calls = (tmp_path / "calls").read_text().splitlines()
    runs = sorted(line for line in calls if line.startswith("0|"))
    assert runs == sorted(
        f"0|false|-m jax_ser.cross_validate --config configs/resnet18_mel.py --workdir "
        f"{tmp_path / 'cv'} --folds={fold} --seeds={seed} --config.seed=3"
        for fold in (0, 1) for seed in (6, 7)
    )
    assert calls[-1].endswith("--folds=0,1 --seeds=6,7 --config.seed=3")  # after every run
    assert max(int(line.split()[1]) for line in (tmp_path / "peaks").read_text().splitlines()) == 2
    assert {p.name for p in tmp_path.glob("cv.*.log")} == {
        f"cv.fold{fold}_seed{seed}.log" for fold in (0, 1) for seed in (6, 7)}


def test_emobox_protocol_runs_its_folds_and_names_missing_actors(tmp_path, monkeypatch):
    """EmoBox folds are emobox:1..6; on actors 01-20 only, the folds testing 21-24 are refused
    before anything trains."""
    from jax_ser.data.synthetic import file_name

    corpus = tmp_path / "ravdess"
    for actor in range(1, 21):  # empty files: the reader parses names only
        for emotion in (1, 5):
            (corpus / f"Actor_{actor:02d}").mkdir(parents=True, exist_ok=True)
            (corpus / f"Actor_{actor:02d}" / file_name(emotion, 1, 1, 1, actor)).touch()
    runs = []

    def fake_run(config, workdir):
        runs.append((config.data.split, workdir.name))
        return {"data": {"test_speakers": ["ravdess/04"]}, "test": {"ua": 0.5, "wa": 0.5,
                "macro_f1": 0.5}, "best_epoch": 1, "train_time_s": 1.0}

    monkeypatch.setattr(loop, "train_and_evaluate", fake_run)
    config = tiny(corpus, **{"data.split": "emobox:1", "train.progress_bar": False})
    with pytest.raises(errors.DataError) as error:
        cross_validation.cross_validate(config, tmp_path / "cv")
    message = str(error.value)
    for fold, actor in ((1, 21), (3, 23), (4, 24), (6, 22)):
        assert f"EmoBox fold {fold} tests on" in message and f"actor {actor} is not" in message
    assert "--folds=2,5" in message and not runs
    rows = cross_validation.cross_validate(config, tmp_path / "cv", folds=["2", "5"])
    assert runs == [("emobox:2", "emobox2_seed0"), ("emobox:5", "emobox5_seed0")]
    assert [r["fold"] for r in rows] == [2, 5]


def fake_run(config, run_dir):
    """A finished run without training: fold K scores 0.1 * (K + 1)."""

    run_dir.mkdir(parents=True)
    workdir_lib.save_or_check_config(config, run_dir)
    fold = int(config.data.split.split(":")[1])
    scores = {m: 0.1 * (fold + 1) for m in tables.METRICS}
    results = {"data": {"test_speakers": [f"speaker{fold}"]}, "test": scores,
               "best_epoch": 1, "train_time_s": 1.0}
    (run_dir / "metrics.json").write_text(json.dumps(results))
    return results


def test_summary_counts_the_folds_of_earlier_commands_of_the_same_config(
    tiny_corpus, tmp_path, capsys
):
    config = tiny(tiny_corpus, **{"train.progress_bar": False})
    cross_validation.cross_validate(config, tmp_path, folds=["0"], train_fn=fake_run)
    rows = cross_validation.cross_validate(config, tmp_path, folds=["1"], train_fn=fake_run)
    assert [(r["fold"], r["ua"]) for r in rows] == [(0, 0.1), (1, 0.2)]
    table = (tmp_path / "summary.md").read_text()
    assert "| 2 runs | 0.150 ± 0.071" in table and "speaker0" in table
    # runs of another config stay out of this config's table, and are named
    other = tiny(tiny_corpus, **{"train.progress_bar": False, "train.learning_rate": 0.1})
    rows = cross_validation.cross_validate(other, tmp_path, folds=["2"], train_fn=fake_run)
    assert [r["fold"] for r in rows] == [2]
    assert "fold0_seed0 was run with another config (train.learning_rate" in capsys.readouterr().err


def test_summary_counts_a_fold_that_finished_beside_it(tiny_corpus, tmp_path):
    """Two commands on folds 0 and 1 of one workdir: fold 0 finishes while fold 1 trains, and
    the table fold 1's command writes last still holds fold 0."""
    config = tiny(tiny_corpus, **{"train.progress_bar": False})

    def run_with_fold0_beside(run_config, run_dir):
        cross_validation.cross_validate(config, tmp_path, folds=["0"], train_fn=fake_run)
        return fake_run(run_config, run_dir)

    rows = cross_validation.cross_validate(config, tmp_path, folds=["1"],
                                         train_fn=run_with_fold0_beside)
    assert [r["fold"] for r in rows] == [0, 1]
    assert "| 2 runs | 0.150 ± 0.071" in (tmp_path / "summary.md").read_text()
    assert not list(tmp_path.glob("*.tmp*"))


def test_seed_ensembles_average_the_test_probabilities_of_each_group(tmp_path):
    classes = ["neutral", "calm"]

    def write(fold, seed, probs, paths=("a.wav", "b.wav")):
        run_dir = tmp_path / f"fold{fold}_seed{seed}"
        run_dir.mkdir()
        with open(run_dir / "predictions_test.jsonl", "w") as f:
            for path, label, p in zip(paths, classes, probs):
                f.write(json.dumps({"path": path, "speaker": f"ravdess/0{fold}", "label": label,
                                    "probs": dict(zip(classes, p))}) + "\n")

    # alone, seeds 0 and 1 each get one of the two utterances right; their mean gets both
    write(0, 0, [[0.9, 0.1], [0.6, 0.4]])
    write(0, 1, [[0.4, 0.6], [0.1, 0.9]])
    write(0, 2, [[0.1, 0.9], [0.9, 0.1]])  # a group of one: left out
    def read(*runs):
        return {run: tables.test_predictions(tmp_path / f"fold{run[0]}_seed{run[1]}")
                for run in runs}

    rows = tables.ensemble_rows(read((0, 0), (0, 1), (0, 2)), 2, classes)
    assert [(r["fold"], r["seeds"], r["ua"]) for r in rows] == [(0, "0+1", 1.0)]
    assert rows[0]["test_speakers"] == "ravdess/00"
    table = tables.write_ensemble_tables(rows, tmp_path, 2)
    assert "| 0 | 0+1 | ravdess/00 | 1.000 | 1.000 | 1.000 |" in table
    assert (tmp_path / "ensemble.csv").read_text().startswith("fold,seeds,test_speakers,ua")
    # groups of three: seed 2 tips the mean of both utterances to the wrong class
    rows = tables.ensemble_rows(read((0, 0), (0, 1), (0, 2)), 3, classes)
    assert [(r["seeds"], r["ua"]) for r in rows] == [("0+1+2", 0.0)]
    write(1, 0, [[0.9, 0.1], [0.6, 0.4]])
    write(1, 1, [[0.4, 0.6], [0.1, 0.9]], paths=("a.wav", "c.wav"))

    with pytest.raises(errors.DataError, match="did not test the same utterances"):
        tables.ensemble_rows(read((1, 0), (1, 1)), 2, classes)


def test_ensembles_group_only_the_folds_and_seeds_asked_for(tmp_path):
    """The summary takes in every finished run of the workdir, the seed ensembles only those
    asked for: seeds 8 and 9, finished beside 6 and 7, do not make a group of --seeds=6,7."""
    from jax_ser.data import labels

    config = tiny(tmp_path)
    classes = labels.task_classes(config.data.task)
    rows = []
    for fold, seed in [(0, 6), (0, 7), (0, 8), (0, 9), (1, 6), (1, 7)]:
        run_dir = tmp_path / f"fold{fold}_seed{seed}"
        run_dir.mkdir()
        right = seed in (6, 7)  # seeds 6 and 7 label every utterance right, 8 and 9 wrong
        with open(run_dir / "predictions_test.jsonl", "w") as f:
            for i, label in enumerate(classes):
                guess = classes[i if right else (i + 1) % len(classes)]
                f.write(json.dumps({"path": f"{label}.wav", "speaker": f"ravdess/0{fold}",
                                    "label": label,
                                    "probs": {c: float(c == guess) for c in classes}}) + "\n")
        rows.append({"fold": fold, "seed": seed})

    def groups(**asked):
        return [(r["fold"], r["seeds"], r["ua"])
                for r in cross_validation.seed_ensembles(config, tmp_path, rows, 2, **asked)]

    assert groups(seeds=["6", "7"]) == [(0, "6+7", 1.0), (1, "6+7", 1.0)]
    assert groups(folds=["1"], seeds=["6", "7"]) == [(1, "6+7", 1.0)]
    assert groups(seeds=["6", "7", "8", "9"]) == [(0, "6+7", 1.0), (0, "8+9", 0.0),
                                                   (1, "6+7", 1.0)]
    assert groups() == []  # the config's own seed, 0, has no runs here


def test_a_key_the_schema_gained_counts_as_its_default(tiny_corpus, tmp_path):
    """A run saved before a key existed ran with it off: the same config reads it back, one
    that turns the key on is another config."""

    config = tiny(tiny_corpus, **{"adapt.bn_statistics": "speaker"})
    workdir_lib.save_or_check_config(config, tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    del saved["adapt"]["speaker_im_steps"]  # as written before the key was added
    (tmp_path / "config.json").write_text(json.dumps(saved))
    assert workdir_lib.config_changes(config, tmp_path) == []
    config.adapt.speaker_im_steps = 30
    assert workdir_lib.config_changes(config, tmp_path) == ["adapt.speaker_im_steps: 0 -> 30"]
