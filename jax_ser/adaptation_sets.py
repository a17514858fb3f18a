"""How much a speaker-adapted model needs of a speaker: test UA when the speaker statistics come
from only some of their recordings.

  python -m jax_ser.adaptation_sets --workdir runs/ravdess_best [--seed 0]

A model with features.normalize=speaker or adapt.bn_statistics=speaker takes each test
speaker's statistics from all of their test recordings: on RAVDESS, 60 recordings covering every
emotion. A user may have fewer, or mostly one emotion. For each finished run in the workdir (a
run, or a cross_validate folder of them) and each set below, every test speaker's statistics
(feature and BatchNorm) come from that set of their recordings, and all of their recordings are
then labelled with them:
  all                  every test recording of the speaker (the run's own evaluation)
  half, 10             a random half of them, 10 of them
  neutral+calm+sad     only their recordings of these low-arousal classes
  other emotions       only the rest
The table is written to adaptation_sets.md in the workdir.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags

from jax_ser.errors import DataError
from jax_ser.evaluate import adaptation_sets, tables


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    workdir = Path(flags.FLAGS.workdir)
    dirs = tables.run_dirs(workdir)
    if not dirs:
        print(f"error: no finished run in {workdir}", file=sys.stderr)
        return 2
    try:
        rows = {d.name: adaptation_sets.set_scores(d, flags.FLAGS.seed) for d in dirs}
    except (ValueError, FileNotFoundError, DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(adaptation_sets.write_table(rows, workdir))
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_string("workdir", None, "A finished run, or a cross_validate folder of them.")
    flags.DEFINE_integer("seed", 0, "Seed of the random sets (half, 10).")
    flags.mark_flags_as_required(["workdir"])


def run():
    """The jax-ser-adaptation-sets command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
