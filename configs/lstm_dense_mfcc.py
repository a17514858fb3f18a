"""LSTM + dense layers on 15 MFCCs, trained on random crops of `sequence_length` frames.

  python -m jax_ser.main --config configs/lstm_dense_mfcc.py --workdir runs/lstm_dense

Each MFCC is standardised over the corpus (an affine-free BatchNorm at the input), then an LSTM
of 128 units, its last state through dense layers of 128 and 64 ReLU units (dropout 0.2) and a
linear classifier. Training takes a random window of 100 frames (1 s) per utterance,
evaluation the centre window. Other representations of the reports, by override:
  mel 80:        --config.features.name=mel --config.features.n_mels=80
  spectrogram:   --config.features.name=spectrogram --config.features.n_fft=1024
                 --config.features.win_length=1024 --config.features.hop_length=256  (513 bins)
  encoder frames: --config.data.precomputed=DIR --config.features.name=precomputed
                 (DIR from python -m jax_ser.extract_features)
Three dense layers: --config.model.dense=(256,128,64). RAVDESS results and the ablations over
sequence length and depth: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(
        model=dict(name="lstm_dense", hidden=128, dense=(128, 64), dropout=0.2, sequence_length=100)
    )
    config.features.name = "mfcc"
    config.features.n_mfcc = 15
    config.features.normalize = "none"
    config.train.num_epochs = 40
    return config
