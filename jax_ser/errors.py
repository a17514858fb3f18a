"""The errors a user sees as a one-line message: a config that cannot run, data that cannot."""


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key."""


class DataError(RuntimeError):
    """The data cannot support a run: too many bad files, an empty part, a missing fold..."""


def check_positive(config, section: str, *keys: str) -> None:
    """A ConfigError naming the first of config.<section>.<key> that is not positive."""
    for key in keys:
        if not config[section][key] > 0:
            raise ConfigError(f"config.{section}.{key} must be positive, got "
                              f"{config[section][key]!r}")
