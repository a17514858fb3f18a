from jax_ser.train import trainer

"""Speed of a wav2vec2-base-sized encoder in jax_ser: audio seconds processed per second.

  python -m benchmarks.encoder_speed [--config configs/wav2vec2_base_cls.py]
      [--batch 4] [--seconds 3]

Inference is the jitted evaluation step (features + encoder + head); training is the jitted train
step of the config (frozen CNN feature encoder, AdamW), both on random weights of the checkpoint's
architecture (the built-in preset: no download). Prints the device and audio-s/s for each.
"""

import argparse

import jax
import numpy as np

from benchmarks.common import load_config, seconds_per_call


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", default="configs/wav2vec2_base_cls.py")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    config = load_config(args.config)
    config.model.init = "random"
    config.data.clip_seconds = args.seconds
    config.train.batch_size = args.batch
    run = trainer.Trainer(config, steps_per_epoch=10)
    state = run.init()
    params = sum(x.size for x in jax.tree.leaves(state.params))
    rng = np.random.default_rng(0)
    wave = rng.normal(size=(args.batch, run.clip_samples)).astype(np.float32)
    audio_seconds = args.batch * args.seconds

    crops = {"wave": run.to_global(wave[:, None])}
    infer = seconds_per_call(lambda: run.eval_step(state, crops), args.repeats)
    batch = {
        "wave": run.to_global(wave),
        "label": run.to_global(rng.integers(0, 8, args.batch).astype(np.int32)),
    }
    holder = {"state": state}

    def step():
        holder["state"], metrics = run.train_step(holder["state"], batch)
        return metrics

    training = seconds_per_call(step, args.repeats)
    print(
        f"device: {jax.devices()[0].device_kind} x{jax.device_count()}; model "
        f"{config.model.checkpoint} ({params / 1e6:.1f}M parameters), batch {args.batch} x "
        f"{args.seconds:g} s"
    )
    print(f"inference: {audio_seconds / infer:8.1f} audio-s/s ({infer:.3f} s per batch)")
    print(f"training:  {audio_seconds / training:8.1f} audio-s/s ({training:.3f} s per step)")
    print(f"inference: RTF: {infer / audio_seconds:.4f}")  # no reference: compute s per audio s
    print(f"training: RTF: {training / audio_seconds:.4f}")


if __name__ == "__main__":
    main()
