"""Train steps of the small CNN and EfficientNet-B0 with jax_ser's CPU-fast layers against the
same steps built from flax's native max-pool and grouped convolution, in one process.

  python -m benchmarks.cpu_layers_speed [--batch 32] [--seconds 3] [--steps 3]

Both steps are `Trainer(config).train_step` (jax_ser.train.trainer) on the same batch: features,
forward, backward and AdamW in one jitted call. The reference traces the models with `_layers` told
it is not on a CPU, so they use nn.max_pool and nn.Conv(feature_group_count=C), as on a GPU or TPU.
"""

from pathlib import Path
from unittest import mock

import jax
import numpy as np
from absl import app, flags

from benchmarks import common
from jax_ser.models import _layers

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"cnn": "configs/cnn_logmel_mfcc.py", "efficientnet_b0": "configs/efficientnet_b0_mel.py"}


def step_fn(config, waves, targets, native: bool):
    """A jitted train step traced with the native or the CPU-fast layers, and the metrics of its
    first call (the trace), from the config's initial weights."""
    step, _, _ = common.jax_train_step(config, waves, targets)
    with mock.patch.object(_layers, "_on_cpu", lambda: not native):
        first = jax.device_get(step())
    return step, first


def benchmark(*, batch: int = 32, seconds: float = 3.0, steps: int = 3,
              models: tuple[str, ...] = tuple(CONFIGS)) -> dict:
    """Prints ms per step of both builds and their ratio; returns {model: {figure: value}}."""
    waves = common.speech_clips(batch, seconds)
    targets = np.random.default_rng(0).integers(0, 8, batch).astype(np.int32)
    rows, figures = [], {}
    for name in models:
        config = common.load_config(REPO / CONFIGS[name])
        config.train.batch_size = batch
        config.data.clip_seconds = seconds
        (fast_step, fast_first), (native_step, native_first) = (
            step_fn(config, waves, targets, native) for native in (False, True)
        )
        # The same maths: the first step's loss from the same weights and batch must agree.
        if not np.isclose(fast_first["loss"], native_first["loss"], rtol=1e-4):
            raise AssertionError(f"{name}: loss {fast_first['loss']} with the CPU layers, "
                                 f"{native_first['loss']} with flax's")
        fast, native = common.compare({"fast": fast_step, "native": native_step}, steps).values()
        figures[name] = {"cpu_layers_s": fast, "native_s": native, "speedup": native / fast}
        rows += [(name, "jax_ser CPU layers", 1e3 * fast, native / fast),
                 (name, "flax native ops", 1e3 * native, 1.0)]
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; batch {batch} x "
          f"{seconds:g} s, median of {steps} steps")
    common.print_table(("model", "layers", "ms per step", "speed vs native"), rows)
    for name, f in figures.items():  # jax_ser's CPU layers against flax's own ops
        common.print_ratio(name, "flax_ops", f["speedup"])
    return figures


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    benchmark(batch=f.batch, seconds=f.seconds, steps=f.steps, models=tuple(f.models))


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_integer("batch", 32, "Global batch size.")
    flags.DEFINE_float("seconds", 3.0, "Crop length, as data.clip_seconds.")
    flags.DEFINE_integer("steps", 3, "Timed steps per build; the median is reported.")
    flags.DEFINE_list("models", list(CONFIGS), f"Models to compare, of {', '.join(CONFIGS)}.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
