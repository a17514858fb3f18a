"""Model registry: `config.model.name` names a file here whose `Model` is a flax.linen Module.

Adding a model is adding one file. Every field of `config.model` except `name` and `init` is passed to
the Model's constructor, so a config field the model does not know is an error at validation time.
"""

import importlib
import pkgutil

NON_MODEL_FIELDS = ("name", "init")


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


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
