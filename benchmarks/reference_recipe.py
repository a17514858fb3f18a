"""The plain PyTorch recipe that jax_ser must beat (issue #6), cross-validated on jax_ser's folds.

  python -m benchmarks.reference_recipe --corpus=ravdess --root=../shared/data/ravdess \
      --workdir runs/torch_ref [--folds=0,1,2,3,4] [--seeds=0] [--epochs=40] [--threads=1]

A PyTorch script as a PyTorch user writes it, with its own audio and features:
- audio: soundfile (mean over channels), librosa.resample to 16 kHz, librosa.effects.trim at
  30 dB, no peak normalisation; a file that cannot be read, or is empty after trimming, is
  skipped with a warning. Each file is decoded once per process.
- 3 s windows: in training a longer clip is cropped at random and a shorter one placed at a
  random offset in the zero-padded window; at validation and test, the centre crop, a shorter
  clip centred.
- features: torch.stft (n_fft 512, hop 160, window 400, periodic Hann), librosa's Slaney mel
  filterbank (128 bands), log(mel power + 1e-6), standardised per utterance over the frames
  whose centre lies in the real samples of the window; the padded frames are set to 0.
- half-width ResNet18 of benchmarks/torch_models.py (2.8 M parameters) with dropout 0.3 before
  the classifier; SpecAugment (2 time masks of up to 20 frames, 2 frequency masks of up to 16
  bins, filled with 0), mixup with alpha 0.2 (one weight per batch), label smoothing 0.1; AdamW
  at lr 1e-3 with weight decay 1e-4 on the weights only, cosine decay over all steps, batch 32
  (the last partial batch dropped), 40 epochs; no weight EMA, no warm-up, no gradient clipping.
  The epoch with the best validation UA is tested, on the centre crop.
`recipe_config()` holds every setting.

It uses none of jax_ser's audio decoding, cache, cropping or features, so the comparison is
independent. It shares with jax_ser only what makes the numbers comparable: the folds
(load.read_utterances and load.make_split: "fold:K", data.fold_size test speakers,
data.val_speakers validation speakers), the scores (metrics.classification_report), and the loop
over folds and seeds (cross_validation.cross_validate with `train_run`). Each run writes
<workdir>/fold<K>_seed<S>/metrics.json and config.json; finished runs are read back, not
trained again; summary.md and summary.csv list every run with the mean ± std.
"""

import copy
import json
import os
import sys
import time
from pathlib import Path

import librosa
import numpy as np
import soundfile
import torch
from absl import app, flags, logging
from torch import nn

from benchmarks.torch_models import adamw, torch_model
from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.config import workdir as workdir_lib
from jax_ser.data import labels, load
from jax_ser.evaluate import metrics, tables
from jax_ser.train import cross_validation


def recipe_config():
    """The recipe as a jax_ser config, saved with each run and compared on read-back (the same
    settings in jax_ser: configs/ablations/plain_script.py's last row)."""
    config = config_lib.base_config(model=dict(name="resnet", depth=18, width=32, dropout=0.3))
    config.data.corpus = "ravdess"
    config.data.task = "ravdess8"
    config.data.clip_seconds = 3.0
    config.data.trim_db = 30.0  # librosa.effects.trim(top_db=30)
    config.data.normalize = False  # no peak normalisation
    config.features.n_mels = 128
    config.features.log_offset = 1e-6  # log(mel + 1e-6)
    config.features.top_db = 0.0  # no floor
    config.features.mask_padding = True  # statistics of the valid frames; padded frames 0
    config.train.batch_size = 32
    config.train.num_epochs = 40
    config.train.learning_rate = 1e-3
    config.train.weight_decay = 1e-4
    config.train.warmup_epochs = 0.0
    config.train.grad_clip_norm = 0.0
    config.train.ema_decay = 0.0
    config.train.label_smoothing = 0.1
    config.eval.crops = 1  # the centre crop
    config.eval.temperature_scaling = False
    config.augment.spec_time_masks = 2
    config.augment.spec_time_mask_width = 20
    config.augment.spec_freq_masks = 2
    config.augment.spec_freq_mask_width = 16
    config.augment.mixup_alpha = 0.2
    return config


# Settings the script has code for at recipe_config()'s values only.
FIXED = ("data.source", "data.normalize", "features.name", "features.top_db",
         "features.normalize", "features.mask_padding", "train.optimizer", "train.schedule",
         "train.warmup_epochs", "train.grad_clip_norm", "train.grad_accum_steps",
         "train.ensemble_size", "train.ema_decay", "train.loss", "train.select_metric",
         "eval.crops")


