"""The plain PyTorch recipe that jax_ser must beat (issue #6), cross-validated on jax_ser's folds.

  python -m benchmarks.reference_recipe --corpus=ravdess --root=../shared/data/ravdess \
      --workdir runs/torch_ref [--folds=0,1,2,3,4] [--seeds=0] [--epochs=40]

The recipe, as the issue states it: half-width ResNet18 (2.8 M parameters) on 128-band log-mel of
3 s crops (a random crop in training, the centre crop at test), SpecAugment with 2 time masks of
up to 20 frames and 2 frequency masks of up to 16 bins, mixup with alpha 0.2, AdamW at lr 1e-3
with cosine decay, label smoothing 0.1, batch 32, 40 epochs, and the epoch with the best
validation UA kept. What the issue leaves open is what a plain PyTorch script does, or jax_ser's
default: no dropout, no warm-up, no gradient clipping, weight decay 1e-4 on the weights only,
masks filled with 0 (the mean of the utterance-normalised log-mel), one mixup weight per batch,
the last partial batch of an epoch dropped. `recipe_config()` holds every setting.

The data, the loop over folds and the scoring are jax_ser's own: jax_ser.cross_validate runs
every fold and seed with `train_run` in place of jax_ser's training, and load.load_data gives
each run its split ("fold:K", data.fold_size test speakers, data.val_speakers validation
speakers) and the same cached, trimmed and peak-normalised 16 kHz waveforms; scores come from
jax_ser.evaluate.metrics.classification_report. The features, model and training are PyTorch
(benchmarks/torch_models.py), seeded per fold and seed. Each run writes
<workdir>/fold<K>_seed<S>/metrics.json and config.json; finished runs are read back, not trained
again. summary.md and summary.csv list every run with the mean ± std, as cross_validate's do.
"""

import copy
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from absl import app, flags, logging
from torch import nn

from benchmarks.torch_models import adamw, torch_model
from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import audio, batches, labels, load
from jax_ser.evaluate import metrics, tables
from jax_ser.train import cross_validation


def recipe_config():
    """The recipe as a jax_ser config: the data, features and model fields are read as jax_ser
    reads them; of train and augment, the fields the recipe names."""
    config = config_lib.base_config(model=dict(name="resnet", depth=18, width=32, dropout=0.0))
    config.data.corpus = "ravdess"
    config.data.task = "ravdess8"
    config.data.clip_seconds = 3.0
    config.features.n_mels = 128
    config.train.batch_size = 32
    config.train.num_epochs = 40
    config.train.learning_rate = 1e-3
    config.train.weight_decay = 1e-4
    config.train.warmup_epochs = 0.0
    config.train.grad_clip_norm = 0.0
    config.train.label_smoothing = 0.1
    config.eval.temperature_scaling = False
    config.augment.spec_time_masks = 2
    config.augment.spec_time_mask_width = 20
    config.augment.spec_freq_masks = 2
    config.augment.spec_freq_mask_width = 16
    config.augment.mixup_alpha = 0.2
    return config


def spec_augment(feats: torch.Tensor, augment_config, rng: np.random.Generator) -> torch.Tensor:
    """SpecAugment masks on features [B, T, F]: per example, `spec_time_masks` spans of width
    uniform in [0, spec_time_mask_width] frames and `spec_freq_masks` bands of up to
    `spec_freq_mask_width` bins, each placed uniformly where it fits, set to 0."""
    b, t, f = feats.shape
    a = augment_config
    keep_t = ~_spans(b, t, a.spec_time_masks, a.spec_time_mask_width, rng)
    keep_f = ~_spans(b, f, a.spec_freq_masks, a.spec_freq_mask_width, rng)
    keep = torch.from_numpy(keep_t[:, :, None] & keep_f[:, None, :]).to(feats.device)
    return feats * keep


def _spans(batch: int, size: int, count: int, max_width: int, rng) -> np.ndarray:
    """[batch, size] booleans: the union of `count` random spans per row."""
    width = rng.integers(0, min(max_width, size) + 1, (batch, count, 1))
    start = rng.integers(0, size - width + 1)
    position = np.arange(size)
    return np.any((position >= start) & (position < start + width), axis=1)


