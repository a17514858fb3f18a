"""Label recordings with a trained run: one JSON line per audio file.

  python -m jax_ser.predict --workdir runs/demo rec1.wav folder/ [--output preds.jsonl]

Several workdirs (--workdir runs/a,runs/b) label as an ensemble: each file's probabilities, and
each segment's, are the mean of the runs'.

A recording longer than the training window is labelled by its windows (hop: half a window,
jax_ser.evaluate.trained). A file that cannot be read gets an `error` line and the others are still
labelled. A model trained with features.normalize=speaker or adapt.bn_statistics=speaker needs a speaker's
statistics: the readable files of one call are taken as one speaker's recordings, so label one
speaker per call.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Iterator

import jax
from absl import app, flags, logging

from jax_ser.data import batches, corpora
from jax_ser.evaluate import trained


def expand(paths: list[str]) -> Iterator[str]:
    """Files as given; folders walked for audio files of any accepted extension."""
    for p in paths:
        if os.path.isdir(p):
            yield from (str(f) for f in corpora.audio_files(p))
        else:
            yield p


def main(argv):
    if len(argv) < 2:
        raise app.UsageError("give audio files or folders to label")
    if not flags.FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    batches.hide_gpus_from_tf()
    try:
        models = trained.load(flags.FLAGS.workdir)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    paths = list(expand(argv[1:]))
    speakers = []
    for model in models:
        speaker = None
        if model.needs_speaker:
            try:
                speaker = model.adapt(paths)
            except ValueError as e:
                print(f"error: {e}", file=sys.stderr)
                return 2
            logging.info("the model adapts to the speaker (%s): the %d files are taken as one "
                         "speaker's", ", ".join(m.__name__.rpartition(".")[2]
                                                for m in model.runner.adapters), len(paths))
        speakers.append(speaker)
    out = open(flags.FLAGS.output, "w") if flags.FLAGS.output else sys.stdout
    count = errors = 0
    try:
        for path in paths:
            lines = [m.predict_file(path, flags.FLAGS.hop_seconds, speaker)
                     for m, speaker in zip(models, speakers)]
            line = trained.mean_line(lines, models[0].label) if len(lines) > 1 else lines[0]
            errors += "error" in line
            count += 1
            out.write(json.dumps(line) + "\n")
            out.flush()
    finally:
        if out is not sys.stdout:
            out.close()
    logging.info(
        "labelled %d files (%d unreadable) on %s", count, errors, jax.devices()[0].platform
    )
    if flags.FLAGS.output:
        print(
            f"wrote {count} predictions ({errors} unreadable files) to {flags.FLAGS.output}",
            file=sys.stderr,
        )
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_list("workdir", None, "Workdir of a finished training run; several, comma-"
                      "separated, label as an ensemble (their probabilities averaged).")
    flags.DEFINE_string("output", "", "JSON-lines file to write; default: standard output.")
    flags.DEFINE_float(
        "hop_seconds", 0.0, "Hop of the sliding window; 0 = half the training window."
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
