"""The pure train step: a batch of waveforms -> features and augmentation on the device -> loss,
gradients and one optimizer update. Evaluation's step lives in jax_ser.evaluate.runner."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jax_ser import frontend
from jax_ser.frontend import augment
from jax_ser.train import losses


def make_train_step(config, model, class_weights, feature_config: dict):
    """train_step(state, batch, resize=None) -> (state, metrics). `resize`, static, is the
    (frames_scale, features_scale) of a train.progressive_resizing stage: the step then feeds the
    model its feature maps resized so (augment.resize), after augmentation; None leaves them at
    the full size, as evaluation always sees them. A batch carries "speaker_stats" where
    features.normalize=speaker. A step whose loss or gradients are not finite changes nothing."""
    dropout_key = jax.random.PRNGKey(config.seed + 1)
    augment_config = augment.settings(config)  # None: every augmentation off

    def features_of(waves, stats):
        return frontend.compute(waves, feature_config, stats)

    def train_inputs(batch, rng):
        """Features and targets of a training batch, augmented where config.augment says."""
        stats = batch.get("speaker_stats")
        if augment_config is None:
            return features_of(batch["wave"], stats), batch["label"]
        return augment.train_batch(
            jax.random.fold_in(rng, 2),  # rng feeds dropout, fold_in(rng, 1) the masks
            batch["wave"],
            batch["label"],
            augment_config,
            lambda waves: features_of(waves, stats),
            sample_rate=config.data.sample_rate,
            num_classes=class_weights.shape[0],
        )

    def apply(state, params, feats, train, rng=None):
        variables = {"params": params, **state.model_state}
        mutable = list(state.model_state) if train and state.model_state else False
        rngs = {"dropout": rng, "mask": jax.random.fold_in(rng, 1)} if rng is not None else {}
        out = model.apply(variables, feats, train=train, rngs=rngs, mutable=mutable)
        return out if mutable else (out, state.model_state)

    def train_step(state, batch, resize=None):
        rng = jax.random.fold_in(dropout_key, state.step)

        def loss_fn(params):
            feats, targets = train_inputs(batch, rng)
            feats = augment.resize(feats, resize)
            logits, model_state = apply(state, params, feats, True, rng)
            loss = losses.classification_loss(
                logits,
                targets,
                class_weights,
                config.train.label_smoothing,
                config.train.loss,
            )
            return loss, (logits, model_state, targets)

        (loss, (logits, model_state, targets)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state.params
        )
        new = state.apply_gradients(grads=grads, model_state=model_state)
        finite = jnp.isfinite(loss) & jnp.isfinite(optax.global_norm(grads))
        keep = lambda a, b: jax.tree.map(lambda x, y: jnp.where(finite, x, y), a, b)
        new = new.replace(
            params=keep(new.params, state.params),
            opt_state=keep(new.opt_state, state.opt_state),
            model_state=keep(new.model_state, state.model_state),
        )
        accuracy = losses.batch_accuracy(logits, targets)
        return new, {"loss": loss, "accuracy": accuracy, "finite": finite}

    return train_step
