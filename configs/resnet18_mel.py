"""ResNet18 at half width on 64-band log-mel of 3 s crops: the main demo job.

  python -m jax_ser.main --config configs/resnet18_mel.py --workdir runs/demo

Built-in synthetic corpus, fold 0 (test speakers 01-04), seed 0, 2-core CPU: test UA 0.492,
WA 0.521, macro-F1 0.464; 3 min 55 s including corpus generation.

On a real corpus: add --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS
and choose the held-out speakers with --config.data.split=fold:K. All 5 folds of RAVDESS actors
01-20 (python -m jax_ser.cross_validate ... same flags --seeds=0,1): UA 0.497 ± 0.078,
WA 0.514 ± 0.077, macro-F1 0.487 ± 0.088 (mean ± std over 5 folds x 2 seeds; seed 0 0.512 UA,
seed 1 0.482; per fold in README.md), 8-31 min per fold on the 2-core CPU, two at a time
(the longest beside the test suite).
With --config.features.normalize=speaker: 0.577 +- 0.086 UA; configs/ravdess_best.py adapts
to each speaker further (README.md, "Speaker adaptation on RAVDESS").
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="resnet", depth=18, width=32, dropout=0.2))
    config.features.n_mels = 64
    config.train.num_epochs = 20
    return config
