"""The optimizer: AdamW or SGD on a warm-up + decay schedule, gradient clipping, parameter
groups with their own learning rate, gradient accumulation, weight EMA."""

from __future__ import annotations

from typing import Any

import jax
import optax

from jax_ser.train import ema


def make_optimizer(
    train_config, steps_per_epoch: int, lr_scales=None
) -> tuple[optax.GradientTransformation, Any]:
    """AdamW (or SGD) on a warm-up + decay schedule, with gradient clipping.

    `lr_scales`, a pytree of floats shaped like the parameters, gives parameter groups their own
    learning rate: 0 freezes a group (its gradients are zeroed before clipping), other values scale
    the schedule (encoder vs head rates, layer-wise decay). With `train.grad_accum_steps` K > 1,
    optax.MultiSteps updates once every K calls with the mean of their gradients; both
    `steps_per_epoch` and the schedule count updates.
    """
    tc = train_config
    total = max(1, tc.num_epochs * steps_per_epoch)
    warmup = int(tc.warmup_epochs * steps_per_epoch)
    if tc.schedule == "warmup_cosine":
        schedule = optax.warmup_cosine_decay_schedule(
            0.0, tc.learning_rate, warmup, max(total, warmup + 1)
        )
    elif tc.schedule == "exponential":
        schedule = optax.warmup_exponential_decay_schedule(
            0.0, tc.learning_rate, warmup, steps_per_epoch, tc.decay_rate
        )
    else:
        schedule = optax.join_schedules(
            [
                optax.linear_schedule(0.0, tc.learning_rate, max(warmup, 1)),
                optax.constant_schedule(tc.learning_rate),
            ],
            [warmup],
        )
    decay_kernels_only = lambda params: jax.tree_util.tree_map_with_path(
        lambda path, _: getattr(path[-1], "key", None) == "kernel", params
    )

    def optimizer(scale: float):
        lr = schedule if scale == 1 else (lambda step: schedule(step) * scale)
        if tc.optimizer == "adamw":
            return optax.adamw(lr, weight_decay=tc.weight_decay, mask=decay_kernels_only)
        return optax.chain(
            optax.add_decayed_weights(tc.weight_decay, decay_kernels_only),
            optax.sgd(lr, momentum=0.9, nesterov=True),
        )

    steps = []
    if lr_scales is None:
        opt = optimizer(1.0)
    else:
        labels_ = jax.tree.map(lambda scale: f"{float(scale):g}", lr_scales)
        groups = {
            label: optax.set_to_zero() if float(label) == 0 else optimizer(float(label))
            for label in set(jax.tree.leaves(labels_))
        }
        opt = optax.multi_transform(groups, labels_)
        steps.append(optax.masked(optax.set_to_zero(), jax.tree.map(lambda s: s == 0, lr_scales)))
    if tc.grad_clip_norm > 0:
        steps.append(optax.clip_by_global_norm(tc.grad_clip_norm))
    if tc.ema_decay > 0:
        opt = optax.chain(opt, ema.params_ema(tc.ema_decay))
    tx = optax.chain(*steps, opt)
    accum = tc.grad_accum_steps
    return (optax.MultiSteps(tx, accum).gradient_transformation() if accum > 1 else tx), schedule
