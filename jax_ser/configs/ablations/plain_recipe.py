"""Ablation: resnet18_mel towards a better plain recipe (no speaker statistics at test time).

  python -m jax_ser.ablate --config configs/ablations/plain_recipe.py --workdir runs/abl_plain \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS --seeds=0,1

Cumulative rows, each adding one change to the row above; none uses anything of a test speaker
but the recording being labelled: every training actor trains (no validation actors, the last
epoch is kept, as in ravdess_best), and each log-mel band standardised over its own utterance
(features.normalize=frequency), the one-recording counterpart of ravdess_best's speaker
normalisation. The last row is configs/ravdess_plain.py.

Measured (RAVDESS actors 01-20, 5 folds x seeds 0-1, 2-core CPU, one core per run, JAX 0.10.2;
--cells=1,2, the first row's runs are those of results/ravdess_resnet18_mel.md): UA 0.497 ± 0.078,
0.551 ± 0.065 (higher on every fold), 0.562 ± 0.056 (+0.011, within the seed spread). Results:
results/plain_recipe.md.
"""

from pathlib import Path

from jax_ser.config import load_module

ALL_TRAINING_ACTORS = {"data.val_speakers": 0}
FREQUENCY_NORMALIZATION = {**ALL_TRAINING_ACTORS, "features.normalize": "frequency"}


def get_config():
    return load_module(Path(__file__).parents[1] / "resnet18_mel.py").get_config()


def get_grid():
    return {"plain": {"resnet18_mel": {}, "+all_training_actors": ALL_TRAINING_ACTORS,
                      "+frequency_normalization": FREQUENCY_NORMALIZATION}}
