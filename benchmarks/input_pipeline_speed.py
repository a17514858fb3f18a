"""Does the input pipeline keep up, and what does it hold? The training pipeline from folders (the
decode cache: every waveform in memory) against the same run's prepared TFDS dataset (records
read as batches ask for them): start-up, samples/s and peak memory, each source in a fresh
process; and the samples/s the config's train step consumes, in another.

  python -m benchmarks.input_pipeline_speed [--config configs/resnet18_mel.py] [--corpus ravdess]
      [--steps 300] [--data_dir D]

--corpus ravdess (../shared/data/ravdess) or ravdess,tess (with ../shared/data/tess), or
synthetic. The corpora are prepared into --data_dir (default: a folder under the data cache) and
decoded into the folder cache first, untimed, so both sources start warm, as every run after the
first does. Start-up is the time from the run's data call (load.load_data) to its first training
batch. The pipeline is timed alone: in training it shares the host with the step, so it needs
headroom, not just parity.
"""

from __future__ import annotations

import itertools
import multiprocessing
import resource
import time
from pathlib import Path

import numpy as np
from absl import app, flags, logging
from ml_collections import config_flags

from benchmarks import common
from jax_ser.data import cache

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
H200_SAMPLES_PER_S = 1700  # the lent H200's ResNet18 epoch: 1,200 clips in about 0.7 s


def pipeline(config, source: str, steps: int) -> dict:
    """Start-up, samples/s over `steps` batches and peak memory of this process's training
    pipeline reading `source` (folders or tfds)."""
    from jax_ser.data import batches, labels, load, precomputed

    config.data.source = source
    start = time.perf_counter()
    _, parts, decoded = load.load_data(config)
    index = {c: i for i, c in enumerate(labels.task_classes(config.data.task))}
    waves = decoded.of(parts["train"])
    targets = np.array([index[u.label] for u in parts["train"]], np.int32)
    clip = precomputed.input_shape(config)[0]

    def epochs():
        for epoch in itertools.count():
            yield from batches.train_batches(waves, targets, global_batch=config.train.batch_size,
                                             clip_samples=clip, seed=config.seed, epoch=epoch)

    stream = epochs()
    next(stream)
    startup = time.perf_counter() - start
    start = time.perf_counter()
    for _ in itertools.islice(stream, steps):
        pass
    seconds = time.perf_counter() - start
    return {"startup_s": startup, "samples_per_s": steps * config.train.batch_size / seconds,
            "peak_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
            "train_utterances": len(waves), "library": batches.pipeline_library()}


def train_step(config, steps: int) -> float:
    """Samples/s of the config's train step on speech-like clips, after its compilation."""
    clips = common.speech_clips(config.train.batch_size, config.data.clip_seconds)
    targets = np.arange(config.train.batch_size, dtype=np.int32) % 8
    step, _, _ = common.jax_train_step(config, clips, targets)
    return config.train.batch_size / common.seconds_per_call(step, steps)


def warm_up(config) -> None:
    """Each corpus prepared (TFDS) and decoded into the folder cache, so both sources start
    warm."""
    from jax_ser.data import load, tfds_builder

    for name, root in load.corpus_list(config):
        tfds_builder.prepare(name, root or None, config.data)
    config.data.source = "folders"
    load.load_data(config)


def in_process(fn, *args):
    """fn(*args) in a fresh spawned process: its peak memory is its own."""
    with multiprocessing.get_context("spawn").Pool(1, maxtasksperchild=1) as pool:
        return pool.apply(fn, args)


def benchmark(config, *, steps: int = 300, step_repeats: int = 10, spawn: bool = True) -> dict:
    """Prints the table and the ratios; returns the figures. `spawn=False` runs everything in
    this process (a quick check: the peak memory is then the process's, not the source's)."""
    run = in_process if spawn else (lambda fn, *args: fn(*args))
    run(warm_up, config)
    figures = {source: run(pipeline, config, source, steps) for source in ("folders", "tfds")}
    consumed = run(train_step, config, step_repeats)
    folders, tfds = figures["folders"], figures["tfds"]
    print(f"corpus {config.data.corpus} ({tfds['train_utterances']} training utterances, split "
          f"{config.data.split}), batch {config.train.batch_size} x "
          f"{config.data.clip_seconds:g} s crops, {steps} batches, pipeline "
          f"{tfds['library']}")
    common.print_table(("source", "start-up s", "samples/s", "peak memory GB"), [
        (f"{name} ({'decode cache in memory' if name == 'folders' else 'ArrayRecord on disk'})",
         f["startup_s"], f["samples_per_s"], f["peak_gb"]) for name, f in figures.items()])
    print(f"train step ({config.model.name}, batch {config.train.batch_size}): "
          f"{consumed:.1f} samples/s")
    per_core = tfds["samples_per_s"] / multiprocessing.cpu_count()
    print(f"tfds pipeline per core: {per_core:.0f} samples/s; "
          f"{H200_SAMPLES_PER_S} samples/s (the H200's ResNet18 epoch) needs "
          f"{H200_SAMPLES_PER_S / per_core:.1f} cores at this rate")
    common.print_ratio("tfds pipeline", "folders",
                       tfds["samples_per_s"] / folders["samples_per_s"])
    common.print_ratio("tfds pipeline", "train_step", tfds["samples_per_s"] / consumed)
    return {"folders": folders, "tfds": tfds, "train_step": consumed, "per_core": per_core}


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    logging.set_verbosity(logging.WARNING)
    f = flags.FLAGS
    config = f.config
    names = [n for n in f.corpus.split(",") if n]
    if names != ["synthetic"]:
        missing = [n for n in names if not (SHARED / n).is_dir()]
        if missing:
            print(f"{', '.join(missing)} not found under {SHARED}: skipping "
                  "(use --corpus synthetic)")
            return 0
        config.data.corpus = ",".join(names)
        config.data.root = ",".join(str(SHARED / n) for n in names)
    config.data.data_dir = f.data_dir or str(cache.cache_dir(config.data) / "tfds")
    benchmark(config, steps=f.steps)
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    config_flags.DEFINE_config_file(
        "config", str(REPO / "configs" / "resnet18_mel.py"),
        "Experiment config file (its data and train sections).", lock_config=False)
    flags.DEFINE_string("corpus", "ravdess", "ravdess, ravdess,tess (from ../shared/data) or "
                        "synthetic.")
    flags.DEFINE_integer("steps", 300, "Batches timed through each pipeline.")
    flags.DEFINE_string("data_dir", "", "Where the corpora are prepared; default: under the "
                        "data cache.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
