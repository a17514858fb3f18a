"""Export a trained run as a TensorFlow SavedModel (and optionally TFLite) that labels raw
16 kHz waveforms, the whole front end inside (jax_ser.evaluate.export, docs/export.md).

  python -m jax_ser.export --workdir runs/demo --output exported/demo [--format tflite]

Several workdirs (--workdir runs/a,runs/b) export as an ensemble. A model trained with
features.normalize=speaker or adapt.bn_statistics=speaker is exported adapted to one speaker's
recordings, --speaker_files (files or folders).
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from jax_ser.data import batches, corpora
from jax_ser.evaluate import export as export_lib
from jax_ser.evaluate import model as model_lib


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    FLAGS = flags.FLAGS
    if not FLAGS.workdir:
        raise app.UsageError("--workdir is required")
    batches.hide_gpus_from_tf()
    files = corpora.expand(FLAGS.speaker_files or [])
    try:
        model = model_lib.load(FLAGS.workdir)
        if model.needs_speaker and files:
            model = model.adapt(files)
        elif files:
            logging.warning("the model does not adapt to the speaker: --speaker_files ignored")
        info = export_lib.export(model.members, model.adapted, FLAGS.output, FLAGS.format,
                                 speaker_files=len(files) if model.needs_speaker else 0,
                                 tflite_seconds=FLAGS.tflite_seconds or None)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    wrote = f"SavedModel ({info['saved_model_bytes']} bytes)"
    if "tflite" in info:
        wrote += f", {export_lib.TFLITE_FILE} ({info['tflite']['bytes']} bytes)"
    print(f"wrote {wrote} and {export_lib.FILE} to {FLAGS.output} in "
          f"{info['export_seconds']:.0f} s", file=sys.stderr)
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_list("workdir", None, "Workdir of a finished training run; several, comma-"
                      "separated, export as an ensemble (their probabilities averaged).")
    flags.DEFINE_string("output", None, "Folder to write the SavedModel and "
                        "jax_ser_export.json to.")
    flags.DEFINE_enum("format", "saved_model", list(export_lib.FORMATS),
                      "saved_model, or tflite: model.tflite beside the SavedModel as well.")
    flags.DEFINE_list("speaker_files", [], "Recordings of one speaker (files or folders) that a "
                      "model adapting to the speaker is exported adapted to.")
    flags.DEFINE_float("tflite_seconds", 0.0, "Longest recording the TFLite model takes "
                       "(its fixed input length); 0 = the training window.")
    flags.mark_flags_as_required(["output"])


def run():
    """The jax-ser-export command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
