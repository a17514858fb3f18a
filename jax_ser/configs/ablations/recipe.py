"""Ablation: what each recipe element adds to ResNet18 on log-mel (configs/resnet18_mel.py).

  python -m jax_ser.ablate --config configs/ablations/recipe.py --workdir runs/abl_recipe \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--seeds=0,1]

Cumulative rows, each adding one element: SpecAugment (2 time masks of up to 20 frames, 2 x 8 of 64
mel bins), mixup (alpha 0.2), label smoothing (0.1), weight EMA, waveform augmentation, 5-crop TTA.

Measured (RAVDESS actors 01-20, 5 folds of 4 test actors, 2 validation actors, seed 0, 2-core CPU,
JAX 0.10.2), test UA: plain 0.512 ± 0.091, +specaugment 0.481 ± 0.061, +mixup 0.397 ± 0.036, ...
+tta_5_crops 0.396 ± 0.040: in 20 epochs no element lifts the mean above plain. Results:
results/recipe_ablation.md.
"""

from pathlib import Path

from jax_ser.config import load_module

SPEC_AUGMENT = {"augment.spec_time_masks": 2, "augment.spec_time_mask_width": 20,
                "augment.spec_freq_masks": 2, "augment.spec_freq_mask_width": 8}
MIXUP = {**SPEC_AUGMENT, "augment.mixup_alpha": 0.2}
SMOOTHING = {**MIXUP, "train.label_smoothing": 0.1}
EMA = {**SMOOTHING, "train.ema_decay": 0.999}
WAVEFORM = {**EMA, "augment.gain_db": 6.0, "augment.noise_prob": 0.5,
            "augment.speed": (0.9, 1.1), "augment.pitch_shift_semitones": 2.0,
            "augment.pitch_shift_prob": 0.5}
TTA = {**WAVEFORM, "eval.crops": 5}


def get_config():
    return load_module(Path(__file__).parents[1] / "resnet18_mel.py").get_config()


def get_grid():
    return {"recipe": {"plain": {}, "+specaugment": SPEC_AUGMENT, "+mixup": MIXUP,
                       "+label_smoothing": SMOOTHING, "+ema": EMA, "+waveform_aug": WAVEFORM,
                       "+tta_5_crops": TTA}}
