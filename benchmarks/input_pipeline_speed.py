"""Does the input pipeline keep up? Samples/s that jax_ser's tf.data train pipeline delivers
against samples/s the config's train step consumes, on the same batches, in one process.

  python -m benchmarks.input_pipeline_speed [--config configs/resnet18_mel.py] [--corpus ravdess]
      [--steps 30]

The waveforms come the way training gets them (load.load_data: corpus, split, cached decoding);
the pipeline is timed from the start of each epoch's tf.data iterator, so its start-up counts, as
it does in training. The two are timed one after the other: in training they overlap and share
the host, so the pipeline needs headroom, not just parity.
"""

import itertools
import time
from pathlib import Path

import jax
import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from benchmarks import common
from jax_ser.data import batches as batches_lib
from jax_ser.data import labels, load
from jax_ser.train import trainer

REPO = Path(__file__).resolve().parents[1]
RAVDESS = REPO.parent / "shared" / "data" / "ravdess"


def training_data(config) -> tuple[list[np.ndarray], np.ndarray]:
    """The training part's decoded waveforms and label indices, as train_and_evaluate has them."""
    _, parts, decoded = load.load_data(config)
    index = {c: i for i, c in enumerate(labels.task_classes(config.data.task))}
    waves = [decoded.waves[u.path] for u in parts["train"]]
    return waves, np.array([index[u.label] for u in parts["train"]], np.int32)


def benchmark(config, *, steps: int = 30) -> dict:
    """Prints samples/s of the pipeline and of the train step and their ratio; returns them."""
    batches_lib.hide_gpus_from_tf()
    waves, targets = training_data(config)
    batch_size = config.train.batch_size
    run = trainer.Trainer(config, steps_per_epoch=max(1, len(waves) // batch_size))

    def batches():
        """Epoch after epoch, as the training loop asks for them."""
        for epoch in itertools.count():
            yield from batches_lib.train_batches(
                waves, targets, global_batch=batch_size, clip_samples=run.clip_samples,
                seed=config.seed, epoch=epoch)

    next(batches())  # TensorFlow's one-time start-up
    start = time.perf_counter()
    delivered = list(itertools.islice(batches(), steps))
    pipeline = (time.perf_counter() - start) / steps

    holder = {"state": run.init()}
    cycle = itertools.cycle(delivered)

    def step():
        batch = next(cycle)
        holder["state"], metrics = run.train_step(
            holder["state"], {k: run.to_global(v) for k, v in batch.items()})
        return metrics

    consumed = common.seconds_per_call(step, steps)
    figures = {"pipeline": batch_size / pipeline, "train_step": batch_size / consumed,
               "ratio": consumed / pipeline}
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; corpus "
          f"{config.data.corpus} ({len(waves)} training utterances, split {config.data.split}), "
          f"model {config.model.name}, batch {batch_size} x {config.data.clip_seconds:g} s, "
          f"{steps} batches")
    common.print_table(("stage", "samples/s", "ms per batch"), [
        ("tf.data train pipeline (crop, batch)", figures["pipeline"], 1e3 * pipeline),
        (f"train step ({config.model.name}, median)", figures["train_step"], 1e3 * consumed),
    ])
    print(f"ratio pipeline / train step samples/s: {figures['ratio']:.1f}x")
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)  # the decode cache logs its reads at INFO
    config = flags.FLAGS.config
    if flags.FLAGS.corpus == "ravdess":
        if not RAVDESS.is_dir():
            print(f"RAVDESS not found at {RAVDESS}: skipping (use --corpus synthetic)")
            return 0
        config.data.corpus, config.data.root = "ravdess", str(RAVDESS)
    benchmark(config, steps=flags.FLAGS.steps)
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    config_flags.DEFINE_config_file(
        "config", str(REPO / "configs" / "resnet18_mel.py"), "Experiment config file.",
        lock_config=True)
    flags.DEFINE_enum("corpus", "synthetic", ["synthetic", "ravdess"],
                      f"Built-in synthetic corpus, or RAVDESS from {RAVDESS}.")
    flags.DEFINE_integer("steps", 30, "Batches timed through the pipeline and the step.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
