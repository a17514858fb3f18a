"""wav2vec 2.0 base fine-tuned with a Query2Label head.

  python -m jax_ser.main --config configs/wav2vec2_q2l.py --workdir runs/wav2vec2_q2l \
      --config.model.checkpoint=/models/wav2vec2-base

`model.checkpoint` is a local copy of the Hugging Face checkpoint (docs/pretrained.md), or the hub
id where there is a network; --config.model.init=random trains the architecture from scratch. Not
measured yet.
"""

from jax_ser.config import base_config, fine_tuning


def get_config():
    model = dict(
        name="wav2vec2",
        checkpoint="facebook/wav2vec2-base",
        head="q2l",
        head_options=dict(num_layers=2, dim=256, num_heads=4, mlp_dim=512),
        weighted_layers=True,
        encoder_lr_scale=0.1,
        layer_lr_decay=0.9,
    )
    config = fine_tuning(base_config(model))
    config.train.loss = "sigmoid"  # Query2Label's per-label binary cross-entropy
    return config
