"""ImageNet weights: torchvision-layout PyTorch models with random weights, saved as .pth and
.safetensors, loaded into the Flax ResNet/EfficientNet must give the same logits; EfficientNet
parameter counts; one-channel stems; the freeze mask; errors."""

import functools
import math
import sys

import flax.linen as linen
import jax
import jax.numpy as jnp
import numpy as np
import pytest

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")
from torch import nn  # noqa: E402

from jax_ser.models import efficientnet, resnet  # noqa: E402
from jax_ser.models.pretrained import imagenet

# torchvision.models.efficientnet_b{0..7}(): sum(p.numel() for p in m.parameters()).
TORCHVISION_PARAMS = {
    "b0": 5_288_548, "b1": 7_794_184, "b2": 9_109_994, "b3": 12_233_232,
    "b4": 19_341_616, "b5": 30_389_784, "b6": 43_040_704, "b7": 66_347_960,
}


# --- torchvision's layouts, rewritten compactly: same modules, same state-dict keys ---------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample

    def forward(self, x):
        y = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride, downsample):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.downsample = downsample

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn3(self.conv3(torch.relu(self.bn2(self.conv2(y)))))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


class TorchResNet(nn.Module):
    def __init__(self, block, layers):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        inplanes = 64
        for i, num_blocks in enumerate(layers):
            planes, stride, blocks = 64 * 2**i, 1 if i == 0 else 2, []
            for j in range(num_blocks):
                downsample = None
                if j == 0 and (stride != 1 or inplanes != planes * block.expansion):
                    downsample = nn.Sequential(
                        nn.Conv2d(inplanes, planes * block.expansion, 1, stride, bias=False),
                        nn.BatchNorm2d(planes * block.expansion),
                    )
                blocks.append(block(inplanes, planes, stride if j == 0 else 1, downsample))
                inplanes = planes * block.expansion
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
        self.fc = nn.Linear(inplanes, 1000)

    def forward(self, x):
        x = nn.functional.max_pool2d(torch.relu(self.bn1(self.conv1(x))), 3, 2, 1)
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(x.mean(dim=(2, 3)))


def divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn(cin, cout, kernel, stride=1, groups=1, act=True, eps=1e-5):
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout, eps=eps),
    ]
    return nn.Sequential(*layers, *([nn.SiLU()] if act else []))


class SqueezeExcitation(nn.Module):
    def __init__(self, channels, squeeze):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.fc2 = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x):
        scale = self.fc2(nn.functional.silu(self.fc1(x.mean(dim=(2, 3), keepdim=True))))
        return x * torch.sigmoid(scale)


class MBConv(nn.Module):
    def __init__(self, expand, kernel, stride, cin, cout, eps):
        super().__init__()
        hidden = divisible(cin * expand)
        layers = [conv_bn(cin, hidden, 1, eps=eps)] if hidden != cin else []
        layers += [
            conv_bn(hidden, hidden, kernel, stride, groups=hidden, eps=eps),
            SqueezeExcitation(hidden, max(1, cin // 4)),
            conv_bn(hidden, cout, 1, act=False, eps=eps),
        ]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):  # eval mode: stochastic depth is the identity
        return x + self.block(x) if self.residual else self.block(x)


class TorchEfficientNet(nn.Module):
    def __init__(self, width, depth, eps=1e-5):
        super().__init__()
        setting = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1)]
        features = [conv_bn(3, divisible(32 * width), 3, 2, eps=eps)]
        for expand, kernel, stride, cin, cout, n in setting:
            cin, cout = divisible(cin * width), divisible(cout * width)
            features.append(nn.Sequential(*[
                MBConv(expand, kernel, stride if j == 0 else 1, cin if j == 0 else cout, cout, eps)
                for j in range(int(math.ceil(n * depth)))
            ]))
        features.append(conv_bn(cout, 4 * cout, 1, eps=eps))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(4 * cout, 1000))

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