def train_fold(config, parts: dict, decoded, *, fold: int, seed: int) -> dict:
    """Trains on parts["train"], keeps the epoch with the best validation UA (the last epoch if
    there are no validation speakers), and scores it on parts["val"] and parts["test"]; returns
    the metrics.json contents."""
    t_start = time.time()
    tc, data = config.train, config.data
    class_names = labels.task_classes(data.task)
    index = {c: i for i, c in enumerate(class_names)}
    waves = {k: decoded.of(v) for k, v in parts.items()}
    targets = {k: np.array([index[u.label] for u in v], np.int64) for k, v in parts.items()}
    rng = np.random.default_rng((fold, seed))  # crops, order, masks, mixup
    torch.manual_seed(int(rng.integers(2**31)))  # initialisation, dropout
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model = torch_model(config, len(class_names)).to(device)
    optimizer = adamw(model, tc.learning_rate, tc.weight_decay)
    steps_per_epoch = max(1, len(waves["train"]) // tc.batch_size)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer,
                                                          tc.num_epochs * steps_per_epoch)
    best_ua, best_epoch, best_weights, history = -1.0, tc.num_epochs, None, []
    for epoch in range(1, tc.num_epochs + 1):
        t_epoch = time.time()
        losses = train_epoch(config, model, optimizer, schedule, waves["train"],
                             targets["train"], rng, device, epoch)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        improved = False
        if parts["val"]:
            val = metrics.classification_report(
                targets["val"], predict(config, model, waves["val"], device), class_names)
            record.update({f"val_{m}": val[m] for m in tables.METRICS})
            improved = val["ua"] > best_ua
            if improved:
                best_ua, best_epoch = val["ua"], epoch
                best_weights = copy.deepcopy(model.state_dict())
        record["epoch_time_s"] = round(time.time() - t_epoch, 1)
        history.append(record)
        print(f"fold {fold} seed {seed} " + _epoch_line(record, tc.num_epochs, improved),
              flush=True)
    if best_weights is not None:
        model.load_state_dict(best_weights)

    results = {"recipe": "benchmarks/reference_recipe.py (PyTorch)", "split": f"fold:{fold}",
               "seed": seed, "best_epoch": best_epoch}
    for name in ("val", "test"):
        if parts[name]:
            results[name] = metrics.classification_report(
                targets[name], predict(config, model, waves[name], device), class_names)
    results["history"] = history
    results["data"] = {
        "corpus": data.corpus, "task": data.task, "classes": list(class_names),
        **{f"num_{k}": len(v) for k, v in parts.items()},
        **{f"{k}_speakers": sorted({u.speaker_key for u in v}) for k, v in parts.items()},
    }
    results["model"] = {"name": type(model).__name__,
                        "parameters": sum(p.numel() for p in model.parameters())}
    results["torch"] = {"version": torch.__version__, "device": str(device),
                        "threads": torch.get_num_threads()}
    results["train_time_s"] = round(time.time() - t_start, 1)
    return results


def train_epoch(config, model, optimizer, schedule, waves, targets, rng, device,
                epoch: int) -> list[float]:
    """One epoch of training batches (random crops, drawn from `rng`); returns their losses."""
    clip = int(round(config.data.clip_seconds * config.data.sample_rate))
    model.train()
    order = batches.epoch_order(len(waves), config.train.batch_size, int(rng.integers(2**31)),
                                epoch)
    losses = []
    for batch in order:
        wave = np.stack([audio.crop_or_pad(waves[i], clip, audio.random_offset(
            len(waves[i]), clip, rng)) for i in batch]).astype(np.float32)
        losses.append(_train_step(config, model, optimizer, wave, targets[batch], rng, device))
        schedule.step()
    return losses


def _epoch_line(record: dict, num_epochs: int, improved: bool) -> str:
    parts = [f"epoch {record['epoch']}/{num_epochs}", f"train loss {record['train_loss']:.3f}"]
    if "val_ua" in record:
        parts.append(f"val UA {record['val_ua']:.3f} WA {record['val_wa']:.3f} "
                     f"F1 {record['val_macro_f1']:.3f}" + (" *" if improved else ""))
    parts.append(f"{record['epoch_time_s']:.1f}s")
    return " | ".join(parts)


