"""Training: the train state on the devices (state.py), optimizer (optim.py), losses, the pure
train step (steps.py), the loop (loop.py), checkpoints and preemption."""

from jax_ser.errors import ConfigError, check_positive

SELECT_METRICS = ("ua", "wa", "macro_f1")
LOSSES = ("softmax", "sigmoid")
SCHEDULES = ("constant", "warmup_cosine", "exponential")


def check_config(config) -> None:
    """The train section's keys that cannot run."""
    tc = config.train
    check_positive(config, "train", "batch_size", "grad_accum_steps", "fsdp", "num_epochs",
                   "learning_rate", "ensemble_size")
    if tc.batch_size % tc.grad_accum_steps:
        raise ConfigError(
            f"config.train.grad_accum_steps={tc.grad_accum_steps} must divide "
            f"config.train.batch_size={tc.batch_size} into equal micro-batches"
        )
    if not 0 <= tc.ema_decay < 1:
        raise ConfigError(
            f"config.train.ema_decay must lie in [0, 1) (0 = off), got {tc.ema_decay!r}"
        )
    if tc.schedule not in SCHEDULES:
        raise ConfigError(
            f"config.train.schedule: {tc.schedule!r}; known: {', '.join(SCHEDULES)}"
        )
    if tc.loss not in LOSSES:
        raise ConfigError(f"config.train.loss: {tc.loss!r} is not softmax or sigmoid")
    if tc.optimizer not in ("adamw", "sgd"):
        raise ConfigError(f"config.train.optimizer: {tc.optimizer!r} is not adamw or sgd")
    if tc.select_metric not in SELECT_METRICS:
        raise ConfigError(
            f"config.train.select_metric: {tc.select_metric!r} is not ua, wa or macro_f1"
        )
    if tc.ensemble_size > 1 and config.model.name == "classical":
        raise ConfigError("config.train.ensemble_size: the classical (scikit-learn) models train "
                          "one estimator per run; use cross_validate --seeds and --ensemble")
    from jax_ser.frontend import augment_checks

    augment_checks.check_progressive_resizing(config)
    if tc.speaker_batches and tc.class_balanced_sampling:
        raise ConfigError("config.train.speaker_batches and config.train.class_balanced_sampling "
                          "each choose the examples of a batch; set one of them")
