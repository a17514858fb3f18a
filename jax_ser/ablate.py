"""Ablations: every cell of a grid of config overrides, cross-validated, in one mean ± std table.

  python -m jax_ser.ablate --config configs/ablations/sequence_length.py --workdir runs/abl_seq \
      [--folds=0,1] [--seeds=0,1] [--cells=0,3] [--list_cells] [--config.data.corpus=...]

The config file defines `get_config()` (the base) and `get_grid()`: an ordered dict from an axis
name to its values. An axis named by a config key ("train.learning_rate") takes plain values; any
other axis ("representation") takes a dict from a value's name to the overrides it stands for.
Cells are the product of the axes. Each cell is a `jax_ser.cross_validate` run in
<workdir>/<cell name>, so an interrupted ablation resumes where it stopped, and finished runs are
read back. `--cells` runs a subset (to spread cells over hosts: launch/ablate_hosts.sh).
Installed: jax-ser-ablate --config ablations/sequence_length ...; without --workdir, a new
runs/<config name>/ablate-<date-time>.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging
from ml_collections import config_flags

from jax_ser import errors
from jax_ser.config import cli
from jax_ser.models.pretrained import hf_checkpoint
from jax_ser.train import ablation, state


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    FLAGS = flags.FLAGS
    config_file = config_flags.get_config_filename(FLAGS["config"])
    workdir = FLAGS.workdir
    try:
        grid = ablation.load_grid(config_file)
        if FLAGS.list_cells:
            for index, (name, _) in enumerate(ablation.cells(grid)):
                print(f"{index}\t{name}")
            return 0
        hf_checkpoint.prefetch(FLAGS.config.model)  # no network: say so before any data
        state.use_cpu_devices(FLAGS.config)
        if workdir is None:
            workdir = cli.default_workdir(config_file, "ablate")
            print(f"workdir {workdir} (resume with --workdir={workdir})", flush=True)
        only = {int(c) for c in FLAGS.cells} if FLAGS.cells else None
        rows = ablation.ablate(FLAGS.config, grid, workdir, FLAGS.folds, FLAGS.seeds, only)
        if not rows:
            raise FileNotFoundError(f"no finished cell in {workdir}")
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(ablation.write_tables(rows, Path(workdir)))
    print(f"tables in {Path(workdir) / 'ablation.md'} and ablation.csv")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    cli.define_config_flag("Ablation config (defines get_config and get_grid).")
    flags.DEFINE_string("workdir", None, "Folder holding one cross-validation folder per cell; "
                        "an existing one resumes. Default: a new runs/<config name>/"
                        "ablate-<date-time>.")
    flags.DEFINE_list("folds", [], "Fold indices to run; default: every fold of the corpus.")
    flags.DEFINE_list("seeds", [], "Seeds to run; default: the config's seed.")
    flags.DEFINE_list("cells", [], "Cell indices to run (see --list_cells); default: all.")
    flags.DEFINE_bool("list_cells", False, "Print the cells, one 'index<TAB>name' per line.")
    flags.mark_flags_as_required(["config"])


def run():
    """The jax-ser-ablate command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