def _train_step(config, model, optimizer, wave, target, rng, device) -> float:
    """Features, SpecAugment, mixup, forward, label-smoothed cross-entropy, backward, AdamW."""
    feats = spec_augment(model.features(torch.from_numpy(wave).to(device)), config.augment, rng)
    y = torch.from_numpy(target).to(device)
    lam, partner = 1.0, torch.arange(len(wave))
    if config.augment.mixup_alpha > 0:
        lam = float(rng.beta(config.augment.mixup_alpha, config.augment.mixup_alpha))
        partner = torch.from_numpy(rng.permutation(len(wave)))
        feats = lam * feats + (1 - lam) * feats[partner.to(device)]
    logits = model.classify(feats)
    smoothing = config.train.label_smoothing
    loss = (lam * nn.functional.cross_entropy(logits, y, label_smoothing=smoothing)
            + (1 - lam) * nn.functional.cross_entropy(logits, y[partner.to(device)],
                                                      label_smoothing=smoothing))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if config.train.grad_clip_norm > 0:
        nn.utils.clip_grad_norm_(model.parameters(), config.train.grad_clip_norm)
    optimizer.step()
    return float(loss.item())


def predict(config, model, waves: list, device) -> np.ndarray:
    """Class probabilities [N, C] of the centre crop (eval.crops crops, averaged)."""
    clip = int(round(config.data.clip_seconds * config.data.sample_rate))
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(waves), config.eval.batch_size):
            crops = np.stack([audio.eval_crops(w, clip, config.eval.crops)
                              for w in waves[start:start + config.eval.batch_size]])
            b, k = crops.shape[:2]
            x = torch.from_numpy(crops.reshape(b * k, clip).astype(np.float32)).to(device)
            probs = torch.softmax(model(x).double(), dim=-1).reshape(b, k, -1).mean(dim=1)
            out.append(probs.cpu().numpy())
    return np.concatenate(out)


def train_run(config, run_dir) -> dict:
    """One fold and seed of the recipe in `run_dir`, for jax_ser.cross_validate: the split and
    waveforms from jax_ser's data layer (load.load_data), PyTorch training (train_fold), and
    metrics.json, written whole or not at all."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    workdir_lib.save_or_check_config(config, run_dir)
    _, parts, decoded = load.load_data(config)
    fold = int(config.data.split.partition(":")[2])
    results = train_fold(config, parts, decoded, fold=fold, seed=config.seed)
    finished = run_dir / "metrics.json"
    tmp = finished.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(finished)
    return results


def cross_validate(config, workdir, folds=None, seeds=None) -> list[dict]:
    """Every fold (and seed) of the recipe through jax_ser.cross_validate's loop (its folds,
    read-back of finished runs and summary tables); returns the table rows."""
    return cross_validation.cross_validate(config, workdir, folds, seeds, train_fn=train_run)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
    f = flags.FLAGS
    logging.set_verbosity(logging.WARNING)
    if not f.root and f.corpus != "synthetic":
        print(f"error: --root is required for corpus {f.corpus!r}", file=sys.stderr)
        return 2
    torch.set_num_threads(f.threads or len(os.sched_getaffinity(0)))
    config = recipe_config()
    config.data.corpus, config.data.root = f.corpus, f.root
    config.data.fold_size, config.data.val_speakers = f.fold_size, f.val_speakers
    config.train.num_epochs = f.epochs
    try:
        rows = cross_validate(config, f.workdir, f.folds, f.seeds)
    except (errors.ConfigError, errors.DataError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(tables.write_tables(rows, Path(f.workdir)))
    print(f"tables in {Path(f.workdir) / 'summary.md'} and summary.csv")
    return 0


def define_flags():
    """Command-line flags, defined only when run as a program, so the module imports cleanly."""
    flags.DEFINE_string("corpus", "ravdess", "Corpus name (jax_ser.data.corpora).")
    flags.DEFINE_string("root", "", "Corpus folder; '' only for the built-in synthetic corpus.")
    flags.DEFINE_string("workdir", None, "Folder holding one run folder per fold and seed.")
    flags.DEFINE_list("folds", [], "Fold numbers (fold:K from 0); default: every fold.")
    flags.DEFINE_list("seeds", ["0"], "Seeds to run.")
    flags.DEFINE_integer("epochs", 40, "Training epochs per run.")
    flags.DEFINE_integer("fold_size", 4, "Test speakers per fold, as data.fold_size.")
    flags.DEFINE_integer("val_speakers", 2, "Validation speakers, as data.val_speakers.")
    flags.DEFINE_integer("threads", 0, "PyTorch threads; 0: every core this process may use. "
                         "On an oversubscribed host, 1 can be several times faster.")
    flags.mark_flags_as_required(["workdir"])


if __name__ == "__main__":
    define_flags()
    app.run(main)
