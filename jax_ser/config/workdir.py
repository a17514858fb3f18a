"""A run's saved config: written once, compared on resumption, read back on today's schema."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import ml_collections

from jax_ser.config.schema import base_config
from jax_ser.errors import ConfigError

# Where the data are read from: the same utterances and batches from folders or TFDS.
DATA_LOCATION = ("data.source", "data.data_dir")
# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = (
    "train.progress_bar", "data.num_workers", "data.cache_dir", "train.fsdp",
    "train.cpu_devices",
    "eval.temperature_scaling",  # reporting only
    *DATA_LOCATION,
)
# Keys that moved to their own section: a workdir saved before the move reads as today's.
MOVED = {
    "data.eval_crops": "eval.crops",
    "train.eval_batch_size": "eval.batch_size",
    "train.temperature_scaling": "eval.temperature_scaling",
    "train.bn_statistics": "adapt.bn_statistics",
    "train.speaker_im_steps": "adapt.speaker_im_steps",
    "train.speaker_im_lr": "adapt.speaker_im_lr",
}


def from_saved(saved: dict) -> ml_collections.ConfigDict:
    """A run's saved config.json on today's schema: keys that moved are read from their old
    place, and every key the schema gained since the run was saved takes its default (all
    defaults leave a feature off), so the code reads each key directly however old the workdir."""
    saved = json.loads(json.dumps(saved))  # a copy
    for old, new in MOVED.items():
        old_section, old_key = old.split(".")
        if old_key in saved.get(old_section, {}):
            new_section, new_key = new.split(".")
            value = saved[old_section].pop(old_key)
            saved.setdefault(new_section, {}).setdefault(new_key, value)
    config = ml_collections.ConfigDict(saved)
    _fill_missing(config, base_config(model={"name": saved["model"]["name"]}))
    return config


def _fill_missing(config: ml_collections.ConfigDict, defaults: ml_collections.ConfigDict) -> None:
    for key, value in defaults.items():
        if key not in config:
            config[key] = value.to_dict() if isinstance(value, ml_collections.ConfigDict) else value
        elif isinstance(value, ml_collections.ConfigDict):
            _fill_missing(config[key], value)


def read(workdir: str | Path) -> ml_collections.ConfigDict:
    """The config a workdir's run was made with, on today's schema."""
    path = Path(workdir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: is {workdir} a jax_ser training workdir?")
    return from_saved(json.loads(path.read_text()))


def save_or_check_config(config, workdir: Path) -> None:
    """Write config.json, or refuse a workdir whose run was made with another config. Only
    process 0 writes, replacing the file whole, so the others never read it half-written."""
    path = workdir / "config.json"
    changed = config_changes(config, workdir)
    if changed:
        raise ConfigError(
            f"{workdir} holds a run with another config ({', '.join(changed[:5])}); resume with "
            "the same config or choose a new --workdir"
        )
    if jax.process_index() == 0:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(config.to_json_best_effort(indent=2))
        tmp.replace(path)


def config_changes(config, workdir: Path) -> list[str]:
    """'key: old -> new' for each setting in which the run saved in `workdir` differs from
    `config` (none when the workdir holds no run yet)."""
    path = workdir / "config.json"
    if not path.exists():
        return []
    new = _flatten(json.loads(config.to_json_best_effort()))
    # A key missing from the old config is a field the schema gained since: the run had it at
    # its default (off), so only a new config that sets it otherwise differs.
    saved = from_saved(json.loads(path.read_text()))
    old = _flatten(json.loads(saved.to_json_best_effort()))
    changed = sorted(k for k in old.keys() | new.keys()
                     if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
