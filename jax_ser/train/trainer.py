"""A Runner with what training adds: the optimizer, its learning-rate schedule and the compiled
train step. train_and_evaluate trains through one; the benchmarks time its step."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jax_ser import models
from jax_ser.evaluate.runner import Runner
from jax_ser.train import optim, steps
from jax_ser.train import state as state_lib


class Trainer:
    """`steps_per_epoch` counts train steps, K per optimizer update with gradient accumulation
    (train.grad_accum_steps); `class_weights` weigh the loss of each class (default: 1);
    `vectorize`: whether an ensemble's members are vmapped (steps.ensemble_step)."""

    def __init__(self, config, *, steps_per_epoch: int = 1, class_weights=None,
                 vectorize: bool | None = None):
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
        step = steps.make_train_step(config, run.model, jnp.asarray(class_weights),
                                     run.feature_config, run.mesh)
        self.ensemble_size = k = config.train.ensemble_size
        self.seeds = [config.seed + i for i in range(k)]
        self.train_state_sharding, self.batch_sharding = run.state_sharding, run.data_sharding
        if k > 1:  # members stacked on a leading axis, their batches [K, b, ...]
            step = steps.ensemble_step(step, self.seeds, vectorize)
            abstract = jax.eval_shape(lambda: state_lib.stack([run.init(False)] * k))
            self.train_state_sharding = state_lib.ensemble_sharding(run.mesh, abstract,
                                                                    config.train.fsdp)
            self.batch_sharding = NamedSharding(run.mesh, P(None, ("data", "fsdp")))
        # train_step(state, batch, resize=None): one compilation per progressive resizing stage
        self.train_step = jax.jit(
            step,
            in_shardings=(self.train_state_sharding, self.batch_sharding),
            out_shardings=(self.train_state_sharding, run.replicated),
            static_argnums=2,
            donate_argnums=0,
        )

    def init(self) -> state_lib.TrainState:
        """The train state: a single run's, or the ensemble's members stacked."""
        if self.ensemble_size == 1:
            return self.runner.init()
        return jax.device_put(state_lib.stack([self.runner.init(seed=s) for s in self.seeds]),
                              self.train_state_sharding)

    def members(self, state) -> list:
        """Each member's state, as a single run's (the Runner labels with it)."""
        if self.ensemble_size == 1:
            return [state]
        return [jax.device_put(state_lib.member(state, k), self.runner.state_sharding)
                for k in range(self.ensemble_size)]

    def probs(self, state, waves, speakers=None, num_crops=None) -> np.ndarray:
        """The members' mean class probabilities (Runner.probs)."""
        return np.mean([self.runner.probs(m, waves, speakers, num_crops)
                        for m in self.members(state)], axis=0)

    def to_batch(self, local: np.ndarray) -> jax.Array:
        """This process's part of a training batch as the global array the step takes."""
        return jax.make_array_from_process_local_data(self.batch_sharding, local)

    def __getattr__(self, name):
        """Everything else is the Runner's: adapt, shardings, class names..."""
        return getattr(self.runner, name)
