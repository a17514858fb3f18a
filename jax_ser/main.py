"""Train and evaluate one config: `python -m jax_ser.main --config configs/X.py [--workdir DIR]`,
or `jax-ser-train --config X` with the package installed (X: a config's name or file).

Any field can be overridden, e.g. `--config.data.corpus=ravdess --config.data.root=/data/RAVDESS`.
The workdir defaults to a new runs/<config name>/<date-time>; running again on the same workdir
resumes the run.

Several processes (hosts) train one run together when each is started with the same command and
JAX_COORDINATOR_ADDRESS=host:port, JAX_NUM_PROCESSES and its own JAX_PROCESS_ID, or on a cluster
that jax.distributed detects by itself (Cloud TPU pod, SLURM, Open MPI). Each process reads its
own slice of every batch; process 0 writes the outputs.
"""

import os
import sys
from pathlib import Path

import jax
from absl import app, flags, logging

from jax_ser import errors
from jax_ser.config import cli
from jax_ser.models.pretrained import hf_checkpoint


def init_distributed() -> bool:
    """Join the run's other processes, before anything starts a JAX backend; True if joined."""
    env = os.environ
    if "JAX_COORDINATOR_ADDRESS" in env:  # jax reads the address itself
        count, index = env.get("JAX_NUM_PROCESSES"), env.get("JAX_PROCESS_ID")
        jax.distributed.initialize(
            num_processes=int(count) if count else None,
            process_id=int(index) if index else None,
        )
        return True
    try:  # a cluster jax detects supplies all three
        jax.distributed.initialize()
        return True
    except ValueError:  # none detected (jax 0.10 raises rather than skip): a single process
        return False


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # orbax and jax log every step of a save at INFO
    config, workdir = flags.FLAGS.config, flags.FLAGS.workdir
    if init_distributed() and workdir is None:
        print("error: --workdir is required when several processes train one run", file=sys.stderr)
        return 2
    try:
        hf_checkpoint.prefetch(config.model)  # no network: say so before the data loads
        # Imported here: the flag parser refuses a mistyped or ill-typed override before main
        # runs, and that error should not wait for TensorFlow's import (seconds).
        from jax_ser.train import loop, state

        state.use_cpu_devices(config)

        if workdir is None:
            workdir = cli.default_workdir(flags.FLAGS["config"].config_filename)
            print(f"workdir {workdir} (resume with --workdir={workdir})", flush=True)
        results = loop.train_and_evaluate(config, workdir)
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(summary(results, workdir))
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
    model_files = "classical.joblib" if classical else "checkpoints/" + (
        ", tensorboard/" if (Path(workdir) / "tensorboard").is_dir() else "")
    lines.append(f"outputs in {workdir}: metrics.json, confusion_*.png, reliability_*.png, "
                 f"predictions_*.jsonl, {model_files}, log.txt")
    return "\n".join(lines)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    cli.define_config_flag("Experiment config.")
    flags.DEFINE_string("workdir", None, "Folder for everything the run produces; an existing "
                        "one resumes its run. Default: a new runs/<config name>/<date-time>.")
    flags.mark_flags_as_required(["config"])


def run():
    """The jax-ser-train command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
