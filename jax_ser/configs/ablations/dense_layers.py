"""Ablation: LSTM + 2 vs 3 dense layers (configs/lstm_dense_mfcc.py), over the speaker folds.

  python -m jax_ser.ablate --config configs/ablations/dense_layers.py --workdir runs/abl_dense \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Measured (RAVDESS actors 01-20, 5 folds of 4 test actors, 2 validation actors, seed 0, 2-core CPU,
JAX 0.10.2): UA 0.233 ± 0.044 with 2 layers, 0.236 ± 0.024 with 3. Results:
results/dense_layers_ablation.md.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    return load_module(Path(__file__).parents[1] / "lstm_dense_mfcc.py").get_config()


def get_grid():
    return {"model.dense": [(128, 64), (256, 128, 64)]}
