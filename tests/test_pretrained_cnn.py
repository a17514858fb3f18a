"""`model.init=pretrained` loads torchvision weights through the training Run, and
`model.freeze_stages` keeps the stem and early stages fixed while the rest trains."""

import jax
import numpy as np
import pytest
import torch

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.train import trainer
from tests import tiny_config
from tests.test_imagenet import random_torch_model


def test_imagenet_weights_load_and_frozen_stages_stay_fixed(tmp_path):
    path = tmp_path / "resnet18.pth"
    torch.save(random_torch_model("resnet18").state_dict(), path)
    config = tiny_config.get_config()
    config.model.width = 64
    with config.unlocked():
        config.model.in_channels, config.model.checkpoint, config.model.freeze_stages = (
            3,
            str(path),
            1,
        )
    config.model.init = "pretrained"
    config.train.schedule, config.train.warmup_epochs = "constant", 0.0
    config_lib.validate(config)

    run = trainer.Trainer(config, steps_per_epoch=2)
    state = run.init()
    stem = np.asarray(state.params["conv1"]["kernel"])
    expected = random_torch_model("resnet18").state_dict()["conv1.weight"].numpy()  # OIHW
    np.testing.assert_array_equal(stem, expected.transpose(2, 3, 1, 0))
    before = jax.device_get(state.params)

    rng = np.random.default_rng(0)
    batch = {
        "wave": rng.normal(size=(16, run.clip_samples)).astype(np.float32),
        "label": rng.integers(0, 8, 16).astype(np.int32),
    }
    state, m = run.train_step(state, {k: run.to_global(v) for k, v in batch.items()})
    assert bool(m["finite"])
    after = jax.device_get(state.params)
    for frozen in ("conv1", "bn1", "layer1_0"):
        jax.tree.map(np.testing.assert_array_equal, after[frozen], before[frozen])
    for trained in ("layer2_0", "layer4_1", "fc"):
        assert any(
            not np.array_equal(a, b)
            for a, b in zip(jax.tree.leaves(after[trained]), jax.tree.leaves(before[trained]))
        )


def test_missing_weights_file_is_named_before_any_work(tmp_path):
    config = tiny_config.get_config()
    with config.unlocked():
        config.model.checkpoint = str(tmp_path / "nowhere" / "resnet18.pth")
    config.model.init = "pretrained"
    with pytest.raises(errors.ConfigError, match="nowhere/resnet18.pth"):
        config_lib.validate(config)
