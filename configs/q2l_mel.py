"""Query2Label on 64-band log-mel: one learnable query per emotion attends to the frames.

  python -m jax_ser.main --config configs/q2l_mel.py --workdir runs/q2l

Front end: a Dense projection of each frame to 128 dims plus a learned positional embedding.
Decoder: 2 layers of label self-attention, cross-attention to the frames and a feed-forward block
(4 heads, no causal mask); a per-class linear projection gives one logit per label. Trained with
softmax cross-entropy; the per-label sigmoid / binary cross-entropy of the Q2L paper is
--config.train.loss=sigmoid. Other front ends: --config.model.frontend=cnn or bilstm; the
wav2vec2 family: configs/wav2vec2_q2l.py. RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(
        model=dict(name="q2l", frontend="mel_projection", dim=128, num_layers=2, num_heads=4,
                   mlp_dim=256, dropout=0.1)
    )
    config.features.n_mels = 64
    config.train.num_epochs = 30
    return config
