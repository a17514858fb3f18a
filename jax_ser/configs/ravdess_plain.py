"""jax_ser's best RAVDESS recipe without the test speaker's other recordings (one file, nothing
else known): ResNet18 on log-mel, trained on every training actor.

  python -m jax_ser.cross_validate --config configs/ravdess_plain.py \
      --workdir runs/ravdess_plain \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS \
      [--folds=0] [--seeds=0,1] [--ensemble=2]

configs/resnet18_mel.py trained on all 16 training actors of a fold (no validation actors: the
last of the 20 epochs is kept, and no temperature is fitted), with each log-mel band standardised
over its own utterance (features.normalize=frequency) rather than the whole map. Nothing at test
time depends on any recording but the one labelled: jax_ser.predict labels files one by one.
--config.train.ensemble_size=2 trains a 2-seed ensemble in one command (each member as the
single run of its seed trains with the same threads: fold 0, 2 threads, ensemble 0.699 UA).

Measured on RAVDESS actors 01-20, 5 folds of 4 test actors (2-core CPU, JAX 0.10.2): UA 0.576 ±
0.058, WA 0.591 ± 0.060, macro-F1 0.575 ± 0.056 over 40 runs (seeds 0-7); 2-seed ensembles
(--ensemble=2) 0.594 ± 0.053 UA over 5 folds x 4 draws; 4-seed ensembles
(configs/ravdess_plain_ensemble.py) 0.606 ± 0.064 over 5 folds x 2 draws. The plain PyTorch script
of the augmented recipe scores 0.521 ± 0.080 on the same folds (seeds 0-1),
configs/resnet18_mel.py 0.497 ± 0.078. Results: results/plain_recipe.md.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    config = load_module(Path(__file__).parent / "resnet18_mel.py").get_config()
    config.data.val_speakers = 0
    config.features.normalize = "frequency"
    return config
