"""ResNet18 from torchvision's ImageNet weights, on log-mel repeated to 3 channels.

  python -m jax_ser.main --config configs/resnet18_imagenet_mel.py --workdir runs/rn18_imagenet \
      --config.model.checkpoint=/path/to/resnet18-f37072fd.pth

The weights file is https://download.pytorch.org/models/resnet18-f37072fd.pth. The stem and first
stage stay frozen (model.freeze_stages=1); the classifier is new. --config.model.init=random trains
the same network from scratch. Not measured yet.
"""

from jax_ser.config import base_config


def get_config():
    config = base_config(
        model=dict(
            name="resnet",
            depth=18,
            width=64,
            in_channels=3,
            dropout=0.2,
            checkpoint="resnet18-f37072fd.pth",
            freeze_stages=1,
        )
    )
    config.model.init = "pretrained"
    config.features.n_mels = 128
    config.train.learning_rate = 3e-4
    config.train.num_epochs = 20
    return config
