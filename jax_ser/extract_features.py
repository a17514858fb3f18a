"""Frame-level features of a speech encoder for every utterance, for models that train on them.

  python -m jax_ser.extract_features --config configs/wav2vec2_base_cls.py --output feats/w2v_l6 \
      --layer=6 [--config.data.corpus=ravdess --config.data.root=/data/RAVDESS]

`--layer`: k = the output of transformer layer k (0 = the CNN projection, -1 = the last), or `cnn`
for the conv feature extractor's output (512-dim). Each whole utterance is encoded (no crop). The
output folder gets features.npz (float16 frames of all utterances, offsets, paths) and meta.json.
Train on them with any frame model, e.g. the LSTM or Query2Label:
  python -m jax_ser.main --config configs/<lstm or q2l config>.py --workdir W \
      --config.data.precomputed=feats/w2v_l6 --config.features.name=precomputed ...
"""

from __future__ import annotations

import sys

from absl import app, flags, logging

from jax_ser import errors
from jax_ser.config import cli
from jax_ser.models.pretrained import extract


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    try:
        meta = extract.extract(flags.FLAGS.config, flags.FLAGS.output, flags.FLAGS.layer)
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(
        f"wrote {meta['num_utterances']} utterances of {meta['dim']}-dim layer-{meta['layer']} "
        f"frames ({meta['frame_rate']:g} per second) to {flags.FLAGS.output}"
    )
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    cli.define_config_flag("An encoder config (model.name = wav2vec2).")
    flags.DEFINE_string("output", None, "Folder for features.npz and meta.json.")
    flags.DEFINE_string(
        "layer", "-1", "Transformer layer k (0 = input of the first, -1 = last) or 'cnn'."
    )
    flags.mark_flags_as_required(["config", "output"])


def run():
    """The jax-ser-extract-features command."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
