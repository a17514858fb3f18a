"""Speaker-independent cross-validation in one command, with a mean ± std table.

  python -m jax_ser.cross_validate --config configs/resnet18_mel.py --workdir runs/cv \
      [--folds=0,1] [--seeds=0,1] [--config.data.corpus=ravdess --config.data.root=...]

(jax-ser-cross-validate --config resnet18_mel ... installed; without --workdir, a new
runs/<config name>/cross_validate-<date-time>.)

Every run of the protocol that data.split names (jax_ser.protocols) is trained: fold (default:
data.fold_size consecutive speakers at a time), loso (every speaker in turn), session (every
recording session, IEMOCAP), emobox (EmoBox's six RAVDESS folds); an argument in data.split
(fold:2) is ignored, --folds picks runs (fold numbers, speakers or sessions). final and random
have no runs to cross-validate and are refused. Each run and seed is an ordinary run in
<workdir>/<protocol><K>_seed<S> (fold0_seed0, emobox2_seed1, loso-ravdess-03_seed0):
interrupted, it resumes; finished, it is not run again. One seed on a few held-out speakers swings
by several points, so the table reports every run and the mean and sample standard deviation over
all of them. It counts every finished run of the workdir, also runs that earlier commands or
commands beside it finished, except runs made with another config, which it names and leaves out.
--ensemble=N also scores seed ensembles: each fold's seeds in groups of N, their test
probabilities averaged (ensemble.md, ensemble.csv). Unlike the summary, it groups only the folds
and seeds asked for, so seeds finished beside them do not change the groups.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

from jax_ser.config import cli
from jax_ser.errors import ConfigError, DataError
from jax_ser.evaluate import tables
from jax_ser.models.pretrained import hf_checkpoint
from jax_ser.train import state
from jax_ser.train.cross_validation import cross_validate, seed_ensembles


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    workdir = flags.FLAGS.workdir
    try:
        hf_checkpoint.prefetch(flags.FLAGS.config.model)  # no network: say so before any data
        state.use_cpu_devices(flags.FLAGS.config)
        if workdir is None:
            workdir = cli.default_workdir(flags.FLAGS["config"].config_filename, "cross_validate")
            print(f"workdir {workdir} (resume with --workdir={workdir})", flush=True)
        rows = cross_validate(flags.FLAGS.config, workdir, flags.FLAGS.folds, flags.FLAGS.seeds)
    except (ConfigError, DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    workdir = Path(workdir)
    print(tables.write_tables(rows, workdir))
    print(f"tables in {workdir / 'summary.md'} and summary.csv")
    size = flags.FLAGS.ensemble
    if size > 1:
        groups = seed_ensembles(flags.FLAGS.config, workdir, rows, size, flags.FLAGS.folds,
                                flags.FLAGS.seeds)
        if not groups:
            print(f"error: --ensemble={size}: no fold has {size} of the seeds asked for finished",
                  file=sys.stderr)
            return 2
        print(tables.write_ensemble_tables(groups, workdir, size))
        print(f"ensemble tables in {workdir / 'ensemble.md'} and ensemble.csv")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    cli.define_config_flag("Experiment config.")
    flags.DEFINE_string("workdir", None, "Folder holding one run folder per fold and seed; an "
                        "existing one resumes. Default: a new runs/<config name>/"
                        "cross_validate-<date-time>.")
    flags.DEFINE_list("folds", [], "Runs to train: fold numbers (fold:K from 0, emobox:K from 1), "
                      "speakers (loso) or sessions; default: every run of the protocol.")
    flags.DEFINE_list("seeds", [], "Seeds to run; default: the config's seed.")
    flags.DEFINE_integer("ensemble", 1, "Also score seed ensembles: each fold's seeds in groups "
                         "of this many, their test probabilities averaged (ensemble.md); 1 = off.")
    flags.mark_flags_as_required(["config"])


def run():
    """The jax-ser-cross-validate command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