# One in_channels per architecture, so each Flax model is traced once (variable_shapes' cache)
# and compiled once; in_channels=1 gets the summed RGB stem and must still match torch on the
# spectrogram repeated into RGB.
TORCH_MODELS = {
    "resnet18": (lambda: TorchResNet(BasicBlock, (2, 2, 2, 2)), "resnet", 18, 3),
    "resnet50": (lambda: TorchResNet(Bottleneck, (3, 4, 6, 3)), "resnet", 50, 1),
    "efficientnet_b0": (lambda: TorchEfficientNet(1.0, 1.0), "efficientnet", "b0", 1),
    "efficientnet_b1": (lambda: TorchEfficientNet(1.0, 1.1), "efficientnet", "b1", 3),
}
FLAX_MODELS = {"resnet": resnet.Model, "efficientnet": efficientnet.Model}


def random_torch_model(arch):
    """Random weights, BatchNorm affine and running statistics included, so all of them matter."""
    torch.manual_seed(0)
    model = TORCH_MODELS[arch][0]().eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0.0, 0.1)
                module.running_mean.normal_(0.0, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    return model


def flax_model(arch, **fields):
    _, model_name, size, in_channels = TORCH_MODELS[arch]
    size_field = "depth" if model_name == "resnet" else "variant"
    fields = {"num_classes": 1000, size_field: size, "in_channels": in_channels, **fields}
    return FLAX_MODELS[model_name](**fields)


@functools.cache
def variable_shapes(model):
    return jax.eval_shape(lambda: model.init(jax.random.key(0), jnp.zeros((1, 32, 32))))


def fresh_variables(model, seed=0):
    """Random stand-ins for model.init's variables, drawn with numpy (no slow init compile)."""
    rng = np.random.default_rng(seed)
    return jax.tree.map(
        lambda s: jnp.asarray(rng.normal(size=s.shape), s.dtype), variable_shapes(model)
    )


def stem_kernel(params, arch):
    stem = params["conv1"] if arch.startswith("resnet") else params["features_0"]["conv"]
    return stem["kernel"]


def count(tree):
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree_util.tree_leaves(tree))


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """These small forward passes are 20x slower with two threads on a busy two-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """arch -> (torch model, .pth path, .safetensors path), built once per architecture."""
    cache = {}

    def save(arch):
        if arch not in cache:
            model, folder = random_torch_model(arch), tmp_path_factory.mktemp(arch)
            state = model.state_dict()
            torch.save(state, folder / f"{arch}.pth")
            safetensors_torch.save_file(
                {k: v.contiguous() for k, v in state.items()}, str(folder / f"{arch}.safetensors")
            )
            cache[arch] = (model, str(folder / f"{arch}.pth"), str(folder / f"{arch}.safetensors"))
        return cache[arch]

    return save


@pytest.fixture(scope="module")
def spectrograms():
    return np.random.default_rng(0).standard_normal((2, 64, 64)).astype(np.float32)


def torch_logits(model, spectrograms):
    rgb = torch.from_numpy(spectrograms)[:, None].repeat(1, 3, 1, 1)
    with torch.no_grad():
        return model(rgb).numpy()


def assert_close(actual, expected):
    scale = max(1.0, float(np.abs(expected).max()))
    assert np.abs(np.asarray(actual) - expected).max() <= 1e-4 * scale


@pytest.mark.parametrize("arch", ["resnet18", "resnet50", "efficientnet_b0"])
def test_logits_match_torch(arch, saved, spectrograms):
    torch_model, pth, _ = saved(arch)
    model = flax_model(arch)
    variables = imagenet.load_torchvision(
        pth, TORCH_MODELS[arch][1], fresh_variables(model), include_classifier=True
    )
    assert stem_kernel(variables["params"], arch).shape[2] == model.in_channels
    logits = jax.jit(functools.partial(model.apply, train=False))(variables, spectrograms)
    assert_close(logits, torch_logits(torch_model, spectrograms))


@pytest.mark.parametrize("arch", list(TORCH_MODELS))
def test_pth_and_safetensors_fill_every_variable_alike(arch, saved):
    """The fresh variables differ (seeds 0, 1), so equal results mean every leaf came from the
    files, the classifier too with include_classifier."""
    _, pth, safetensors = saved(arch)
    model_name = TORCH_MODELS[arch][1]
    model = flax_model(arch)
    variables, from_safetensors = (
        imagenet.load_torchvision(path, model_name, fresh_variables(model, seed), True)
        for seed, path in enumerate((pth, safetensors))
    )
    jax.tree.map(np.testing.assert_array_equal, variables, from_safetensors)


@pytest.mark.parametrize(
    "arch, classifier", [("resnet18", "fc"), ("efficientnet_b0", "classifier_1")]
)
def test_classifier_and_hidden_head_keep_fresh_init(arch, classifier, saved):
    _, pth, _ = saved(arch)
    model = flax_model(arch, head_hidden=32)
    fresh = fresh_variables(model)
    variables = imagenet.load_torchvision(pth, TORCH_MODELS[arch][1], fresh)
    for name in (classifier, "hidden"):
        jax.tree.map(
            np.testing.assert_array_equal, variables["params"][name], fresh["params"][name]
        )
    loaded, drawn = (stem_kernel(v["params"], arch) for v in (variables, fresh))
    assert not np.allclose(loaded, drawn)


@pytest.mark.parametrize("variant", list(TORCHVISION_PARAMS))
def test_efficientnet_param_count_matches_torchvision(variant):
    model = efficientnet.Model(num_classes=1000, variant=variant, in_channels=3)
    assert count(variable_shapes(model)["params"]) == TORCHVISION_PARAMS[variant]


def test_torch_layout_has_torchvision_keys(saved):
    """Keys and shapes as in torchvision's efficientnet_b0 / resnet18 state dicts."""
    efficientnet_state = saved("efficientnet_b0")[0].state_dict()
    assert efficientnet_state["features.1.0.block.0.0.weight"].shape == (32, 1, 3, 3)
    assert efficientnet_state["features.1.0.block.1.fc1.weight"].shape == (8, 32, 1, 1)
    assert efficientnet_state["features.2.0.block.0.1.running_var"].shape == (96,)
    assert efficientnet_state["features.8.0.weight"].shape == (1280, 320, 1, 1)
    assert efficientnet_state["classifier.1.weight"].shape == (1000, 1280)
    resnet_state = saved("resnet18")[0].state_dict()
    assert resnet_state["layer2.0.downsample.1.running_mean"].shape == (128,)
    assert imagenet.torch_key(("params", "layer2_0", "downsample_conv", "kernel")) == (
        "layer2.0.downsample.0.weight"
    )
    assert imagenet.torch_key(("batch_stats", "features_1_0", "block_0", "bn", "var")) == (
        "features.1.0.block.0.1.running_var"
    )


