"""A corpus prepared once as a TensorFlow Dataset (ArrayRecord files of decoded, preprocessed
waveforms with their labels and speakers), for runs with --config.data.source=tfds.

  python -m jax_ser.prepare --corpus ravdess --root /data/RAVDESS [--data_dir D]
      [--sample_rate 16000 --trim_db 30 --normalize]

--root is the corpus's original folder (a manifest's CSV or JSONL file for --corpus manifest);
--data_dir defaults to $TFDS_DATA_DIR or ~/tensorflow_datasets. The preprocessing flags must be
those of the runs that read it (the data section's defaults are). jax_ser reads ArrayRecord files
(the default); --file_format tfrecord writes files for tfds.load's tf.data readers instead.
Unreadable files are skipped, listed and counted. Preparing again with the same settings reuses what
is there.
"""

from __future__ import annotations

import os
import sys

import ml_collections
from absl import app, flags, logging

from jax_ser.data import corpora, tfds_builder


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    f = flags.FLAGS
    data = ml_collections.ConfigDict(dict(
        data_dir=f.data_dir, sample_rate=f.sample_rate, trim_db=f.trim_db,
        normalize=f.normalize, num_workers=f.num_workers))
    try:
        builder = tfds_builder.prepare(f.corpus, f.root, data, f.file_format)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    meta = builder.info.metadata
    for row in meta["skipped"]:
        print(f"skipped {row['path']}: {row['reason']}", file=sys.stderr)
    size = sum(os.path.getsize(p) for p in builder.data_path.iterdir())
    print(f"{builder.name}/{builder.builder_config.name}: {len(meta['utterances'])} utterances, "
          f"{len(meta['skipped'])} files skipped, {size / 1e6:.0f} MB in {builder.data_path}")
    if f.file_format == "array_record":
        print(f"train from it: --config.data.source=tfds --config.data.corpus={f.corpus} "
              f"--config.data.data_dir={builder.data_path.parents[2]}")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_enum("corpus", None, corpora.names(), "The corpus to prepare.")
    flags.DEFINE_string("root", None, "The corpus's folder (a manifest: its file); not needed "
                        "for the built-in synthetic corpus.")
    flags.DEFINE_string("data_dir", "", "TFDS data folder; '' = $TFDS_DATA_DIR or "
                        "~/tensorflow_datasets.")
    flags.DEFINE_integer("sample_rate", 16000, "As config.data.sample_rate.")
    flags.DEFINE_float("trim_db", 30.0, "As config.data.trim_db (0: no trimming).")
    flags.DEFINE_boolean("normalize", True, "As config.data.normalize (peak normalisation).")
    flags.DEFINE_integer("num_workers", 2, "Decoding threads.")
    flags.DEFINE_enum("file_format", "array_record", tfds_builder.FILE_FORMATS,
                      "array_record: what jax_ser reads (random access); tfrecord: for tf.data "
                      "readers of tfds.load.")
    flags.mark_flags_as_required(["corpus"])


def run():
    """The jax-ser-prepare command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
