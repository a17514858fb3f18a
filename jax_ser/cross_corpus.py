"""Cross-corpus evaluation in one command: a train × test matrix of UA, WA and macro-F1.

  python -m jax_ser.cross_corpus --config configs/resnet18_mel.py --workdir runs/xc \
      --train=ravdess,tess,ravdess+tess --test=ravdess,tess \
      --roots=ravdess=/data/RAVDESS,tess=/data/TESS [--classes=neutral,happy,sad,angry]

Each --train item (corpora joined by "+") is one ordinary training run, loop.train_and_evaluate,
in <workdir>/train_<item>, with the config's split (data.split) over that item's speakers. Every
run and every test uses the same classes: those all the named corpora have after the config's task
(data.task, jax_ser.data.labels) maps their labels, or --classes; utterances of other classes are
left out. Each cell then tests one corpus:
  - a corpus the run did not train on: every one of its utterances, through the best checkpoint;
  - a corpus it trained on: only the speakers of that corpus the run's split held out (its test
    part), so the cell stays speaker-independent; "—" when the split held out none of them
    (e.g. with data.split=final).
A cell's result is kept in <workdir>/train_<item>/test_<corpus>.json and read back, and a finished
run is not trained again, so an interrupted matrix resumes where it stopped. The matrix goes to
cross_corpus.md (one table per metric) and cross_corpus.csv (a row per cell). Corpus roots come
from --roots, else from the config's data.corpus / data.root pairs; synthetic needs none.
Installed: jax-ser-cross-corpus --config resnet18_mel ...; without --workdir, a new
runs/<config name>/cross_corpus-<date-time>.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import app, flags, logging

from jax_ser import errors
from jax_ser.config import cli
from jax_ser.models.pretrained import hf_checkpoint
from jax_ser.train import cross_corpus as matrix
from jax_ser.train import state


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    FLAGS = flags.FLAGS
    workdir = FLAGS.workdir
    try:
        hf_checkpoint.prefetch(FLAGS.config.model)  # no network: say so before any data
        state.use_cpu_devices(FLAGS.config)
        if workdir is None:
            workdir = cli.default_workdir(FLAGS["config"].config_filename, "cross_corpus")
            print(f"workdir {workdir} (resume with --workdir={workdir})", flush=True)
        cells = matrix.cross_corpus(FLAGS.config, workdir, FLAGS.train, FLAGS.test,
                                    FLAGS.roots, FLAGS.classes)
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(matrix.write_tables(cells, Path(workdir), FLAGS.config.data.split))
    print(f"tables in {Path(workdir) / 'cross_corpus.md'} and cross_corpus.csv")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    cli.define_config_flag("Experiment config.")
    flags.DEFINE_string("workdir", None, "Folder holding one run folder per training set; an "
                        "existing one resumes. Default: a new runs/<config name>/"
                        "cross_corpus-<date-time>.")
    flags.DEFINE_list("train", None, "Training sets: corpus names, several joined by '+'.")
    flags.DEFINE_list("test", None, "Test corpora.")
    flags.DEFINE_list("roots", [], "Corpus roots as name=path; default: the config's data.root.")
    flags.DEFINE_list("classes", [], "Classes to keep; default: those every corpus has.")
    flags.mark_flags_as_required(["config", "train", "test"])


def run():
    """The jax-ser-cross-corpus command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