def test_stochastic_depth_drops_whole_residual_branches_per_example():
    """torchvision's "row" mode: each example keeps x + branch / (1 - p) or just x, drawn from
    the "dropout" rng in train mode; eval mode keeps x + branch."""
    norm = functools.partial(linen.BatchNorm, use_running_average=True)
    block = efficientnet.MBConv(6, 3, 1, 8, drop_prob=0.5, norm=norm)
    rng = np.random.default_rng(2)
    x = jnp.asarray(np.repeat(rng.standard_normal((1, 4, 4, 8)), 16, axis=0), jnp.float32)
    shapes = jax.eval_shape(lambda: block.init(jax.random.key(0), x, train=False))
    variables = jax.tree.map(lambda s: jnp.asarray(rng.uniform(0.1, 0.3, s.shape), s.dtype), shapes)
    apply = jax.jit(block.apply, static_argnames="train")
    branch = apply(variables, x, train=False) - x
    y = apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)})
    dropped = np.all(np.isclose(y, x, rtol=1e-5, atol=1e-5), axis=(1, 2, 3))
    kept = np.all(np.isclose(y, x + 2 * branch, rtol=1e-4, atol=1e-4), axis=(1, 2, 3))
    assert np.all(dropped ^ kept) and 0 < dropped.sum() < 16