def check_config(config) -> None:
    """A ConfigError naming each FIXED setting that differs from recipe_config()'s."""
    recipe = recipe_config()
    changed = [f"{key}={_get(config, key)!r}" for key in FIXED
               if _get(config, key) != _get(recipe, key)]
    if changed:
        raise errors.ConfigError(f"the reference recipe runs only its own {', '.join(FIXED)}; "
                                 f"not {', '.join(changed)}")


def _get(config, key: str):
    section, name = key.split(".")
    return config[section][name]


def settings(config) -> dict:
    """The script's settings, for metrics.json."""
    d, fc, t, a = config.data, config.features, config.train, config.augment
    return {
        "audio": f"soundfile, mean over channels, librosa.resample to {d.sample_rate} Hz, "
                 f"librosa.effects.trim(top_db={d.trim_db:g}), no peak normalisation",
        "window_samples": clip_samples(config),
        "train_window": "random crop; a shorter clip at a random offset, zero-padded",
        "eval_window": "centre crop; a shorter clip centred, zero-padded",
        "eval_crops": config.eval.crops,
        "features": f"torch.stft(n_fft={fc.n_fft}, hop={fc.hop_length}, win={fc.win_length}, "
                    f"periodic hann, center, reflect), |.|^2, librosa Slaney mel "
                    f"({fc.n_mels} bands), log(mel + {fc.log_offset:g}), "
                    "standardised per utterance over the valid frames, padded frames 0",
        "log_offset": fc.log_offset,
        "model": f"{config.model.name} width {config.model.get('width')}",
        "dropout": config.model.dropout,
        "spec_augment": [a.spec_time_masks, a.spec_time_mask_width, a.spec_freq_masks,
                         a.spec_freq_mask_width],
        "mixup_alpha": a.mixup_alpha,
        "label_smoothing": t.label_smoothing,
        "optimizer": f"AdamW lr {t.learning_rate:g}, weight decay {t.weight_decay:g} on "
                     "weights only, cosine decay over all steps",
        "batch_size": t.batch_size,
        "drop_last": True,
        "epochs": t.num_epochs,
        "ema": t.ema_decay,
        "warmup_epochs": t.warmup_epochs,
        "grad_clip_norm": t.grad_clip_norm,
        "select": "best validation UA",
    }


# -- audio ----------------------------------------------------------------------------------------

_DECODED = {}  # (path, sample rate, trim dB) -> wave, or why the file was skipped


def read_wave(path: str, sample_rate: int, trim_db: float) -> np.ndarray:
    """A file's samples: mono, resampled, silence trimmed; a ValueError if none are left."""
    wave, sr = soundfile.read(path, dtype="float32", always_2d=True)
    wave = wave.mean(axis=1)
    if not wave.size:
        raise ValueError("no samples")
    wave = librosa.resample(wave, orig_sr=sr, target_sr=sample_rate)
    if trim_db > 0:
        wave, _ = librosa.effects.trim(wave, top_db=trim_db)
    if not wave.size:
        raise ValueError("empty after trimming")
    return wave.astype(np.float32)


def load_waves(config, utterances: list) -> tuple[list[np.ndarray], list, dict[str, str]]:
    """The waves of `utterances` (each file decoded once per process), the utterances kept, and
    {path: why} of those skipped (unreadable, or empty after trimming), each with a warning."""
    waves, kept, skipped = [], [], {}
    for u in utterances:
        key = (u.path, config.data.sample_rate, config.data.trim_db)
        if key not in _DECODED:
            try:
                _DECODED[key] = read_wave(*key)
            except Exception as e:  # any file that cannot be read: skipped, never a crash
                _DECODED[key] = f"{type(e).__name__}: {e}"
                logging.warning("skipped %s: %s", u.path, _DECODED[key])
        if isinstance(_DECODED[key], str):
            skipped[u.path] = _DECODED[key]
        else:
            waves.append(_DECODED[key])
            kept.append(u)
    return waves, kept, skipped


def clip_samples(config) -> int:
    return int(round(config.data.clip_seconds * config.data.sample_rate))


def window(wave: np.ndarray, clip: int, rng: np.random.Generator | None = None):
    """(window, start, end): `wave` in `clip` samples, its real samples at [start, end); a longer
    wave is cropped, a shorter one zero-padded, at random with `rng` (training), else centred."""
    slack = abs(len(wave) - clip)
    shift = int(rng.integers(slack + 1)) if rng is not None else slack // 2
    if len(wave) >= clip:
        return wave[shift:shift + clip], 0, clip
    out = np.zeros(clip, np.float32)
    out[shift:shift + len(wave)] = wave
    return out, shift, shift + len(wave)


