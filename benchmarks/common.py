"""What the speed benchmarks share: configs, timing, speech-like audio and the printed table."""

import time

import jax
import numpy as np

from jax_ser import config as config_lib
from jax_ser.data import synthetic
from jax_ser.train import trainer


def load_config(path: str):
    return config_lib.load_module(path).get_config()


def jax_train_step(config, waves: np.ndarray, targets: np.ndarray):
    """`trainer.Trainer(config).train_step` on one fixed batch, as a call without arguments that
    carries its own train state forward (what training runs); also the Run and the number of
    parameters. Nothing is traced until the first call."""
    run = trainer.Trainer(config, steps_per_epoch=100)
    holder = {"state": run.init()}
    num_params = sum(x.size for x in jax.tree.leaves(holder["state"].params))
    batch = {"wave": run.to_global(waves), "label": run.to_global(targets)}

    def step():
        holder["state"], metrics = run.train_step(holder["state"], batch)
        return metrics

    return step, run, num_params


def seconds_per_call(fn, repeats: int) -> float:
    """Median wall time of `fn()` after one untimed call (compilation, caches, thread pools)."""
    return compare({"": fn}, repeats)[""]


def compare(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall time of each of `fns`, called in turn `repeats` times after one untimed call
    each, so that a change in the machine's load between calls hits every contender alike."""
    for fn in fns.values():
        jax.block_until_ready(fn())
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(fn())
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def speech(seconds: float, seed: int = 0, sample_rate: int = 16000,
           pause_seconds: tuple[float, float] = (0.0, 0.0)) -> np.ndarray:
    """`seconds` of the synthetic corpus's voice: takes of random speakers and emotions one after
    another, with pauses of faint noise drawn from `pause_seconds`; cut to length.

    Speech rather than white noise, so trimming, padding and feature values are those of real use.
    """
    rng = np.random.default_rng(seed)
    codes = synthetic.takes()
    total = int(round(seconds * sample_rate))
    pieces, length = [], 0
    while length < total:
        actor = int(rng.integers(1, 25))
        take = synthetic.take(actor, *codes[rng.integers(len(codes))], seed=seed,
                              sample_rate=sample_rate)
        pause = 1e-3 * rng.standard_normal(int(rng.uniform(*pause_seconds) * sample_rate))
        pieces += [take, pause.astype(np.float32)]
        length += len(take) + len(pause)
    return np.concatenate(pieces)[:total]


def speech_clips(num: int, seconds: float, seed: int = 0,
                 sample_rate: int = 16000) -> np.ndarray:
    """[num, seconds * sample_rate] float32 clips, each the start of `speech(seconds, seed + i)`."""
    return np.stack([speech(seconds, seed + i, sample_rate) for i in range(num)])


def print_ratio(what: str, reference: str, ratio: float) -> None:
    """The machine-readable verdict a benchmark ends with: `<what>: ratio jax_ser/<reference>:
    <X>x`, jax_ser's speed over the reference's, timed in one process in turns."""
    print(f"{what}: ratio jax_ser/{reference}: {ratio:.2f}x")


def print_table(header: tuple[str, ...], rows: list[tuple]) -> None:
    """A Markdown table: text left-aligned, numbers right-aligned, as in the README."""
    cells = [[_number(c) if isinstance(c, float) else f"{c:,}" if isinstance(c, int) else c
              for c in row] for row in rows]
    numeric = [isinstance(c, (int, float)) for c in rows[0]]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]

    def line(values):
        return "| " + " | ".join(v.rjust(w) if n else v.ljust(w)
                                 for v, w, n in zip(values, widths, numeric)) + " |"

    print(line(header))
    print("|" + "|".join(("-" * (w + 1) + ":") if n else "-" * (w + 2)
                         for w, n in zip(widths, numeric)) + "|")
    for row in cells:
        print(line(row))


def _number(x: float) -> str:
    """Three significant figures or more: 12,345 / 123 / 12.3 / 1.23 / 0.0123."""
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.3g}" if abs(x) < 1 else f"{x:.{2 - int(np.floor(np.log10(abs(x))))}f}"
