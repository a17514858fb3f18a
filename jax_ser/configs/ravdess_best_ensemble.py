"""configs/ravdess_best.py as a 4-model seed ensemble trained in one command per fold.

  python -m jax_ser.cross_validate --config configs/ravdess_best_ensemble.py \
      --workdir runs/ravdess_best_ensemble \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS [--folds=0] [--seeds=0,4]

train.ensemble_size=4: members seeds seed..seed+3 train together in one process and one compiled
step (jax_ser/train/steps.py: vmapped on a GPU, one after another on a CPU), each as the single
run with its seed would; the test probabilities are their mean, adapted to each speaker member by
member. --seeds=0,4 gives two disjoint ensembles (seeds 0-3 and 4-7). metrics.json reports each
member beside the ensemble.

Measured on RAVDESS fold 0 (test actors 01-04, trained on the other 16), seeds 0-3, 2-core CPU,
JAX 0.10.2, --folds=0: UA 0.824, WA 0.821, macro-F1 0.815 in 2,406 s; members alone 0.789,
0.766, 0.797, 0.738 UA (seeds 0 and 1 as their separate runs scored). The earlier fold-0 ensembles
of 4 separate runs scored 0.785 and 0.797. Results: results/ravdess_best.md.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "ravdess_best.py").get_config()
    config.train.ensemble_size = 4
    return config
