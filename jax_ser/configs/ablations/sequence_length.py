"""Ablation: length of the random training crops of the LSTM + dense model, in frames (10 ms).

  python -m jax_ser.ablate --config configs/ablations/sequence_length.py --workdir runs/abl_seq \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Base: configs/lstm_dense_mfcc.py; evaluation takes the centre window of the same length. Not
measured yet.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    return load_module(Path(__file__).parents[1] / "lstm_dense_mfcc.py").get_config()


def get_grid():
    return {"model.sequence_length": [10, 50, 100, 150, 200]}
