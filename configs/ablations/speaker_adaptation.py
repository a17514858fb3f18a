"""Ablation: the steps from the plain ResNet18 (configs/resnet18_mel.py) to configs/ravdess_best.py.

  python -m jax_ser.ablate --config configs/ablations/speaker_adaptation.py --workdir runs/abl_speaker \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--seeds=0,1]

Cumulative rows: each adds one step to the row before it, and the last is configs/ravdess_best.py.
  plain                  resnet18_mel as it is: 2 validation actors pick the best of 20 epochs
  +speaker_norm          features.normalize=speaker: each mel band standardised per speaker
  +all_training_actors   data.val_speakers=0: the 2 validation actors train too; last epoch kept
  +adabn                 train.bn_statistics=speaker: BatchNorm statistics of each speaker
  +40_epochs             train.num_epochs=40
  +speaker_im            train.speaker_im_steps=30: BatchNorm scales and biases fitted to each
                         speaker (evaluation only: trains as +40_epochs, so
                         python -m jax_ser.reevaluate --workdir <+40_epochs cell>
                         --set train.speaker_im_steps=30 measures it without training)

Measured results: README.md, "Speaker adaptation on RAVDESS".
"""

from pathlib import Path

from jax_ser.config import load_module

SPEAKER_NORM = {"features.normalize": "speaker"}
ALL_TRAINING_ACTORS = {**SPEAKER_NORM, "data.val_speakers": 0}
ADABN = {**ALL_TRAINING_ACTORS, "train.bn_statistics": "speaker"}
EPOCHS_40 = {**ADABN, "train.num_epochs": 40}
SPEAKER_IM = {**EPOCHS_40, "train.speaker_im_steps": 30}


def get_config():
    return load_module(Path(__file__).parents[1] / "resnet18_mel.py").get_config()


def get_grid():
    return {"step": {"plain": {}, "+speaker_norm": SPEAKER_NORM,
                     "+all_training_actors": ALL_TRAINING_ACTORS, "+adabn": ADABN,
                     "+40_epochs": EPOCHS_40, "+speaker_im": SPEAKER_IM}}
