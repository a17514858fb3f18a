"""Ablation: learning rate x frame representation of the LSTM + dense model (12 cells).

  python -m jax_ser.ablate --config configs/ablations/lr_representation.py --workdir runs/abl_lr \
      --config.data.corpus=ravdess --config.data.root=/path/to/RAVDESS

Base: configs/lstm_dense_mfcc.py. Representations: 15 MFCCs, 80 mel bands, the power spectrogram of
513 bins (n_fft 1024, window 1024, hop 256). Not measured yet.
"""

from pathlib import Path

from jax_ser.config import load_module


def get_config():
    return load_module(Path(__file__).parents[1] / "lstm_dense_mfcc.py").get_config()


def get_grid():
    stft = {"features.n_fft": 512, "features.win_length": 400, "features.hop_length": 160}
    return {
        "train.learning_rate": [1e-3, 1e-4, 1e-5, 1e-6],
        "representation": {
            "spectrogram": {
                "features.name": "spectrogram",
                "features.n_fft": 1024,
                "features.win_length": 1024,
                "features.hop_length": 256,
            },
            "mel": {"features.name": "mel", "features.n_mels": 80, **stft},
            "mfcc": {"features.name": "mfcc", "features.n_mfcc": 15, **stft},
        },
    }
