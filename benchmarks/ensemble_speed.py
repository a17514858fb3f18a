"""Seed ensembles in one step (train.ensemble_size): time per epoch for K members.

  python -m benchmarks.ensemble_speed [--config configs/ravdess_best.py] [--sizes 1,2,4,8]
      [--epoch_clips 840] [--repeats 5]

Each K trains `Trainer(config).train_step` with K members stacked (what training runs) on fixed
batches [K, 32, 3 s] of speech-like audio; sizes are timed in turns, so a change in the machine's
load hits each alike. An epoch is epoch_clips / batch steps (840: RAVDESS fold 0's training
clips). The last line is the verdict, `ensemble K=<max>: ratio time/epoch K=<max> / K=1: <X>x`
(the target on a GPU: within 2x); K separate runs take K x.
"""

import argparse

import jax
import numpy as np

from benchmarks import common
from jax_ser.frontend import features
from jax_ser.train import state, trainer


def ensemble_step(config, size: int, waves: np.ndarray, targets: np.ndarray, vectorize=None):
    """The train step of `size` members on fixed batches, as a call without arguments."""
    config = config.copy_and_resolve_references()
    config.train.ensemble_size = size
    run = trainer.Trainer(config, steps_per_epoch=100, vectorize=vectorize)
    holder = {"state": run.init()}
    stack = (lambda x: np.stack([x] * size)) if size > 1 else (lambda x: x)
    batch = {"wave": waves, "label": targets}
    if config.features.normalize == "speaker":  # each clip's speaker statistics: identity
        f = features.num_features(run.feature_config)
        batch["speaker_stats"] = np.tile(np.float32([[0.0] * f, [1.0] * f]), (len(waves), 1, 1))
    batch = {k: run.to_batch(stack(v)) for k, v in batch.items()}

    def step():
        holder["state"], metrics = run.train_step(holder["state"], batch)
        return metrics

    return step


def benchmark(config, sizes=(1, 2, 4, 8), epoch_clips: int = 840, repeats: int = 5,
              name: str = "", vectorize: bool | None = None) -> dict[int, float]:
    """Seconds per epoch of each ensemble size, timed in turns; prints the table and verdict.
    `vectorize`: vmap the members (default: on accelerators; steps.ensemble_step)."""
    batch = config.train.batch_size
    samples = round(config.data.clip_seconds * config.data.sample_rate)
    waves = np.stack([common.speech(config.data.clip_seconds, seed=i)[:samples]
                      for i in range(batch)])
    targets = np.arange(batch, dtype=np.int32) % 8
    seconds = common.compare({k: ensemble_step(config, k, waves, targets, vectorize)
                              for k in sizes}, repeats)
    per_epoch = max(1, epoch_clips // batch)
    print(f"{jax.devices()[0].device_kind}, {name}, batch {batch}, "
          f"{per_epoch} steps per epoch of {epoch_clips} clips")
    print(f"{'members':>8} {'s/step':>8} {'s/epoch':>8} {'member-clips/s':>15} {'x K=1':>6}")
    for k in sizes:
        print(f"{k:>8} {seconds[k]:8.3f} {seconds[k] * per_epoch:8.1f} "
              f"{k * batch / seconds[k]:15.1f} {seconds[k] / seconds[sizes[0]]:6.2f}")
    largest = max(sizes)
    print(f"ensemble K={largest}: ratio time/epoch K={largest} / K={sizes[0]}: "
          f"{seconds[largest] / seconds[sizes[0]]:.2f}x")
    return {k: seconds[k] * per_epoch for k in sizes}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/ravdess_best.py")
    p.add_argument("--sizes", default="1,2,4,8")
    p.add_argument("--epoch_clips", type=int, default=840)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--vectorize", action=argparse.BooleanOptionalAction, default=None,
                   help="vmap the members (default: on GPU and TPU, not on CPU)")
    args = p.parse_args()
    config = common.load_config(args.config)
    state.use_cpu_devices(config)  # as training splits its batches
    benchmark(config, [int(k) for k in args.sizes.split(",")],
              args.epoch_clips, args.repeats, args.config, args.vectorize)


if __name__ == "__main__":
    main()