def test_efficientnet_train_mode_updates_batch_stats():
    model = flax_model("efficientnet_b0")
    variables = variable_shapes(model)
    logits, updates = jax.eval_shape(
        lambda v, x: model.apply(
            v, x, train=True, rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"]
        ),
        variables, jax.ShapeDtypeStruct((2, 48, 40), jnp.float32),
    )
    assert (logits.shape, logits.dtype) == ((2, 1000), jnp.float32)
    assert jax.tree.structure(updates["batch_stats"]) == jax.tree.structure(
        variables["batch_stats"]
    )


def test_freeze_mask():
    params = fresh_variables(flax_model("resnet18"))["params"]
    mask = imagenet.freeze_mask(params, "resnet", 2)
    frozen = {name for name, sub in mask.items() if all(jax.tree_util.tree_leaves(sub))}
    assert frozen == {"conv1", "bn1", "layer1_0", "layer1_1", "layer2_0", "layer2_1"}
    assert not any(jax.tree_util.tree_leaves({k: v for k, v in mask.items() if k not in frozen}))
    assert jax.tree.structure(mask) == jax.tree.structure(params)

    params = fresh_variables(flax_model("efficientnet_b0"))["params"]
    mask = imagenet.freeze_mask(params, "efficientnet", 1)
    frozen = {name for name, sub in mask.items() if all(jax.tree_util.tree_leaves(sub))}
    assert frozen == {"features_0", "features_1_0"}
    assert not imagenet.freeze_mask(params, "efficientnet", 7)["features_8"]["conv"]["kernel"]
    with pytest.raises(ValueError, match="7 stages"):
        imagenet.freeze_mask(params, "efficientnet", 8)
    with pytest.raises(ValueError, match="variables\\['params'\\]"):
        imagenet.freeze_mask({"params": params}, "efficientnet", 1)


def test_mismatched_weights_are_listed(saved, tmp_path):
    _, pth, _ = saved("resnet18")
    resnet34 = fresh_variables(resnet.Model(num_classes=1000, depth=34))
    with pytest.raises(ValueError, match=r"Flax variables without a weight: layer1\.2\.") as error:
        imagenet.load_torchvision(pth, "resnet", resnet34)
    assert "shape" not in str(error.value)
    state = torch.load(pth, weights_only=True)
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    state["layer5.0.conv1.weight"] = torch.zeros(1)
    torch.save(state, tmp_path / "edited.pth")
    with pytest.raises(ValueError) as error:
        imagenet.load_torchvision(
            str(tmp_path / "edited.pth"), "resnet", fresh_variables(flax_model("resnet18"))
        )
    assert "1 weights without a Flax variable: layer5.0.conv1.weight;" in str(error.value)
    assert "conv1.weight (64, 3, 3, 3) != (7, 7, 3, 64)" in str(error.value)


def test_missing_file_unknown_model_and_missing_torch(tmp_path, monkeypatch, saved):
    variables = {"params": {}}
    missing = str(tmp_path / "nowhere.pth")
    with pytest.raises(FileNotFoundError, match=r"nowhere\.pth.*resnet18-f37072fd\.pth"):
        imagenet.load_torchvision(missing, "resnet", variables)
    with pytest.raises(ValueError, match="known: resnet, efficientnet"):
        imagenet.load_torchvision(missing, "vgg", variables)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        imagenet.load_torchvision(saved("resnet18")[1], "resnet", variables)
