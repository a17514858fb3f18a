"""Ablation: what each recipe element adds to ResNet18 on log-mel (configs/resnet18_mel.py).

  python -m jax_ser.ablate --config configs/ablations/recipe.py --workdir runs/abl_recipe \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--seeds=0,1]

Cumulative rows: each adds one element to the row before it. SpecAugment follows the plain
PyTorch reference recipe of issue #6 (2 time masks of up to 20 frames; its 2 x 16 of 128 mel bins
become 2 x 8 of the 64 used here), as do mixup (alpha 0.2) and label smoothing (0.1).

Run on RAVDESS actors 01-20, 5 folds of 4 test actors, seed 0, one run per cell and fold,
2-core CPU (the command above with --seeds=0). Test UA, mean +- std over the folds: plain
0.512 +- 0.091, +specaugment 0.481 +- 0.061, +mixup 0.397 +- 0.036, +label_smoothing
0.409 +- 0.035, +ema 0.433 +- 0.022, +waveform_aug 0.396 +- 0.053, +tta_5_crops
0.396 +- 0.040.
In 20 epochs no element lifts the mean above plain, and the augmented cells fit far less (last
training loss 0.33-0.48 plain, 1.08-1.17 with SpecAugment, 1.47 or more from mixup on).
README.md, "Ablation: the recipe elements", has every fold and what one seed cannot show.
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
TTA = {**WAVEFORM, "data.eval_crops": 5}


def get_config():
    return load_module(Path(__file__).parents[1] / "resnet18_mel.py").get_config()


def get_grid():
    return {"recipe": {"plain": {}, "+specaugment": SPEC_AUGMENT, "+mixup": MIXUP,
                       "+label_smoothing": SMOOTHING, "+ema": EMA, "+waveform_aug": WAVEFORM,
                       "+tta_5_crops": TTA}}
