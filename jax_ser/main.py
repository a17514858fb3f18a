"""Train and evaluate one config: `python -m jax_ser.main --config configs/X.py --workdir DIR`.

Any field can be overridden, e.g. `--config.data.corpus=ravdess --config.data.root=/data/RAVDESS`.
Running again on the same workdir resumes the run.
"""

import sys

from absl import app, flags, logging
from ml_collections import config_flags

from jax_ser import config as config_lib, input_pipeline, train


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # orbax and jax log every step of a save at INFO
    try:
        results = train.train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
    except (config_lib.ConfigError, input_pipeline.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(results, flags.FLAGS.workdir))
    return 0


def summary(results: dict, workdir: str) -> str:
    lines = [
        f"split {results['split']}, best epoch {results['best_epoch']} of {results['epochs_run']}"
    ]
    for part in ("val", "test"):
        if part in results:
            r = results[part]
            lines.append(
                f"{part:>5}: UA {r['ua']:.4f}  WA {r['wa']:.4f}  macro-F1 {r['macro_f1']:.4f}  "
                f"(n={r['n']})"
            )
    bad = results["data"]["bad_files"]["count"]
    if bad:
        lines.append(f"skipped {bad} unreadable files (listed in metrics.json)")
    lines.append(
        f"outputs in {workdir}: metrics.json, confusion_*.png, checkpoints/, tensorboard/, log.txt"
    )
    return "\n".join(lines)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    config_flags.DEFINE_config_file(
        "config", None, "Experiment config file (configs/*.py).", lock_config=True
    )
    flags.DEFINE_string("workdir", None, "Folder for everything the run produces; resumes from it.")
    flags.mark_flags_as_required(["config", "workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
