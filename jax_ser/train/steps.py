"""The pure train step: a batch of waveforms -> features and augmentation on the device -> loss,
gradients and one optimizer update. Evaluation's step lives in jax_ser.evaluate.runner."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from jax_ser import frontend
from jax_ser.frontend import augment
from jax_ser.train import losses


def make_train_step(config, model, class_weights, feature_config: dict, mesh=None):
    """train_step(state, batch, resize=None, seed=config.seed) -> (state, metrics). `resize`,
    static, is the (frames_scale, features_scale) of a train.progressive_resizing stage: the step
    then feeds the model its feature maps resized so (augment.resize), after augmentation; None
    leaves them at the full size, as evaluation always sees them. A batch carries
    "speaker_stats" where features.normalize=speaker. A step whose loss or gradients are not
    finite changes nothing. `seed` draws the step's dropout and augmentation (an ensemble
    member's own). `mesh`: the devices the batch is split over, each computing its own
    examples' features (frontend.compute)."""
    augment_config = augment.settings(config)  # None: every augmentation off

    def features_of(waves, stats):
        return frontend.compute(waves, feature_config, stats, mesh)

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

    def train_step(state, batch, resize=None, seed=config.seed):
        rng = jax.random.fold_in(jax.random.PRNGKey(seed + 1), state.step)

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


def ensemble_step(train_step, seeds, vectorize: bool | None = None):
    """`train_step` over the members of an ensemble state (state.stack) and their batches
    [K, b, ...], member k drawing from seeds[k]: step(state, batch, resize=None) -> (state,
    metrics), the metrics averaged over the members, `finite` only if every member's is.

    `vectorize` (default: on accelerators) vmaps the members into one wider step, which fills a
    GPU that one small model leaves idle. On CPU a vmapped convolution lowers to a grouped one
    that XLA's CPU backend runs slowly (4 ResNet18 members took 11.7x one member's time, and
    90x in a lax.map loop), so there the members' steps are unrolled one after another in the
    same compiled step (3.0x for 4 members: benchmarks/ensemble_speed.py)."""
    seeds = jnp.asarray(seeds, jnp.int32)
    if vectorize is None:
        vectorize = jax.default_backend() != "cpu"

    def step(state, batch, resize=None):
        def one(params, opt_state, model_state, batch, seed):
            new, m = train_step(state.replace(params=params, opt_state=opt_state,
                                              model_state=model_state), batch, resize, seed)
            return (new.params, new.opt_state, new.model_state), m

        members = (state.params, state.opt_state, state.model_state, batch, seeds)
        if vectorize:
            (params, opt_state, model_state), m = jax.vmap(one)(*members)
        else:
            outs = [one(*jax.tree.map(lambda x: x[k], members)) for k in range(len(seeds))]
            (params, opt_state, model_state), m = jax.tree.map(lambda *x: jnp.stack(x), *outs)
        new = state.replace(step=state.step + 1, params=params, opt_state=opt_state,
                            model_state=model_state)
        return new, {"loss": m["loss"].mean(), "accuracy": m["accuracy"].mean(),
                     "finite": m["finite"].all()}

    return step
