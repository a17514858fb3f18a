"""Label recordings with a trained run: one JSON line per audio file.

  python -m jax_ser.predict --workdir runs/demo rec1.wav folder/ [--output preds.jsonl]
      [--plot timeline.png] [--speakers folder|one|file|speakers.csv]
  python -m jax_ser.predict --workdir runs/demo --dataset ravdess [--data_dir D]

Several workdirs (--workdir runs/a,runs/b) label as an ensemble: the mean of their probabilities.
A recording longer than the training window is labelled where there is speech, in segments
(jax_ser.evaluate.model). A file that cannot be read gets an `error` line and the others are still
labelled. A model trained with features.normalize=speaker or adapt.bn_statistics=speaker adapts to
each speaker's files, grouped by --speakers (default: each folder is one speaker); each line then
names its speaker group. --dataset labels every utterance of a corpus prepared by jax_ser.prepare
(with the run's data settings), each speaker's recordings adapted to as a group.
"""

from __future__ import annotations

import contextlib
import json
import sys
from typing import Iterator

import jax
from absl import app, flags, logging
from tqdm import tqdm

from jax_ser import errors
from jax_ser.data import corpora
from jax_ser.evaluate import long_recordings, speaker_groups
from jax_ser.evaluate import model as model_lib


def main(argv):
    f = flags.FLAGS
    csv_speakers = f.speakers.lower().endswith(".csv")
    if f.dataset:
        return label_dataset(f)
    if len(argv) < 2 and not csv_speakers:
        raise app.UsageError("give audio files or folders to label")
    if not f.workdir:
        raise app.UsageError("--workdir is required")
    try:
        model = model_lib.load(f.workdir)
        paths = corpora.expand(argv[1:]) if len(argv) > 1 else list(
            speaker_groups.read_csv(f.speakers))
        if model.needs_speaker:
            how = f.speakers or "folder"
            groups = speaker_groups.group(paths, how)
            logging.info("the model adapts to the speaker: %d files in %d speaker groups "
                         "(--speakers=%s)", len(paths), len(groups), how)
        else:
            groups = {None: paths}
            if f.speakers:
                logging.info("--speakers ignored: the model does not adapt to the speaker")
    except (FileNotFoundError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    out = open(f.output, "w") if f.output else sys.stdout
    lines = []
    with tqdm(total=len(paths), unit="file", disable=None) as bar:
        for speaker, files in groups.items():
            for line in label_group(model, speaker, files, f.hop_seconds):
                out.write(json.dumps(line) + "\n")
                out.flush()
                lines.append(line)
                bar.update()
    if out is not sys.stdout:
        out.close()
    errors = sum("error" in line for line in lines)
    logging.info("labelled %d files (%d unreadable) on %s", len(lines), errors,
                 jax.devices()[0].platform)
    if f.output:
        print(f"wrote {len(lines)} predictions ({errors} unreadable files) to {f.output}",
              file=sys.stderr)
    if f.plot:
        long_recordings.plot_timeline(lines, f.plot)
        print(f"wrote the emotion timeline to {f.plot}", file=sys.stderr)
    return 0


def label_dataset(f) -> int:
    """--dataset: every utterance of the prepared corpus, a line each."""
    if not f.workdir:
        raise app.UsageError("--workdir is required")
    try:
        lines = model_lib.load(f.workdir).predict_dataset(f.dataset, f.data_dir)
        with open(f.output, "w") if f.output else contextlib.nullcontext(sys.stdout) as out:
            count = 0
            for line in tqdm(lines, unit="utterance", disable=None):
                out.write(json.dumps(line) + "\n")
                count += 1
    except (FileNotFoundError, ValueError, errors.DataError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    logging.info("labelled %d utterances of the prepared %s", count, f.dataset)
    return 0


def label_group(model, speaker, files, hop_seconds) -> Iterator[dict]:
    """Lines of one speaker's files, by the model adapted to them where it adapts."""
    if speaker is None:
        yield from model.predict_files(files, hop_seconds)
        return
    try:
        adapted = model.adapt(files, speaker=speaker)
    except ValueError as e:  # none of the speaker's files is readable
        for path in files:
            yield {"path": path, "speaker": speaker, "error": str(e)}
        return
    yield from adapted.predict_files(files, hop_seconds)


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_list("workdir", None, "Workdir of a finished training run; several, comma-"
                      "separated, label as an ensemble (their probabilities averaged).")
    flags.DEFINE_string("output", "", "JSON-lines file to write; default: standard output.")
    flags.DEFINE_float(
        "hop_seconds", 0.0, "Hop of the windows on long recordings; 0 = half the training window."
    )
    flags.DEFINE_string(
        "speakers", "", "For models that adapt to the speaker: which files are one speaker's: "
        "folder (each folder; the default), one (all files), file (each file alone), or a CSV "
        "of path,speaker (paths relative to the CSV; with no files given, its files).")
    flags.DEFINE_string("plot", "", "PNG to draw the files' emotion timelines in.")
    flags.DEFINE_string("dataset", "", "Instead of files: a corpus prepared by jax_ser.prepare "
                        "(ravdess, ...), every utterance labelled.")
    flags.DEFINE_string("data_dir", "", "With --dataset: the TFDS data folder; '' = "
                        "$TFDS_DATA_DIR or ~/tensorflow_datasets.")


def run():
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
