"""WavLM base+ frozen, weighted sum of its layers, deep MLP head with batch norm and dropout
(the reports' "WavLM + classifier").

  python -m jax_ser.main --config configs/wavlm_mlp.py --workdir runs/wavlm_mlp \
      --config.model.checkpoint=/models/wavlm-base-plus

`model.checkpoint` is a local copy of microsoft/wavlm-base-plus
(README: "Pretrained weights"), or the hub id itself where there is a network.
--config.model.init=random trains the architecture from scratch.

Result: not measured yet. The development machine has no pretrained weights and no network,
and fine-tuning at this size on its 2-core CPU is too slow (README: encoder speed).
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2",
        checkpoint="microsoft/wavlm-base-plus",
        head="mlp",
        head_options=dict(hidden=(512, 256), dropout=0.3),
        weighted_layers=True,
        freeze_encoder=True,
    )
    config = fine_tuning(base_config(model))
    config.train.learning_rate = 1e-3
    return config
