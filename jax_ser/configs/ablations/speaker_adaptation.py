"""Ablation: the steps from the plain ResNet18 (configs/resnet18_mel.py) to configs/ravdess_best.py.

  python -m jax_ser.ablate --config configs/ablations/speaker_adaptation.py \
      --workdir runs/abl_speaker \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--seeds=0,1]

Cumulative rows, each adding one step: plain, +speaker_norm (features.normalize=speaker),
+all_training_actors (data.val_speakers=0), +adabn (adapt.bn_statistics=speaker), +40_epochs,
+speaker_im (adapt.speaker_im_steps=30; evaluation only, so python -m jax_ser.reevaluate --workdir
<+40_epochs cell> --set adapt.speaker_im_steps=30 measures it without training).

Measured (RAVDESS actors 01-20, 5 folds of 4 test actors, seed 0, 2-core CPU, JAX 0.10.2), test UA:
0.512, 0.569, 0.617, 0.672, 0.684, 0.697. Results: results/speaker_adaptation_ablation.md.
"""

from pathlib import Path

from jax_ser.config import load_module

SPEAKER_NORM = {"features.normalize": "speaker"}
ALL_TRAINING_ACTORS = {**SPEAKER_NORM, "data.val_speakers": 0}
ADABN = {**ALL_TRAINING_ACTORS, "adapt.bn_statistics": "speaker"}
EPOCHS_40 = {**ADABN, "train.num_epochs": 40}
SPEAKER_IM = {**EPOCHS_40, "adapt.speaker_im_steps": 30}


def get_config():
    return load_module(Path(__file__).parents[1] / "resnet18_mel.py").get_config()


def get_grid():
    return {"step": {"plain": {}, "+speaker_norm": SPEAKER_NORM,
                     "+all_training_actors": ALL_TRAINING_ACTORS, "+adabn": ADABN,
                     "+40_epochs": EPOCHS_40, "+speaker_im": SPEAKER_IM}}