def batch_of(waves: list, clip: int, rng=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Windows [B, clip] and their real-sample ranges [B, 2] (`window`)."""
    windows = [window(w, clip, rng) for w in waves]
    return (torch.from_numpy(np.stack([w for w, _, _ in windows])),
            torch.tensor([[start, end] for _, start, end in windows]))


# -- features and model ---------------------------------------------------------------------------

class LogMel(nn.Module):
    """Windows [B, N] and their real-sample ranges [B, 2] -> log-mel [B, T, n_mels], standardised
    per utterance over its valid frames (centre t * hop inside the real samples); the other
    frames 0."""

    def __init__(self, fc, log_offset: float):
        super().__init__()
        self.fc, self.log_offset = fc, log_offset
        mel = librosa.filters.mel(sr=fc.sample_rate, n_fft=fc.n_fft, n_mels=fc.n_mels,
                                  fmin=fc.fmin, fmax=fc.fmax or None)
        self.register_buffer("mel", torch.from_numpy(mel))
        self.register_buffer("window", torch.hann_window(fc.win_length, periodic=True))

    def forward(self, waves, valid):
        fc = self.fc
        spec = torch.stft(waves, fc.n_fft, fc.hop_length, fc.win_length, self.window,
                          center=True, return_complex=True)
        logmel = torch.log(self.mel @ spec.abs().square() + self.log_offset).transpose(1, 2)
        centres = torch.arange(logmel.shape[1], device=waves.device) * fc.hop_length
        mask = ((centres >= valid[:, :1]) & (centres < valid[:, 1:]))[:, :, None]  # [B, T, 1]
        count = (mask.sum(dim=(1, 2), keepdim=True) * logmel.shape[2]).clamp(min=1)
        mean = torch.where(mask, logmel, 0.0).sum(dim=(1, 2), keepdim=True) / count
        var = torch.where(mask, logmel - mean, 0.0).square().sum(dim=(1, 2), keepdim=True) / count
        return torch.where(mask, (logmel - mean) * torch.rsqrt(var + 1e-5), 0.0)


def make_model(config, num_classes: int) -> nn.Module:
    """config.model (benchmarks/torch_models.py) on the script's LogMel: model(windows, valid)."""
    return torch_model(config, num_classes,
                       frontend=LogMel(config.features, config.features.log_offset))


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


# -- training -------------------------------------------------------------------------------------

def train_fold(config, parts: dict, *, fold: int, seed: int) -> dict:
    """Trains on parts["train"] ((waves, utterances) of each part), keeps the epoch with the best
    validation UA (the last epoch if there are no validation speakers), and scores it on
    parts["val"] and parts["test"]; returns the metrics.json contents."""
    t_start = time.time()
    tc, data = config.train, config.data
    class_names = labels.task_classes(data.task)
    index = {c: i for i, c in enumerate(class_names)}
    waves = {k: w for k, (w, _) in parts.items()}
    targets = {k: np.array([index[u.label] for u in us], np.int64)
               for k, (_, us) in parts.items()}
    rng = np.random.default_rng((fold, seed))  # crops, order, masks, mixup
    torch.manual_seed(int(rng.integers(2**31)))  # initialisation, dropout
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")

    model, optimizer, schedule = setup(config, len(class_names), len(waves["train"]), device)
    best_ua, best_epoch, best_weights, history = -1.0, tc.num_epochs, None, []
    for epoch in range(1, tc.num_epochs + 1):
        t_epoch = time.time()
        losses = train_epoch(config, model, optimizer, schedule, waves["train"],
                             targets["train"], rng, device)
        record = {"epoch": epoch, "train_loss": float(np.mean(losses))}
        improved = False
        if waves["val"]:
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
        if waves[name]:
            results[name] = metrics.classification_report(
                targets[name], predict(config, model, waves[name], device), class_names)
    results["history"] = history
    results["data"] = {
        "corpus": data.corpus, "task": data.task, "classes": list(class_names),
        **{f"num_{k}": len(us) for k, (_, us) in parts.items()},
        **{f"{k}_speakers": sorted({u.speaker_key for u in us}) for k, (_, us) in parts.items()},
    }
    results["model"] = {"name": type(model).__name__,
                        "parameters": sum(p.numel() for p in model.parameters())}
    results["torch"] = {"version": torch.__version__, "device": str(device),
                        "threads": torch.get_num_threads()}
    results["settings"] = settings(config)
    results["train_time_s"] = round(time.time() - t_start, 1)
    return results


def setup(config, num_classes: int, num_train: int, device):
    """The model, its AdamW optimizer and the cosine schedule over every step of training on
    `num_train` clips."""
    tc = config.train
    model = make_model(config, num_classes).to(device)
    optimizer = adamw(model, tc.learning_rate, tc.weight_decay)
    steps = tc.num_epochs * max(1, num_train // tc.batch_size)
    return model, optimizer, torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)


def train_epoch(config, model, optimizer, schedule, waves, targets, rng, device) -> list[float]:
    """One epoch of training batches (order and random windows drawn from `rng`; the last
    partial batch dropped); returns their losses."""
    clip, size = clip_samples(config), config.train.batch_size
    model.train()
    order = rng.permutation(len(waves))
    losses = []
    for start in range(0, len(order) - size + 1, size):
        batch = order[start:start + size]
        wave, valid = batch_of([waves[i] for i in batch], clip, rng)
        losses.append(_train_step(config, model, optimizer, wave, valid, targets[batch], rng,
                                  device))
        schedule.step()
    return losses


def _epoch_line(record: dict, num_epochs: int, improved: bool) -> str:
    parts = [f"epoch {record['epoch']}/{num_epochs}", f"train loss {record['train_loss']:.3f}"]
    if "val_ua" in record:
        parts.append(f"val UA {record['val_ua']:.3f} WA {record['val_wa']:.3f} "
                     f"F1 {record['val_macro_f1']:.3f}" + (" *" if improved else ""))
    parts.append(f"{record['epoch_time_s']:.1f}s")
    return " | ".join(parts)


def _train_step(config, model, optimizer, wave, valid, target, rng, device) -> float:
    """Features, SpecAugment, mixup, forward, label-smoothed cross-entropy, backward, AdamW."""
    feats = spec_augment(model.features(wave.to(device), valid.to(device)), config.augment, rng)
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
    optimizer.step()
    return float(loss.item())


def predict(config, model, waves: list, device) -> np.ndarray:
    """Class probabilities [N, C] of the centre windows."""
    clip, size = clip_samples(config), config.eval.batch_size
    model.eval()
    out = []
    with torch.inference_mode():
        for start in range(0, len(waves), size):
            wave, valid = batch_of(waves[start:start + size], clip)
            logits = model(wave.to(device), valid.to(device))
            out.append(torch.softmax(logits.double(), dim=-1).cpu().numpy())
    return np.concatenate(out)


# -- runs -----------------------------------------------------------------------------------------

def split(config) -> dict[str, list]:
    """{train, val, test: utterances} of jax_ser's split data.split of the corpus."""
    s = load.make_split(config, load.read_utterances(config))
    return {"train": s.train, "val": s.val, "test": s.test}


def train_run(config, run_dir) -> dict:
    """One fold and seed of the recipe in `run_dir`, for jax_ser.cross_validate: jax_ser's split,
    the script's own waves (load_waves) and PyTorch training (train_fold), and metrics.json,
    written whole or not at all."""
    check_config(config)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    workdir_lib.save_or_check_config(config, run_dir)
    fold = int(config.data.split.partition(":")[2])
    parts, skipped = {}, {}
    for name, utterances in split(config).items():
        waves, kept, skipped[name] = load_waves(config, utterances)
        parts[name] = waves, kept
    count = sum(len(s) for s in skipped.values())
    if count:
        logging.warning("fold %d: %d files skipped (%s)", fold, count,
                        ", ".join(f"{k} {len(s)}" for k, s in skipped.items()))
    if not parts["train"][0]:
        raise errors.DataError(f"split {config.data.split} leaves no readable training files")
    results = train_fold(config, parts, fold=fold, seed=config.seed)
    results["skipped"] = {"count": count, "files": {**skipped["train"], **skipped["val"],
                                                    **skipped["test"]}}
    finished = run_dir / "metrics.json"
    tmp = finished.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2))
    tmp.replace(finished)
    return results


def cross_validate(config, workdir, folds=None, seeds=None) -> list[dict]:
    """Every fold (and seed) of the recipe through jax_ser.cross_validate's loop (its folds,
    read-back of finished runs and summary tables); returns the table rows."""
    check_config(config)
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
