"""ResNet shapes, torchvision parameter counts, BatchNorm/dropout modes and bad configs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax_ser.models import resnet

# torchvision.models.resnet{18,34,50}(num_classes=1000): sum(p.numel() for p in m.parameters()).
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032}


def init_shapes(model, shape=(1, 32, 32)):
    """Variable shapes without running any compute."""
    return jax.eval_shape(
        lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False)
    )


def output_shape(model, shape):
    """Logits' ShapeDtypeStruct from abstract evaluation: checks wiring without the compute."""
    feats = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.eval_shape(
        lambda x: model.init_with_output(jax.random.key(0), x, train=False)[0], feats
    )


def count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


@pytest.fixture(scope="module")
def feats():
    return jax.random.normal(jax.random.key(1), (2, 32, 24))


@pytest.fixture(scope="module")
def model():
    return resnet.Model(num_classes=3, width=8, dropout=0.5, head_hidden=16)


@pytest.fixture(scope="module")
def variables(model, feats):
    """He-scaled variables drawn with numpy: compiling flax's initialisers takes ~15 s on CPU."""
    rng = np.random.default_rng(0)

    def draw(path, leaf):
        name = path[-1].key
        if name == "kernel":
            fan_in = np.prod(leaf.shape[:-1])
            return jnp.asarray(rng.normal(0.0, np.sqrt(2.0 / fan_in), leaf.shape), leaf.dtype)
        return jnp.full(leaf.shape, 1.0 if name in ("scale", "var") else 0.0, leaf.dtype)

    return jax.tree_util.tree_map_with_path(draw, init_shapes(model, feats.shape))


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_param_count_matches_torchvision(depth):
    model = resnet.Model(num_classes=1000, depth=depth, in_channels=3)
    assert count(init_shapes(model)["params"]) == TORCHVISION_PARAMS[depth]


@pytest.mark.parametrize("depth", [18, 34, 50])
def test_output_shape(depth):
    out = output_shape(resnet.Model(num_classes=7, depth=depth, width=8), (2, 64, 40))
    assert out.shape == (2, 7)
    assert out.dtype == jnp.float32


def test_eval_outputs_are_finite_and_deterministic(model, variables, feats):
    evals = [model.apply(variables, feats, train=False) for _ in range(2)]
    assert evals[0].shape == (2, 3)
    assert np.all(np.isfinite(evals[0]))
    np.testing.assert_array_equal(evals[0], evals[1])


def test_torchvision_names():
    params = init_shapes(resnet.Model(num_classes=5, depth=18, in_channels=3))["params"]
    assert {"conv1", "bn1", "fc", "layer1_0", "layer4_1"} <= set(params)
    assert "downsample_conv" not in params["layer1_0"]
    assert set(params["layer2_0"]) == {
        "conv1", "bn1", "conv2", "bn2", "downsample_conv", "downsample_bn"
    }
    assert params["conv1"]["kernel"].shape == (7, 7, 3, 64)
    assert params["layer4_1"]["conv2"]["kernel"].shape == (3, 3, 512, 512)
    assert params["fc"]["kernel"].shape == (512, 5)
    bottleneck = init_shapes(resnet.Model(num_classes=5, depth=50))["params"]["layer1_0"]
    assert bottleneck["conv3"]["kernel"].shape == (1, 1, 64, 256)
    assert bottleneck["downsample_conv"]["kernel"].shape == (1, 1, 64, 256)


def test_width_scales_params():
    narrow = count(init_shapes(resnet.Model(num_classes=4, width=16))["params"])
    wide = count(init_shapes(resnet.Model(num_classes=4, width=32))["params"])
    # Convolutions dominate and grow with width squared; BN and fc grow linearly.
    assert 3.9 < wide / narrow < 4.0


def test_head_hidden_adds_dense_layer():
    params = init_shapes(resnet.Model(num_classes=4, width=8, head_hidden=32))["params"]
    assert params["hidden"]["kernel"].shape == (64, 32)
    assert params["fc"]["kernel"].shape == (32, 4)


def test_batch_stats_update_only_in_train(model, variables, feats):
    rngs = {"dropout": jax.random.key(2)}
    _, updates = model.apply(variables, feats, train=True, rngs=rngs, mutable=["batch_stats"])
    before = jax.tree_util.tree_leaves(variables["batch_stats"])
    after = jax.tree_util.tree_leaves(updates["batch_stats"])
    assert any(not np.allclose(a, b) for a, b in zip(before, after))
    _, updates = model.apply(variables, feats, train=False, mutable=["batch_stats"])
    for a, b in zip(before, jax.tree_util.tree_leaves(updates["batch_stats"])):
        np.testing.assert_array_equal(a, b)


def test_dropout_changes_outputs_in_train(model, variables, feats):
    trains = [
        model.apply(variables, feats, train=True, rngs={"dropout": jax.random.key(k)},
                    mutable=["batch_stats"])[0]
        for k in range(2)
    ]
    assert not np.allclose(trains[0], trains[1])
    with pytest.raises(Exception, match="dropout"):
        model.apply(variables, feats, train=True, mutable=["batch_stats"])


@pytest.mark.parametrize("stem, in_channels", [("imagenet", 1), ("small", 1), ("small", 3)])
def test_stems(stem, in_channels):
    model = resnet.Model(num_classes=2, width=8, stem=stem, in_channels=in_channels)
    kernel = init_shapes(model, (1, 16, 12))["params"]["conv1"]["kernel"].shape
    assert kernel == ((7, 7) if stem == "imagenet" else (3, 3)) + (in_channels, 8)
    assert output_shape(model, (1, 16, 12)).shape == (1, 2)


def test_bfloat16_compute_keeps_float32_params():
    model = resnet.Model(num_classes=3, width=8, dtype="bfloat16")  # as --config.model.dtype
    shapes = init_shapes(model)
    assert all(p.dtype == jnp.float32 for p in jax.tree_util.tree_leaves(shapes))
    assert output_shape(model, (2, 32, 24)).dtype == jnp.float32


@pytest.mark.parametrize("field", [{"depth": 20}, {"stem": "cifar"}])
def test_bad_config_raises(field):
    with pytest.raises(ValueError, match="unknown"):
        init_shapes(resnet.Model(num_classes=3, **field))
