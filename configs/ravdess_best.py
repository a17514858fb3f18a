"""jax_ser's best RAVDESS recipe from scratch: ResNet18 on speaker-normalised log-mel.

  python -m jax_ser.cross_validate --config configs/ravdess_best.py --workdir runs/ravdess_best \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--folds=0] [--seeds=0,1]

configs/resnet18_mel.py (half-width ResNet18, 2.8 M parameters, 64-band log-mel of 3 s crops,
AdamW 1e-3 with warm-up and cosine decay, batch 32, 20 epochs, dropout 0.2, no augmentation)
with features.normalize=speaker: each mel band standardised with the mean and std of that band
over all of the speaker's recordings (jax_ser/speaker_norm.py). A held-out speaker's statistics
come from their own recordings, without labels: the protocol assumes their identity and a set of
their recordings are known at test time. jax_ser.predict takes the files of one call as one
speaker.

Measured on RAVDESS actors 01-20, speaker folds of 4 test actors (the command above, seeds 0
and 1, 2-core CPU, two runs at a time: 7-8 min per fold, 13 min beside the test suite),
test UA / WA / macro-F1:
  fold 0 (actors 01-04): seed 0 0.664 / 0.667 / 0.659, seed 1 0.684 / 0.683 / 0.677
  fold 1 (actors 05-08): seed 0 0.652 / 0.658 / 0.647, seed 1 0.684 / 0.708 / 0.677
  fold 2 (actors 09-12): seed 0 0.516 / 0.546 / 0.525, seed 1 0.543 / 0.575 / 0.544
  fold 3 (actors 13-16): seed 0 0.465 / 0.475 / 0.442, seed 1 0.535 / 0.554 / 0.527
  fold 4 (actors 17-20): seed 0 0.547 / 0.537 / 0.533, seed 1 0.477 / 0.487 / 0.470
  mean +- std, 10 runs:  0.577 +- 0.086 UA, 0.589 +- 0.084 WA, 0.570 +- 0.087 macro-F1
The same runs without speaker normalisation (configs/resnet18_mel.py) scored 0.497 +- 0.078 UA:
+8.0 points, higher in all 10 runs. The PyTorch reference recipe (benchmarks/reference_recipe.py,
seed 0, no speaker statistics) scored 0.492 +- 0.077: 8.5 points below. Short of issue #6's 72%.
README.md, "Speaker normalisation on RAVDESS", has the comparison fold by fold.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "resnet18_mel.py").get_config()
    config.features.normalize = "speaker"
    return config
