"""The errors a user sees as a one-line message: a config that cannot run, data that cannot."""


class ConfigError(ValueError):
    """A config value that cannot run; the message names the key."""


class DataError(RuntimeError):
    """The data cannot support a run: too many bad files, an empty part, a missing fold..."""
