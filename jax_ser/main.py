"""Train and evaluate one config: `python -m jax_ser.main --config configs/X.py --workdir DIR`.

Any field can be overridden, e.g. `--config.data.corpus=ravdess --config.data.root=/data/RAVDESS`.
Running again on the same workdir resumes the run.

Several processes (hosts) train one run together when each is started with the same command and
JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and its own JAX_PROCESS_ID, or on a cluster
that jax.distributed detects by itself (Cloud TPU pod, SLURM, Open MPI). Each process reads its
own slice of every batch; process 0 writes the outputs.
"""

import os
import sys

import jax
from absl import app, flags, logging
from ml_collections import config_flags

from jax_ser import errors


def init_distributed() -> None:
    """Join the run's other processes, before anything starts a JAX backend."""
    env = os.environ
    if "JAX_COORDINATOR_ADDRESS" in env:  # jax reads the address itself
        count, index = env.get("JAX_NUM_PROCESSES"), env.get("JAX_PROCESS_ID")
        jax.distributed.initialize(
            num_processes=int(count) if count else None,
            process_id=int(index) if index else None,
        )
        return
    try:  # a cluster jax detects supplies all three
        jax.distributed.initialize()
    except ValueError:  # none detected (jax 0.10 raises rather than skip): a single process
        pass


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # orbax and jax log every step of a save at INFO
    # Imported here: the flag parser refuses a mistyped or ill-typed override before main runs,
    # and that error should not wait for TensorFlow's import (seconds).
    from jax_ser.train import loop

    init_distributed()
    try:
        results = loop.train_and_evaluate(flags.FLAGS.config, flags.FLAGS.workdir)
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(results, flags.FLAGS.workdir))
    return 0


def summary(results: dict, workdir: str) -> str:
    classical = results["model"]["name"] == "classical"
    lines = [
        f"split {results['split']}, "
        + (
            f"scikit-learn {results['model']['estimator']}"
            if classical
            else f"best epoch {results['best_epoch']} of {results['epochs_run']}"
        )
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
    model_files = "classical.joblib" if classical else "checkpoints/, tensorboard/"
    lines.append(f"outputs in {workdir}: metrics.json, confusion_*.png, reliability_*.png, "
                 f"predictions_*.jsonl, {model_files}, log.txt")
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
