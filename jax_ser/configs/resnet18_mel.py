"""ResNet18 at half width (2.8 M parameters) on 64-band log-mel of 3 s crops: the main demo job.

  python -m jax_ser.main --config configs/resnet18_mel.py --workdir runs/demo
  python -m jax_ser.cross_validate --config configs/resnet18_mel.py \
      --workdir runs/ravdess/resnet18_mel \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS --seeds=0,1

Built-in synthetic corpus, fold 0, seed 0 (2-core CPU, JAX 0.10.2): test UA 0.512, WA 0.538,
macro-F1 0.490 (results/synthetic.md). RAVDESS actors 01-20, 5 folds of 4 test actors, 2 validation
actors, seeds 0 and 1 (2-core CPU, JAX 0.10.2): UA 0.497 ± 0.078, WA 0.514 ± 0.077, macro-F1 0.487
± 0.088 over 10 runs (results/ravdess_resnet18_mel.md); with --config.features.normalize=speaker UA
0.577 ± 0.086 (results/ravdess_speaker_norm.md).
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="resnet", depth=18, width=32, dropout=0.2))
    config.features.n_mels = 64
    config.train.num_epochs = 20
    config.train.cpu_devices = 0  # on CPU, one device per core: a faster step
    return config
