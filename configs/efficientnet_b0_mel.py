"""EfficientNet-B0 on 64-band log-mel of 3 s crops, from scratch.

  python -m jax_ser.main --config configs/efficientnet_b0_mel.py --workdir runs/effnet

Head: global average pooling, a dense layer of 256 ReLU units and softmax. Other sizes by
compound scaling: --config.model.variant=b1 ... b7. Regularisation: --config.model.dropout
(unset: the variant's torchvision rate, 0.2 for B0) and --config.model.stochastic_depth.
ImageNet weights: --config.model.init=pretrained --config.model.in_channels=3
--config.model.checkpoint=/models/efficientnet_b0_rwightman-7f5810bc.pth
(README.md, "Pretrained weights"). RAVDESS results: README.md, "Reference systems".
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(model=dict(name="efficientnet", variant="b0", head_hidden=256))
    config.features.n_mels = 64
    config.train.num_epochs = 20
    return config
