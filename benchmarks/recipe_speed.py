"""End-to-end training speed: jax_ser's configs/ravdess_augmented.py against the PyTorch recipe
(benchmarks/reference_recipe.py), an epoch each in turns, in one process, on the same clips.

  python -m benchmarks.recipe_speed --root ../shared/data/ravdess [--epochs 3]
  taskset -c 0 python -m benchmarks.recipe_speed --root ...        # one core each

Both train on the training speakers of fold 0 (840 RAVDESS clips): jax_ser with the config
(ravdess_augmented: half-width ResNet18 on 128-band log-mel of 3 s random crops computed in the
step, SpecAugment, mixup, label smoothing, gradient clipping, weight EMA, AdamW, batch 32), the
script with its own recipe_config() (the same model, features, augmentation and batch, with
dropout 0.3 and no clipping or EMA). jax_ser's epoch is what its training loop runs
(batches.train_batches' tf.data crops of jax_ser's decoded waves feeding Trainer.train_step);
PyTorch's is reference_recipe.train_epoch on the script's own decoded waves of the same
utterances (windows in the loop, features and eager step). Neither validates. The first epoch of
each (compilation, warm-up) is not timed; the figures are medians over the timed epochs.
Without --root the built-in synthetic corpus (480 clips, written to a temporary folder) is used.
jax_ser splits its batches over the config's train.cpu_devices (ravdess_augmented: one device per
core), as training does.
"""

import argparse
import tempfile

import jax
import numpy as np
import torch

from benchmarks import common, reference_recipe
from jax_ser.data import batches, labels, load, synthetic
from jax_ser.train import state, trainer


def jax_epochs(config, waves, targets):
    """A call per epoch of jax_ser's training on `waves` (epoch numbers from 0)."""
    tc = config.train
    run = trainer.Trainer(config, steps_per_epoch=len(waves) // tc.batch_size)
    holder = {"state": run.init(), "epoch": 0}

    def epoch():
        for batch in batches.train_batches(waves, targets, global_batch=tc.batch_size,
                                           clip_samples=run.clip_samples, seed=config.seed,
                                           epoch=holder["epoch"]):
            holder["state"], m = run.train_step(holder["state"],
                                                {k: run.to_batch(v) for k, v in batch.items()})
        holder["epoch"] += 1
        return m["loss"]

    return epoch


def torch_epochs(recipe, utterances):
    """A call per epoch of the PyTorch script with the settings `recipe` (a
    reference_recipe.recipe_config()) on its own waves of `utterances`, and its clips per epoch."""
    waves, kept, _ = reference_recipe.load_waves(recipe, utterances)
    classes = labels.task_classes(recipe.data.task)
    targets = np.array([classes.index(u.label) for u in kept], np.int64)
    rng = np.random.default_rng(recipe.seed)
    torch.manual_seed(recipe.seed)
    model, optimizer, schedule = reference_recipe.setup(recipe, len(classes), len(waves),
                                                        torch.device("cpu"))

    def epoch():
        losses = reference_recipe.train_epoch(recipe, model, optimizer, schedule, waves, targets,
                                              rng, torch.device("cpu"))
        return losses[-1]

    return epoch, len(waves) // recipe.train.batch_size * recipe.train.batch_size


def benchmark(config, epochs: int = 3, recipe=None) -> dict:
    """Clips per second of each side's training epoch (medians over `epochs` timed epochs, in
    turns) on the training utterances of `config`'s split: jax_ser's with `config`, PyTorch's
    with `recipe` (default: reference_recipe.recipe_config()); prints the table and the
    verdict."""
    recipe = reference_recipe.recipe_config() if recipe is None else recipe
    _, parts, decoded = load.load_data(config)
    classes = labels.task_classes(config.data.task)
    waves = decoded.of(parts["train"])
    targets = np.array([classes.index(u.label) for u in parts["train"]], np.int32)
    clips = {"jax_ser": len(waves) // config.train.batch_size * config.train.batch_size}
    pytorch, clips["pytorch"] = torch_epochs(recipe, parts["train"])
    seconds = common.compare({"jax_ser": jax_epochs(config, waves, targets),
                              "pytorch": pytorch}, epochs)
    rates = {name: clips[name] / s for name, s in seconds.items()}
    print(f"{jax.devices()[0].device_kind}, {config.data.corpus} fold 0: {clips['jax_ser']} "
          f"training clips per epoch; torch threads {torch.get_num_threads()}")
    common.print_table(("trainer", "s/epoch", "clips/s"),
                       [(name, seconds[name], rates[name]) for name in seconds])
    common.print_ratio("training epoch", "pytorch", rates["jax_ser"] / rates["pytorch"])
    return rates


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="configs/ravdess_augmented.py")
    p.add_argument("--corpus", default="ravdess")
    p.add_argument("--root", default="", help="corpus folder (default: the synthetic corpus)")
    p.add_argument("--epochs", type=int, default=3, help="timed epochs of each, after one")
    args = p.parse_args()
    config = common.load_config(args.config)
    config.data.corpus = args.corpus
    state.use_cpu_devices(config)  # as training splits its batches
    with tempfile.TemporaryDirectory() as tmp:
        config.data.root = args.root or f"{tmp}/synthetic"
        if not args.root:
            synthetic.generate(config.data.root, num_speakers=8)
        benchmark(config, args.epochs)


if __name__ == "__main__":
    main()
