"""Configs: the schema every experiment shares (schema.py), the checks run before any work
(check.py), and the config saved in a run's workdir (workdir.py)."""

from jax_ser.config.check import validate
from jax_ser.config.schema import base_config, fine_tuning, load_module, model_defaults
from jax_ser.config.workdir import from_saved
from jax_ser.errors import ConfigError

__all__ = ["ConfigError", "base_config", "fine_tuning", "from_saved", "load_module",
           "model_defaults", "validate"]
