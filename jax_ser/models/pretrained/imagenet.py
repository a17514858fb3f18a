"""torchvision's ImageNet weights for jax_ser's ResNet and EfficientNet, and the mask that freezes
their early stages.

Emotion corpora hold a few thousand utterances; convolutional features learnt on ImageNet give the
spectrogram models a better start than random ones. The Flax modules are named after torchvision's,
so each Flax variable's state-dict key follows from its path: `_` becomes `.`, `conv` becomes `0`
and `bn` `1` (`layer1_0/downsample_conv/kernel` is `layer1.0.downsample.0.weight`,
`features_1_0/block_0/bn/scale` is `features.1.0.block.0.1.weight`).
"""

import importlib
import os
import re
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

DOWNLOADS = "https://download.pytorch.org/models/"


class Layout(NamedTuple):
    stem: tuple[str, ...]  # top-level Flax names of the stem
    stage: str  # pattern of a block's top-level Flax name; group 1 is its stage, from 1
    num_stages: int
    stem_conv: str  # state-dict key of the first convolution's weight
    classifier: str  # top-level Flax name of the ImageNet classifier
    weight_files: tuple[str, ...]  # torchvision's IMAGENET1K_V1 files, from DOWNLOADS


LAYOUTS = {
    "resnet": Layout(
        ("conv1", "bn1"), r"layer(\d+)_\d+", 4, "conv1.weight", "fc",
        ("resnet18-f37072fd.pth", "resnet34-b627a593.pth", "resnet50-0676ba61.pth"),
    ),
    "efficientnet": Layout(
        ("features_0",), r"features_(\d+)_\d+", 7, "features.0.0.weight", "classifier_1",
        (
            "efficientnet_b0_rwightman-7f5810bc.pth", "efficientnet_b1_rwightman-bac287d4.pth",
            "efficientnet_b2_rwightman-c35c1473.pth", "efficientnet_b3_rwightman-b3899882.pth",
            "efficientnet_b4_rwightman-23ab8bcd.pth", "efficientnet_b5_lukemelas-1a07897c.pth",
            "efficientnet_b6_lukemelas-24a108a5.pth", "efficientnet_b7_lukemelas-c5b4e57e.pth",
        ),
    ),
}
# The optional head_hidden layer of both models: new, so never in a torchvision state dict.
HIDDEN = "hidden"
TORCH_MODULE = {"conv": "0", "bn": "1"}
TORCH_LEAF = {
    ("params", "kernel"): "weight",
    ("params", "scale"): "weight",
    ("params", "bias"): "bias",
    ("batch_stats", "mean"): "running_mean",
    ("batch_stats", "var"): "running_var",
}
SHOWN = 10  # mismatches listed per kind in an error


def layout(model_name: str) -> Layout:
    if model_name not in LAYOUTS:
        known = ", ".join(LAYOUTS)
        raise ValueError(f"unknown model {model_name!r} for ImageNet weights; known: {known}")
    return LAYOUTS[model_name]


def torch_key(path: tuple[str, ...]) -> str:
    """State-dict key of a flattened Flax variable path such as ('params', 'conv1', 'kernel')."""
    collection, *modules, leaf = path
    parts = [TORCH_MODULE.get(part, part) for module in modules for part in module.split("_")]
    return ".".join(parts + [TORCH_LEAF[collection, leaf]])


def import_for(module: str, why: str):
    try:
        return importlib.import_module(module)
    except ImportError as error:
        package = module.split(".")[0]
        raise ImportError(f"{why} needs the `{package}` package: pip install {package}") from error


def read_state_dict(path: str) -> dict[str, np.ndarray]:
    """A `.safetensors` file, or else a torch pickle read with weights_only (no code runs)."""
    if path.endswith(".safetensors"):
        return import_for("safetensors.numpy", f"reading {path}").load_file(path)
    torch = import_for("torch", f"reading {path} (or convert it to .safetensors elsewhere)")
    state = torch.load(path, map_location="cpu", weights_only=True)
    return {
        key: (value.float() if value.is_floating_point() else value).numpy()
        for key, value in state.items()
    }


def flax_value(weight: np.ndarray, key: str, shape: tuple[int, ...], stem_conv: str) -> np.ndarray:
    """Conv OIHW -> HWIO, linear [out, in] -> [in, out]; an RGB stem summed for one channel."""
    if weight.ndim == 4:
        if key == stem_conv and shape[2] == 1 and weight.shape[1] == 3:
            weight = weight.sum(axis=1, keepdims=True)
        return weight.transpose(2, 3, 1, 0)
    return weight.T if weight.ndim == 2 else weight


