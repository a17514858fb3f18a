"""The --config flag every program shares: a config by name (`resnet18_mel`, `ablations/recipe`)
or by path, and the default workdir named after it.

The configs ship inside the package, in jax_ser/configs/ (the checkout's top-level configs/ links
there), so a name works from any directory and in an installed package. A path is read as given
first; a path that does not exist and starts with `configs/` (as the docs' commands do) is read
from the package's configs, so those commands also run outside the checkout.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from absl import flags
from ml_collections.config_flags import config_flags as _config_flags

CONFIGS = Path(__file__).resolve().parents[1] / "configs"

# The --config flag is a key flag of the program that defines it (--helpshort), not of this module.
flags.disclaim_key_flags()


def names() -> list[str]:
    """The packaged configs' names: `resnet18_mel`, `ablations/recipe`, ..."""
    return sorted(p.relative_to(CONFIGS).with_suffix("").as_posix()
                  for p in CONFIGS.rglob("*.py") if p.name != "__init__.py")


def find(argument: str) -> str:
    """The config file a --config value names: the path itself where it is a file, else the
    packaged config of that name. ml_collections' `file.py:argument` suffix is kept."""
    path, colon, parameter = argument.partition(":")
    if os.path.isfile(path):
        return argument
    relative = Path(path)
    if relative.parts[:1] == ("configs",):
        relative = Path(*relative.parts[1:])
    for candidate in (CONFIGS / relative, CONFIGS / f"{relative}.py"):
        if relative.parts and candidate.is_file():
            return f"{candidate}{colon}{parameter}"
    raise ValueError(f"no config {path!r}: not a file, nor the name of a config; the configs are "
                     f"{', '.join(names())}")


class _ConfigFlag(_config_flags._ConfigFlag):
    """ml_collections' config-file flag, with the value found by find(): the overrides
    (--config.train.num_epochs=3) and config_flags.get_config_filename work as before, the
    latter giving the file found."""

    def _parse(self, argument):
        try:
            path = find(argument)
        except ValueError as error:
            raise flags.IllegalFlagValueError(f"flag --{self.name}={argument}: {error}") from None
        try:
            return super()._parse(path)
        except (KeyError, AttributeError) as error:  # an override naming no key of the config
            message = str(error).replace("\\", "")
            name = re.search(r'instead of "(\w+)"|\'(\w+)\'', message)
            name = name and (name.group(1) or name.group(2))
            for override in self._GetOverrides(self._GetArgv()):
                parts = override.split(".")
                if name in parts:
                    known = parts[:parts.index(name)]
                    hint = re.search(r'Did you mean "(\w+)"', message)
                    raise flags.IllegalFlagValueError(
                        f"flag --{self.name}.{override}: the config has no key "
                        f"{'.'.join(known + [name])}" + (
                            f"; did you mean --{self.name}.{'.'.join(known + [hint.group(1)])}?"
                            if hint else "")) from None
            raise


def define_config_flag(help_string: str, name: str = "config") -> flags.FlagHolder:
    """config_flags.DEFINE_config_file(name, None, help_string, lock_config=True), by name too."""
    flag = _ConfigFlag(
        parser=_config_flags.ConfigFileFlagParser(name=name, lock_config=True),
        serializer=flags.ArgumentSerializer(),
        name=name,
        default=None,
        help_string=f"{help_string} A config name ({', '.join(names())}) or a config file's path.",
        flag_values=flags.FLAGS,
    )
    return flags.DEFINE_flag(flag, flags.FLAGS)


def default_workdir(config_file: str, kind: str = "") -> str:
    """runs/<config name>/<kind-><date-time>, under the current directory: a new folder for each
    command (a run is resumed by passing its workdir)."""
    name = Path(config_file.partition(":")[0]).stem
    stamp = f"{kind}{'-' if kind else ''}{time.strftime('%Y%m%d-%H%M%S')}"
    workdir, count = os.path.join("runs", name, stamp), 1
    while os.path.exists(workdir):  # another command of the same second
        count += 1
        workdir = os.path.join("runs", name, f"{stamp}-{count}")
    return workdir
