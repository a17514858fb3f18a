"""Test scores of finished runs again, with evaluation-only settings changed, without training.

  python -m jax_ser.reevaluate --workdir runs/ravdess_best --set train.speaker_im_steps=30

An evaluation-time method (test-time crops, speaker BatchNorm statistics, fitting each speaker's
BatchNorm layers) is measured best on the same trained weights with and without it. For each
finished run in the workdir (a run, or a cross_validate folder of them) the best checkpoint
labels the run's test speakers under the run's saved config with the --set changes, which may
only touch the keys in EVALUATION_KEYS; the table, each run's test UA / WA / macro-F1 from its
metrics.json and with the changes, is written to reevaluate.md in the workdir. --ensemble=N
also scores each fold's seeds in groups of N with the changes, as cross_validate --ensemble
scores them as trained (reevaluate_ensemble.md). The runs' own files are left as they are.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from jax_ser import (adaptation_sets, config as config_lib, cross_validate, input_pipeline,
                     metrics, predict, train)

EVALUATION_KEYS = ("data.eval_crops", "train.eval_batch_size", "train.bn_statistics",
                   "train.speaker_im_steps", "train.speaker_im_lr")


def parse_changes(items: list[str]) -> dict:
    """{"section.key": value} from "section.key=value" strings, values as Python literals."""
    changes = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or key not in EVALUATION_KEYS:
            raise config_lib.ConfigError(
                f"--set {item!r}: give KEY=VALUE with KEY one of {', '.join(EVALUATION_KEYS)} "
                "(the others change what was trained)")
        try:
            changes[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            changes[key] = text
    return changes


def rescore(run_dir: Path, changes: dict) -> tuple[dict[str, float], dict[str, dict]]:
    """One run's test part labelled under its config with `changes`: {ua, wa, macro_f1} and
    {path: line} as in predictions_test.jsonl."""
    predictor = predict.Predictor(run_dir)
    config = predictor.config
    for key, value in changes.items():
        section, field = key.split(".")
        config[section][field] = value
    config_lib.validate(config)
    run = train.Run(config)
    state = run.init(load_pretrained=False).replace(params=predictor.state.params,
                                                    model_state=predictor.state.model_state)
    _, parts, decoded = train.load_data(config)
    test = parts["test"]
    waves = [decoded.waves[u.path] for u in test]
    probs = run.predict_probs(state, waves,
                              speaker_stats=train.speaker_statistics(config, test, waves),
                              speakers=[u.speaker_key for u in test])
    index = {c: i for i, c in enumerate(run.class_names)}
    report = metrics.classification_report(np.array([index[u.label] for u in test]), probs,
                                           run.class_names)
    lines = {u.path: train.prediction_line(u, p, run.class_names) for u, p in zip(test, probs)}
    return {m: report[m] for m in cross_validate.METRICS}, lines


def fold_and_seed(run_dir: Path) -> tuple[int, int] | None:
    """(fold, seed) of a cross_validate run folder (fold3_seed1, emobox2_seed0), else None."""
    match = re.fullmatch(r"[a-z]+(\d+)_seed(\d+)", run_dir.name)
    return (int(match[1]), int(match[2])) if match else None


def write_table(rows: list[dict], changes: dict, workdir: Path) -> str:
    """reevaluate.md: each run's test scores as trained and with `changes`, then mean ± std."""
    what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    lines = [f"Test scores as evaluated in training and with {what}", "",
             "| run | UA | WA | macro-F1 | UA, changed | WA, changed | macro-F1, changed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | " + " | ".join(
            f"{r[k][m]:.3f}" for k in ("before", "after") for m in cross_validate.METRICS) + " |")
    lines.append(f"| **mean ± std, {len(rows)} runs** | " + " | ".join(
        cross_validate.mean_std([r[k][m] for r in rows])
        for k in ("before", "after") for m in cross_validate.METRICS) + " |")
    table = "\n".join(lines) + "\n"
    (workdir / "reevaluate.md").write_text(table)
    return table


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    workdir = Path(flags.FLAGS.workdir)
    try:
        changes = parse_changes(flags.FLAGS.set)
        dirs = adaptation_sets.run_dirs(workdir)
        if not dirs:
            raise FileNotFoundError(f"no finished run in {workdir}")
        input_pipeline.hide_gpus_from_tf()
        size = flags.FLAGS.ensemble
        runs = {run_dir: fold_and_seed(run_dir) for run_dir in dirs}
        if size > 1 and not any(runs.values()):
            raise ValueError(f"--ensemble={size}: {workdir} holds no cross_validate runs")
        rows, predictions = [], {}
        for run_dir in dirs:
            before = json.loads((run_dir / "metrics.json").read_text())["test"]
            after, lines = rescore(run_dir, changes)
            rows.append({"run": run_dir.name,
                         "before": {m: before[m] for m in cross_validate.METRICS},
                         "after": after})
            if runs[run_dir]:
                predictions[runs[run_dir]] = lines
            print(f"{run_dir.name}: UA {rows[-1]['before']['ua']:.3f} -> "
                  f"{rows[-1]['after']['ua']:.3f}", file=sys.stderr)
        print(write_table(rows, changes, workdir))
        if size > 1:
            class_names = json.loads((dirs[0] / "metrics.json").read_text())["data"]["classes"]
            groups = cross_validate.ensemble_rows(predictions, size, class_names)
            if not groups:
                raise ValueError(f"--ensemble={size}: no fold has {size} finished seeds")
            what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
            print(cross_validate.write_ensemble_tables(
                groups, workdir, size, name="reevaluate_ensemble", title=f", with {what}"))
    except (config_lib.ConfigError, ValueError, FileNotFoundError, input_pipeline.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_string("workdir", None, "A finished run, or a cross_validate folder of them.")
    flags.DEFINE_multi_string("set", [], f"KEY=VALUE, KEY one of {', '.join(EVALUATION_KEYS)}.")
    flags.DEFINE_integer("ensemble", 1, "Also score each fold's seeds in groups of this many "
                         "with the changes (reevaluate_ensemble.md); 1 = off.")
    flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
