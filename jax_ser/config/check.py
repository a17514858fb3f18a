"""validate(config): each stage of the data path checks its own keys, in the order data flows.

A ConfigError names the first key whose value cannot run, before any work starts."""

from __future__ import annotations


def validate(config) -> None:
    """Raise ConfigError naming the first key whose value cannot run."""
    from jax_ser import adapt, models, protocols, train
    from jax_ser.data import load
    from jax_ser.evaluate import runner
    from jax_ser.frontend import augment_checks, features

    load.check_config(config)
    protocols.check_config(config)
    features.check_config(config)
    augment_checks.check_config(config)
    train.check_config(config)
    runner.check_config(config)
    variables = models.check_config(config)  # None for the classical (scikit-learn) family
    adapt.check_config(config, variables)
