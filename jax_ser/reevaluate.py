"""Test scores of finished runs again, with evaluation-only settings changed, without training.

  python -m jax_ser.reevaluate --workdir runs/ravdess_best --set adapt.speaker_im_steps=30

An evaluation-time method (test-time crops, speaker BatchNorm statistics, fitting each speaker's
BatchNorm layers) is measured best on the same trained weights with and without it. For each
finished run in the workdir (a run, or a cross_validate folder of them) the best checkpoint
labels the run's test speakers under the run's saved config with the --set changes, which may
only touch the keys of the config's evaluation-time sections, eval and adapt; the table, each run's
test UA / WA / macro-F1 from its metrics.json and with the changes, is written to reevaluate.md in
the workdir. --ensemble=N also scores each fold's seeds in groups of N with the changes, as
cross_validate --ensemble scores them as trained (reevaluate_ensemble.md). The runs' own files are
left as they are.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from absl import app, flags, logging

from jax_ser.errors import ConfigError, DataError
from jax_ser.evaluate import reevaluation, tables


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    workdir = Path(flags.FLAGS.workdir)
    try:
        changes = reevaluation.parse_changes(flags.FLAGS.set)
        dirs = tables.run_dirs(workdir)
        if not dirs:
            raise FileNotFoundError(f"no finished run in {workdir}")
        size = flags.FLAGS.ensemble
        runs = {run_dir: tables.run_key(run_dir) for run_dir in dirs}
        if size > 1 and not any(runs.values()):
            raise ValueError(f"--ensemble={size}: {workdir} holds no cross_validate runs")
        rows, predictions = [], {}
        for run_dir in dirs:
            before = json.loads((run_dir / "metrics.json").read_text())["test"]
            after, lines = reevaluation.rescore(run_dir, changes)
            rows.append({"run": run_dir.name,
                         "before": {m: before[m] for m in tables.METRICS},
                         "after": after})
            if runs[run_dir]:
                _, arg, seed = runs[run_dir]
                predictions[tables.fold_column(arg), seed] = lines
            print(f"{run_dir.name}: UA {rows[-1]['before']['ua']:.3f} -> "
                  f"{rows[-1]['after']['ua']:.3f}", file=sys.stderr)
        print(reevaluation.write_table(rows, changes, workdir))
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


def run():
    """The jax-ser-reevaluate command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
