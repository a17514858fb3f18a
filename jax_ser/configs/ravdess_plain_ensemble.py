"""configs/ravdess_plain.py as a 4-model seed ensemble trained in one command per fold: the best
without the test speaker's other recordings.

  python -m jax_ser.cross_validate --config configs/ravdess_plain_ensemble.py \
      --workdir runs/ravdess_plain_ensemble \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--folds=0] [--seeds=0,4]

train.ensemble_size=4: members seeds seed..seed+3 train together in one process and one compiled
step, each as the single run with its seed would on the same threads; a recording's probabilities
are the mean of the members'. --seeds=0,4 gives two disjoint ensembles (seeds 0-3 and 4-7).

Measured on RAVDESS actors 01-20, 5 folds of 4 test actors (2-core CPU, JAX 0.10.2, one core per
run): UA 0.606 ± 0.064, WA 0.621 ± 0.066, macro-F1 0.605 ± 0.061 over 5 folds x 2 draws (seeds 0-3:
0.601, seeds 4-7: 0.610), scored as ensembles of the single runs of configs/ravdess_plain.py (0.576
± 0.058 UA over those 40 runs). This config reproduces them: on fold 0, --seeds=0, one core, its
members scored the single runs' 0.609, 0.617, 0.652, 0.656 UA and the ensemble their 0.660.
Results: results/plain_recipe.md.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "ravdess_plain.py").get_config()
    config.train.ensemble_size = 4
    return config
