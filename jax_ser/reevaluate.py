"""Test scores of finished runs again, with evaluation-only settings changed, without training.

  python -m jax_ser.reevaluate --workdir runs/ravdess_best --set adapt.speaker_im_steps=30

An evaluation-time method (test-time crops, speaker BatchNorm statistics, fitting each speaker's
BatchNorm layers) is measured best on the same trained weights with and without it. For each
finished run in the workdir (a run, or a cross_validate folder of them) the best checkpoint
labels the run's test speakers under the run's saved config with the --set changes, which may
only touch the keys of the config's evaluation-time sections, eval and adapt; the table, each run's test UA / WA / macro-F1 from its
metrics.json and with the changes, is written to reevaluate.md in the workdir. --ensemble=N
also scores each fold's seeds in groups of N with the changes, as cross_validate --ensemble
scores them as trained (reevaluate_ensemble.md). The runs' own files are left as they are.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

import numpy as np
from absl import app, flags, logging

from jax_ser import config as config_lib
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import batches, load
from jax_ser.errors import ConfigError, DataError
from jax_ser.evaluate import metrics, report, tables, trained
from jax_ser.evaluate.runner import Runner

EVALUATION_SECTIONS = ("eval", "adapt")  # the schema's evaluation-time sections


def parse_changes(items: list[str]) -> dict:
    """{"section.key": value} from "section.key=value" strings, values as Python literals; the
    key must lie in an evaluation-time section (old names of such keys are read as today's)."""
    schema = config_lib.base_config(model={"name": "cnn"})
    changes = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = workdir_lib.MOVED.get(key, key)
        section, _, field = key.partition(".")
        if not sep or section not in EVALUATION_SECTIONS or field not in schema[section]:
            known = ", ".join(f"{s}.{k}" for s in EVALUATION_SECTIONS for k in schema[s])
            raise ConfigError(f"--set {item!r}: give KEY=VALUE with KEY one of {known} (the "
                              "others change what was trained)")
        try:
            changes[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            changes[key] = text
    return changes


def rescore(run_dir: Path, changes: dict) -> tuple[dict[str, float], dict[str, dict]]:
    """One run's test part labelled under its config with `changes`: {ua, wa, macro_f1} and
    {path: line} as in predictions_test.jsonl."""
    model = trained.Trained(run_dir)
    config = model.config
    for key, value in changes.items():
        section, field = key.split(".")
        config[section][field] = value
    config_lib.validate(config)
    run = Runner(config)
    state = run.init(load_pretrained=False).replace(params=model.state.params,
                                                    model_state=model.state.model_state)
    _, parts, decoded = load.load_data(config)
    test = parts["test"]
    probs = run.probs(state, [decoded.waves[u.path] for u in test],
                      speakers=[u.speaker_key for u in test])
    index = {c: i for i, c in enumerate(run.class_names)}
    scores = metrics.classification_report(np.array([index[u.label] for u in test]), probs,
                                           run.class_names)
    lines = {u.path: report.prediction_line(u, p, run.class_names) for u, p in zip(test, probs)}
    return {m: scores[m] for m in tables.METRICS}, lines


def write_table(rows: list[dict], changes: dict, workdir: Path) -> str:
    """reevaluate.md: each run's test scores as trained and with `changes`, then mean ± std."""
    what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
    lines = [f"Test scores as evaluated in training and with {what}", "",
             "| run | UA | WA | macro-F1 | UA, changed | WA, changed | macro-F1, changed |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['run']} | " + " | ".join(
            f"{r[k][m]:.3f}" for k in ("before", "after") for m in tables.METRICS) + " |")
    lines.append(f"| **mean ± std, {len(rows)} runs** | " + " | ".join(
        tables.mean_std([r[k][m] for r in rows])
        for k in ("before", "after") for m in tables.METRICS) + " |")
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
        dirs = tables.run_dirs(workdir)
        if not dirs:
            raise FileNotFoundError(f"no finished run in {workdir}")
        batches.hide_gpus_from_tf()
        size = flags.FLAGS.ensemble
        runs = {run_dir: tables.run_key(run_dir) for run_dir in dirs}
        if size > 1 and not any(runs.values()):
            raise ValueError(f"--ensemble={size}: {workdir} holds no cross_validate runs")
        rows, predictions = [], {}
        for run_dir in dirs:
            before = json.loads((run_dir / "metrics.json").read_text())["test"]
            after, lines = rescore(run_dir, changes)
            rows.append({"run": run_dir.name,
                         "before": {m: before[m] for m in tables.METRICS},
                         "after": after})
            if runs[run_dir]:
                _, arg, seed = runs[run_dir]
                predictions[tables.fold_column(arg), seed] = lines
            print(f"{run_dir.name}: UA {rows[-1]['before']['ua']:.3f} -> "
                  f"{rows[-1]['after']['ua']:.3f}", file=sys.stderr)
        print(write_table(rows, changes, workdir))
        if size > 1:
            class_names = json.loads((dirs[0] / "metrics.json").read_text())["data"]["classes"]
            groups = tables.ensemble_rows(predictions, size, class_names)
            if not groups:
                raise ValueError(f"--ensemble={size}: no fold has {size} finished seeds")
            what = ", ".join(f"{k}={v!r}" for k, v in changes.items())
            print(tables.write_ensemble_tables(
                groups, workdir, size, name="reevaluate_ensemble", title=f", with {what}"))
    except (ConfigError, ValueError, FileNotFoundError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_string("workdir", None, "A finished run, or a cross_validate folder of them.")
    flags.DEFINE_multi_string("set", [], "KEY=VALUE, KEY in the eval or adapt section, e.g. "
                              "adapt.speaker_im_steps=30.")
    flags.DEFINE_integer("ensemble", 1, "Also score each fold's seeds in groups of this many "
                         "with the changes (reevaluate_ensemble.md); 1 = off.")
    flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
