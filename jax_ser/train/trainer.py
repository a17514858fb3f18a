"""A Runner with what training adds: the optimizer, its learning-rate schedule and the compiled
train step. train_and_evaluate trains through one; the benchmarks time its step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jax_ser import models
from jax_ser.evaluate.runner import Runner
from jax_ser.train import optim, steps


class Trainer:
    """`steps_per_epoch` counts train steps, K per optimizer update with gradient accumulation
    (train.grad_accum_steps); `class_weights` weigh the loss of each class (default: 1)."""

    def __init__(self, config, *, steps_per_epoch: int = 1, class_weights=None):
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        accum = config.train.grad_accum_steps
        schedules = []

        def optimizer(abstract_params):
            module = models.module(config.model.name)
            lr_scales = None  # one group, unless the model gives its parameters their own rates
            if hasattr(module, "lr_scales"):
                lr_scales = module.lr_scales(abstract_params, config.model)
            tx, schedule = optim.make_optimizer(config.train, max(1, steps_per_epoch // accum),
                                                lr_scales)
            schedules.append(schedule)
            return tx

        self.runner = run = Runner(config, optimizer)
        self.schedule = lambda step: schedules[0](step // accum)
        if class_weights is None:
            class_weights = np.ones(len(run.class_names), np.float32)
        # train_step(state, batch, resize=None): one compilation per progressive resizing stage
        self.train_step = jax.jit(
            steps.make_train_step(config, run.model, jnp.asarray(class_weights),
                                  run.feature_config),
            in_shardings=(run.state_sharding, run.data_sharding),
            out_shardings=(run.state_sharding, run.replicated),
            static_argnums=2,
            donate_argnums=0,
        )

    def __getattr__(self, name):
        """Everything else is the Runner's: init, probs, adapt, shardings..."""
        return getattr(self.runner, name)