def load_torchvision(
    path: str, model_name: str, variables: Any, include_classifier: bool = False
) -> dict:
    """`variables` of a jax_ser `resnet` or `efficientnet` Model with torchvision's weights.

    `path` is a torchvision state dict saved as `.pth` (read with torch, weights_only) or
    `.safetensors`. BatchNorm weight/bias/running_mean/running_var become scale/bias in params
    and mean/var in batch_stats. A one-channel model (in_channels=1) gets the RGB stem kernel
    summed over its input channels, a common way to use ImageNet weights on grey input: it
    computes exactly what the RGB kernel does on the spectrogram repeated into three channels
    (in_channels=3), without the copies. The ImageNet classifier (`fc`, `classifier.1`) keeps the
    fresh initialisation of `variables` unless `include_classifier`, and so does the head_hidden
    layer. Every other Flax variable must receive a weight of its shape and every other weight
    must be used: otherwise ValueError listing the mismatches.
    """
    spec = layout(model_name)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"no torchvision weights at {path}: on a machine with network, download the "
            f"{model_name} file from {DOWNLOADS} ({', '.join(spec.weight_files)}; torchvision also "
            "caches them in ~/.cache/torch/hub/checkpoints) and copy it there"
        )
    state = read_state_dict(path)
    kept = {HIDDEN} if include_classifier else {HIDDEN, spec.classifier}
    classifier_prefix = spec.classifier.replace("_", ".") + "."
    loaded, used, missing, wrong_shape = {}, set(), [], {}
    for var_path, leaf in traverse_util.flatten_dict(variables).items():
        if var_path[1] in kept:
            loaded[var_path] = leaf
            continue
        key = torch_key(var_path)
        if key not in state:
            missing.append(key)
            continue
        used.add(key)
        value = flax_value(state[key], key, leaf.shape, spec.stem_conv)
        if value.shape != leaf.shape:
            wrong_shape[key] = leaf.shape
        loaded[var_path] = jnp.asarray(value, leaf.dtype)
    unused = [
        key for key in state
        if key not in used and not key.endswith("num_batches_tracked")
        and (include_classifier or not key.startswith(classifier_prefix))
    ]
    problems = [
        f"{len(keys)} {what}: {', '.join(keys[:SHOWN])}{' ...' if len(keys) > SHOWN else ''}"
        for what, keys in (
            ("Flax variables without a weight", sorted(missing)),
            ("weights without a Flax variable", unused),
            (
                "shape mismatches (torch OIHW / [out, in] != Flax HWIO / [in, out])",
                [f"{k} {state[k].shape} != {wrong_shape[k]}" for k in state if k in wrong_shape],
            ),
        )
        if keys
    ]
    if problems:
        raise ValueError(
            f"{path} does not fit this {model_name} model (wrong depth/variant/width/stem?): "
            + "; ".join(problems)
        )
    return traverse_util.unflatten_dict(loaded)


def freeze_mask(params: Any, model_name: str, stages: int) -> Any:
    """Pytree of bools like `params`, True for the stem and stages 1..`stages` (0: stem only).

    Meant for optax (e.g. optax.multi_transform with set_to_zero for True) when fine-tuning from
    ImageNet: the early, generic filters stay fixed. Their BatchNorm statistics still update in
    train mode.
    """
    spec = layout(model_name)
    if not 0 <= stages <= spec.num_stages:
        raise ValueError(f"{model_name} has {spec.num_stages} stages after the stem, not {stages}")
    if not set(spec.stem) & set(params):
        raise ValueError(
            f"no {model_name} stem {spec.stem} among {sorted(params)}: pass variables['params'] "
            f"of a {model_name} model"
        )

    def frozen(path, _) -> bool:
        name = path[0].key
        match = re.fullmatch(spec.stage, name)
        return name in spec.stem or (match is not None and int(match.group(1)) <= stages)

    return jax.tree_util.tree_map_with_path(frozen, params)


def lr_scales(params: Any, model_name: str, freeze_stages: int) -> Any:
    """Learning-rate factors for the optimizer: 0 for the stem and the first `freeze_stages`
    stages, 1 elsewhere; None (no grouping) when nothing is frozen."""
    if freeze_stages <= 0:
        return None
    return jax.tree.map(lambda frozen: 0.0 if frozen else 1.0,
                        freeze_mask(params, model_name, freeze_stages))
