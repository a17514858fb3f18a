"""EfficientNet-B0 on 64-band log-mel of 3 s crops, from scratch (B1-B7: --config.model.variant=b3).
ImageNet weights: --config.model.init=pretrained --config.model.in_channels=3
--config.model.checkpoint=/models/efficientnet_b0_rwightman-7f5810bc.pth (docs/pretrained.md).

  python -m jax_ser.main --config configs/efficientnet_b0_mel.py --workdir runs/efficientnet_b0_mel
  python -m jax_ser.cross_validate --config configs/efficientnet_b0_mel.py \
      --workdir runs/ravdess/efficientnet_b0_mel \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured: UA 0.383 ± 0.014, WA 0.407 ± 0.014, macro-F1 0.346 ± 0.018 with
--config.train.num_epochs=12 (RAVDESS actors 01-20, 5 folds of 4 test actors, 2 validation actors,
seed 0, 2-core CPU, JAX 0.10.2). Results: results/reference_systems.md.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="efficientnet", variant="b0", head_hidden=256))
    config.features.n_mels = 64
    config.train.num_epochs = 20
    return config
