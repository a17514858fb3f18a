"""jax_ser's best RAVDESS recipe from scratch: ResNet18 on log-mel, adapted to each speaker.

  python -m jax_ser.cross_validate --config configs/ravdess_best.py \
      --workdir runs/ravdess_best \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS \
      [--folds=0] [--seeds=0,1] [--ensemble=4]

configs/resnet18_mel.py trained for 40 epochs on every training speaker (no validation speakers:
the last epoch is kept), and adapted to each speaker without labels: features.normalize=speaker,
adapt.speaker_im_steps=30 (BatchNorm scales and biases fitted by information maximisation) and
adapt.bn_statistics=speaker (AdaBN). It assumes a held-out speaker's identity and a set of their
recordings, with a mix of emotions, are known at test time; jax_ser.predict takes the files of one
call as one speaker.

Measured on RAVDESS actors 01-20, 5 folds of 4 test actors: UA 0.698 ± 0.063 over 50 runs (seeds
0-9; 0-1 and 6-9 on a 2-core CPU, JAX 0.10.2; 2-5 on one H200, JAX 0.11.2); 4-model seed ensembles
(--ensemble=4) 0.726 ± 0.065 UA over 2 draws x 5 folds. Results: results/ravdess_best.md.
configs/ravdess_best_ensemble.py trains such an ensemble in one run per fold.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "resnet18_mel.py").get_config()
    config.features.normalize = "speaker"
    config.adapt.bn_statistics = "speaker"
    config.data.val_speakers = 0
    config.train.num_epochs = 40
    config.adapt.speaker_im_steps = 30
    return config
