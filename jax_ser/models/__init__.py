"""Model registry: `config.model.name` names a file here whose `Model` is a flax.linen Module.

Adding a model is adding one file. Every field of `config.model` except `name` and `init` is passed
to the Model's constructor, so a config field the model does not know is an error at validation
time.
"""

import importlib
import os
import pkgutil
import re

from jax_ser.errors import ConfigError

NON_MODEL_FIELDS = ("name", "init")
SHARED = ("heads", "lstm")  # building blocks of several models, not models
# A hub id such as facebook/wav2vec2-base, fetched where there is network.
HUB_ID = re.compile(r"[\w-]+/[\w.-]+")


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__)
                  if not (m.name.startswith("_") or m.ispkg or m.name in SHARED))


def module(name: str):
    """The model's file. Besides `Model` it may define `load_pretrained(variables, model_config)`
    (for `model.init=pretrained`) and `lr_scales(params, model_config)` (per-parameter learning-rate
    factors, 0 = frozen)."""
    if name not in names():
        raise ValueError(f"unknown model {name!r}; known: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def get(name: str):
    return module(name).Model


def build(model_config, num_classes: int):
    kwargs = {k: v for k, v in model_config.items() if k not in NON_MODEL_FIELDS}
    return get(model_config["name"])(num_classes=num_classes, **kwargs)


def check_config(config):
    """The model section's keys that cannot run: the model is built and traced on one clip's
    features (nothing computed), at every train.progressive_resizing size too, and a pretrained
    checkpoint must exist. Returns the traced variables' shapes (None for the classical family)."""
    import flax
    import jax
    import jax.numpy as jnp

    from jax_ser.data import precomputed
    from jax_ser.frontend import augment, features

    if config.model.name == "classical":  # scikit-learn on pooled features
        module(config.model.name).check_config(config)
        return None
    if config.model.name not in names():
        known = ", ".join(names())
        raise ConfigError(f"config.model.name: unknown model {config.model.name!r}; known: {known}")
    try:  # builds and traces the model on one clip's features, without computing anything
        model = build(config.model, num_classes=2)
        feature_config = precomputed.feature_config(config)
        clip = precomputed.input_shape(config)[0]
        shape = (
            1,
            features.num_frames(clip, feature_config),
            features.num_features(feature_config),
        )
        variables = jax.eval_shape(
            lambda: model.init(jax.random.key(0), jnp.zeros(shape), train=False)
        )
    except (ValueError, TypeError) as e:
        raise ConfigError(f"config.model: {e}") from None
    for stage in config.train.progressive_resizing:
        # the weights built for the full size must take the small maps of the first epochs too
        small = (1, *augment.resized_shape(shape[1], shape[2], stage[1:]))
        try:
            jax.eval_shape(lambda v, x: model.apply(v, x, train=False), variables, jnp.zeros(small))
        except (ValueError, TypeError, flax.errors.FlaxError) as e:
            raise ConfigError(
                f"config.train.progressive_resizing: model {config.model.name!r}, built for "
                f"{shape[1]} x {shape[2]} feature maps, cannot take the {small[1]} x {small[2]} "
                f"maps of stage {tuple(stage)!r} (a model that pools over time and frequency, "
                f"e.g. resnet or cnn, can): {str(e).splitlines()[0]}"
            ) from None
    can_load = hasattr(module(config.model.name), "load_pretrained")
    if config.model.init not in ("random", "pretrained") or (
        config.model.init == "pretrained" and not can_load
    ):
        raise ConfigError(
            f"config.model.init: {config.model.init!r}; model {config.model.name!r} "
            f"supports: random{', pretrained' if can_load else ''}"
        )
    if config.model.init == "pretrained":
        checkpoint = config.model.get("checkpoint", "")
        if not os.path.exists(os.path.expanduser(checkpoint)) and not HUB_ID.fullmatch(checkpoint):
            raise ConfigError(
                f"config.model.checkpoint: {checkpoint!r} not found. Download the weights (README: "
                "'Pretrained weights') and pass their local path, or train from scratch with "
                "--config.model.init=random"
            )
    return variables
