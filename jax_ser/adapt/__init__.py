"""Speaker adaptation: a trained model fitted to one speaker from their unlabelled recordings.

A method is a module in this package, found by name, that defines
  DEFAULTS            its keys under `config.adapt`, with values that leave it off;
  ORDER               where it runs among the active methods (lower first);
  active(config)      whether the run uses it;
  check_config(config, variables)   (optional) a ConfigError for settings that cannot run;
  adapt(runner, speaker) -> Speaker  the speaker with the method applied.
`jax_ser.evaluate.runner.Runner.adapt` applies every active method in order, for training's
validation and test, prediction and re-evaluation alike. Adding a method is adding one file.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Any

import numpy as np


@dataclasses.dataclass
class Speaker:
    """One speaker as the adaptation sees them. `recordings`: their whole recordings (feature
    statistics come from these); `crops`: what the network sees of them (the recordings, or
    their clip-long windows), `num_crops` evaluation crops each; `state`: the weights to label
    them with; `stats`: their feature statistics [2, F], where the features use them."""

    recordings: list[np.ndarray]
    crops: list[np.ndarray]
    num_crops: int
    state: Any
    stats: np.ndarray | None = None


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def method(name: str):
    return importlib.import_module(f"{__name__}.{name}")


def methods() -> list:
    """Every method's module, in the order they apply."""
    return sorted((method(n) for n in names()), key=lambda m: m.ORDER)


def defaults() -> dict:
    """The `adapt` section of the config schema: every method's keys."""
    out = {}
    for m in methods():
        out.update(m.DEFAULTS)
    return out


def active(config) -> list:
    """The methods this config uses, in order."""
    return [m for m in methods() if m.active(config)]


def check_config(config, variables) -> None:
    for m in methods():
        if hasattr(m, "check_config"):
            m.check_config(config, variables)
