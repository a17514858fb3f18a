"""jax_ser's best RAVDESS recipe from scratch: ResNet18 on log-mel, adapted to each speaker.

  python -m jax_ser.cross_validate --config configs/ravdess_best.py --workdir runs/ravdess_best \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--folds=0] [--seeds=0,1]

configs/resnet18_mel.py (half-width ResNet18, 2.8 M parameters, 64-band log-mel of 3 s crops,
AdamW 1e-3 with warm-up and cosine decay, batch 32, dropout 0.2, no augmentation), trained for
40 epochs on every training speaker (no validation speakers: the last epoch is kept), and
adapted to each speaker without labels:
- features.normalize=speaker: each mel band standardised with the mean and std of that band over
  all of the speaker's recordings (jax_ser/speaker_norm.py);
- train.bn_statistics=speaker: every BatchNorm layer normalised with its statistics over the
  speaker's recordings (AdaBN, jax_ser/adabn.py).
The protocol assumes that a held-out speaker's identity and a set of their recordings, with a
mix of emotions, are known at test time (python -m jax_ser.adaptation_sets measures what less
gives). jax_ser.predict takes the files of one call as one speaker.

Measured on RAVDESS actors 01-20, speaker folds of 4 test actors (the command above with
--seeds=0,1, 2-core CPU, two runs at a time: 13-27 min per fold), test UA / WA / macro-F1:
  fold 0 (actors 01-04): seed 0 0.766 / 0.771 / 0.763, seed 1 0.758 / 0.754 / 0.748
  fold 1 (actors 05-08): seed 0 0.758 / 0.775 / 0.761, seed 1 0.738 / 0.758 / 0.738
  fold 2 (actors 09-12): seed 0 0.602 / 0.629 / 0.602, seed 1 0.598 / 0.625 / 0.597
  fold 3 (actors 13-16): seed 0 0.645 / 0.646 / 0.640, seed 1 0.664 / 0.679 / 0.663
  fold 4 (actors 17-20): seed 0 0.652 / 0.642 / 0.643, seed 1 0.637 / 0.629 / 0.636
  mean +- std, 10 runs:  0.682 +- 0.067 UA, 0.691 +- 0.065 WA, 0.679 +- 0.066 macro-F1
Seeds 0+1 as ensembles (--ensemble=2): 0.697 +- 0.076 UA. The PyTorch reference recipe
(benchmarks/reference_recipe.py, seed 0, no speaker statistics) scored 0.492 +- 0.077 on these
folds: 19 points below. Short of issue #6's 72%. README.md, "Speaker adaptation on RAVDESS",
has the times, the ablation of each step and what the adaptation needs of a speaker.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "resnet18_mel.py").get_config()
    config.features.normalize = "speaker"
    config.train.bn_statistics = "speaker"
    config.data.val_speakers = 0
    config.train.num_epochs = 40
    config.train.speaker_im_steps = 30
    return config
