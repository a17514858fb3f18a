"""Training-step speed of jax_ser against the same models in PyTorch, in one process.

  python -m benchmarks.train_step_speed [--batch 32] [--seconds 3] [--steps 5]

jax_ser's step is `Trainer(config).train_step` (jax_ser.train.trainer), exactly what training runs:
features from the waveforms, forward, backward, clipping and AdamW, all in one jitted call. The
PyTorch twins (benchmarks/torch_models.py) take the same waveforms and do the same work eagerly, in
the way a PyTorch SER script does: features with torch.stft and librosa's mel matrix inside the
step, a torchvision-style ResNet18 (same widths, strides and BatchNorm) or nn.LSTM, cross-entropy,
clip_grad_norm_ and AdamW with decay on the weights only. Both see the same batch, and their
parameter counts are printed and checked. Both use every core this process may use. On a shared,
oversubscribed host, also run it under `taskset -c 0`: PyTorch's OpenMP threads then lose far more
than XLA's, which skews the ratio. jax_ser's step runs on the devices JAX has: training splits
both models' batches over one CPU device per core (train.cpu_devices=0 in their configs), so
time it as `JAX_NUM_CPU_DEVICES=2 python -m benchmarks.train_step_speed` on a 2-core machine.
"""

import os
from pathlib import Path

import jax
import numpy as np
import torch
from absl import app, flags
from torch import nn

from benchmarks import common
from benchmarks.torch_models import adamw, torch_model

REPO = Path(__file__).resolve().parents[1]
CONFIGS = {"resnet18": "configs/resnet18_mel.py", "bilstm": "configs/bilstm_logmel.py"}


def torch_step_fn(config, model: nn.Module, waves: np.ndarray, targets: np.ndarray):
    """One eager training step on the batch: forward, cross-entropy, backward, clip, AdamW."""
    tc = config.train
    optimizer = adamw(model, tc.learning_rate, tc.weight_decay)
    waves, targets = torch.from_numpy(waves), torch.from_numpy(targets).long()
    model.train()

    def step():
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(model(waves), targets)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), tc.grad_clip_norm)
        optimizer.step()
        return loss.item()

    return step


def benchmark(*, batch: int = 32, seconds: float = 3.0, steps: int = 5,
              models: tuple[str, ...] = tuple(CONFIGS)) -> dict:
    """Prints samples/s of jax_ser's and PyTorch's step per model and their ratio; returns them
    with the parameter counts as {model: {figure: value}}."""
    torch.set_num_threads(len(os.sched_getaffinity(0)))  # the cores this process may use
    rng = np.random.default_rng(0)
    waves = common.speech_clips(batch, seconds)
    targets = rng.integers(0, 8, batch).astype(np.int32)
    rows, figures = [], {}
    for name in models:
        config = common.load_config(REPO / CONFIGS[name])
        config.train.batch_size = batch
        config.data.clip_seconds = seconds
        jax_step, run, jax_params = common.jax_train_step(config, waves, targets)
        torch.manual_seed(0)
        model = torch_model(config, len(run.class_names))
        torch_params = sum(p.numel() for p in model.parameters())
        # nn.LSTM has two bias vectors per gate where flax's cell has one: 4 * hidden per cell.
        if abs(torch_params - jax_params) > 0.01 * jax_params:
            raise AssertionError(f"{name}: PyTorch twin has {torch_params:,} parameters, "
                                 f"jax_ser {jax_params:,}")
        ours, theirs = common.compare(
            {"jax": jax_step, "torch": torch_step_fn(config, model, waves, targets)}, steps
        ).values()
        figures[name] = {"jax_params": jax_params, "torch_params": torch_params,
                         "jax_ser": batch / ours, "pytorch": batch / theirs, "ratio": theirs / ours}
        rows += [(name, "jax_ser (jit)", jax_params, batch / ours, 1e3 * ours, theirs / ours),
                 (name, "PyTorch (eager)", torch_params, batch / theirs, 1e3 * theirs, 1.0)]
    print(f"device: {jax.devices()[0].device_kind} x{jax.device_count()}, torch "
          f"{torch.__version__} with {torch.get_num_threads()} threads; batch {batch} x "
          f"{seconds:g} s, median of {steps} steps")
    common.print_table(("model", "implementation", "parameters", "samples/s", "ms per step",
                        "speed vs PyTorch"), rows)
    for name, f in figures.items():
        common.print_ratio(name, "pytorch", f["ratio"])
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
    flags.DEFINE_integer("steps", 5, "Timed steps per implementation; the median is reported.")
    flags.DEFINE_list("models", list(CONFIGS), f"Models to compare, of {', '.join(CONFIGS)}.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
