"""One training run, top to bottom: data, model, init or resume, epochs of jitted steps, evaluation.

Everything the run produces goes to `workdir`: config.json, log.txt, checkpoints/, tensorboard/,
metrics.json and confusion-matrix PNGs. Running again on the same workdir resumes from the latest
checkpoint. Features are computed from waveforms inside the jitted step, on the accelerator; the
batch is sharded over every device of a `data` mesh axis, and the model state is replicated.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import tensorflow as tf
import tqdm
from flax import traverse_util
from flax.training import train_state
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding, PartitionSpec as P

from jax_ser import (
    adabn,
    augment,
    calibration,
    checkpoints,
    config as config_lib,
    corpora,
    ema,
    features,
    input_pipeline,
    labels,
    metrics,
    models,
    preemption,
    speaker_im,
    speaker_norm,
    splits,
)

log = logging.getLogger(__name__)

# Keys that may change between a run and its resumption without changing its results.
RESUMABLE_CHANGES = (
    "train.progress_bar", "data.num_workers", "data.cache_dir", "train.fsdp",
    "train.temperature_scaling",  # evaluation only
)


class TrainState(train_state.TrainState):
    model_state: Any  # non-parameter collections, e.g. batch_stats


def frontend(waves: jax.Array, feature_config: dict, speaker_stats=None) -> jax.Array:
    """Waveforms [B, N] -> normalised features [B, T, F], inside the jitted step.
    `speaker_stats` [B, 2, F]: each example's speaker statistics, for normalize=speaker."""
    feats = features.compute(waves, feature_config)
    return features.normalize(feats, feature_config["normalize"], speaker_stats)


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


def classification_loss(logits, labels_, class_weights, label_smoothing: float, kind: str):
    """Softmax cross-entropy, or per-label sigmoid binary cross-entropy (Query2Label's choice),
    averaged with the class weights of each example's label. `labels_` are class indices [B], or
    soft targets [B, C] from mixup or cutmix: an example mixing two labels then weighs the same
    mixture of their class weights, and label smoothing applies to the mixture."""
    if labels_.ndim == logits.ndim:  # soft targets
        mixed = labels_.astype(jnp.float32)
        weights = jnp.sum(mixed * class_weights, axis=-1)
    else:
        mixed = jax.nn.one_hot(labels_, logits.shape[-1])
        weights = class_weights[labels_]
    targets = optax.smooth_labels(mixed, label_smoothing)
    if kind == "sigmoid":
        per_example = optax.sigmoid_binary_cross_entropy(logits, targets).sum(axis=-1)
    else:
        per_example = optax.softmax_cross_entropy(logits, targets)
    return jnp.sum(per_example * weights) / jnp.sum(weights)


def batch_accuracy(logits, targets) -> jax.Array:
    """Share of examples whose top logit is their target class: the label for class indices
    [B], the class with the larger share for soft targets [B, C]. Under mixup an example mostly
    made of its partner is scored against the partner's class, the one it shows."""
    truth = jnp.argmax(targets, -1) if targets.ndim == logits.ndim else targets
    return jnp.mean(jnp.argmax(logits, -1) == truth)


def probabilities(logits, kind: str):
    logits = logits.astype(jnp.float32)
    if kind == "sigmoid":
        scores = jax.nn.sigmoid(logits)
        return scores / jnp.sum(scores, axis=-1, keepdims=True)
    return jax.nn.softmax(logits)


def make_steps(config, model, class_weights):
    """The pure step functions: train_step(state, batch, resize=None), eval_step(state, batch)
    of crops (input_pipeline.eval_batches) and bn_statistics_step(state, batch), the BatchNorm
    statistics of such a batch (train.bn_statistics=speaker), and
    speaker_im_step(state, affine, opt_state, batch), one update of the BatchNorm scales and
    biases `affine` {flat key: array} on such a batch (train.speaker_im_steps, jax_ser.speaker_im);
    a batch carries "speaker_stats" where features.normalize=speaker.
    `resize`, static, is the (frames_scale, features_scale) of a train.progressive_resizing stage:
    the step then feeds the model its feature maps resized so (augment.resize), after
    augmentation; None leaves them at the full size, as evaluation always sees them."""
    feature_config = input_pipeline.feature_config(config)
    dropout_key = jax.random.PRNGKey(config.seed + 1)
    augment_config = augment.settings(config)  # None: every augmentation off

    def train_inputs(batch, rng):
        """Features and targets of a training batch, augmented where config.augment says."""
        stats = batch.get("speaker_stats")
        if augment_config is None:
            return frontend(batch["wave"], feature_config, stats), batch["label"]
        return augment.train_batch(
            jax.random.fold_in(rng, 2),  # rng feeds dropout, fold_in(rng, 1) the masks
            batch["wave"],
            batch["label"],
            augment_config,
            lambda waves: frontend(waves, feature_config, stats),
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
            loss = classification_loss(
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
        return new, {"loss": loss, "accuracy": batch_accuracy(logits, targets), "finite": finite}

    def eval_features(batch):
        """Features of the batch's b x k crops [b * k, T, F]."""
        wave, stats = batch["wave"], batch.get("speaker_stats")
        b, k = wave.shape[:2]
        if stats is not None:  # the same speaker's statistics for each crop
            stats = jnp.repeat(stats, k, axis=0)
        return frontend(wave.reshape(b * k, *wave.shape[2:]), feature_config, stats)

    def eval_step(state, batch):
        b, k = batch["wave"].shape[:2]
        logits, _ = apply(state, state.params, eval_features(batch), False)
        return probabilities(logits, config.train.loss).reshape(b, k, -1).mean(axis=1)

    def bn_statistics_step(state, batch):
        """Every BatchNorm layer's statistics over the batch's real crops (jax_ser.adabn), and
        how many crops that is."""
        k = batch["wave"].shape[1]
        mask = jnp.repeat(batch["mask"], k)
        with nn.intercept_methods(adabn.batch_statistics(mask)):
            _, updated = model.apply({"params": state.params, **state.model_state},
                                     eval_features(batch), train=False, mutable=["batch_stats"])
        return updated["batch_stats"], jnp.sum(mask)

    im_tx = speaker_im.optimizer(config.train)

    def speaker_im_step(state, affine, opt_state, batch):
        k = batch["wave"].shape[1]
        mask = jnp.repeat(batch["mask"], k)
        feats = eval_features(batch)
        rest = traverse_util.flatten_dict(state.params)

        def loss_fn(affine):
            params = traverse_util.unflatten_dict({**rest, **affine})
            with nn.intercept_methods(adabn.batch_statistics(mask)):
                logits, _ = model.apply({"params": params, **state.model_state}, feats,
                                        train=False, mutable=["batch_stats"])
            return speaker_im.information_loss(logits, mask)

        grads = jax.grad(loss_fn)(affine)
        updates, opt_state = im_tx.update(grads, opt_state, affine)
        return optax.apply_updates(affine, updates), opt_state

    return train_step, eval_step, bn_statistics_step, speaker_im_step


def resize_for_step(train_config, step: int, steps_per_epoch: int) -> tuple[float, float] | None:
    """The train.progressive_resizing scales of the epoch that `step` falls in (None: full size).
    A function of the step alone, so a run resumed from a checkpoint, mid-epoch too, goes on at
    the size it stopped at."""
    return augment.resize_stage(train_config.progressive_resizing, step // steps_per_epoch)


def init_state(config, model, tx, input_shape: tuple[int, ...]) -> TrainState:
    feature_config = input_pipeline.feature_config(config)
    identity = jnp.stack([jnp.zeros(features.num_features(feature_config)),
                          jnp.ones(features.num_features(feature_config))])[None]
    feats = frontend(jnp.zeros((1, *input_shape), jnp.float32), feature_config, identity)
    key = jax.random.PRNGKey(config.seed)
    variables = dict(model.init({"params": key, "dropout": key}, feats, train=False))
    params = variables.pop("params")
    return TrainState.create(apply_fn=model.apply, params=params, tx=tx, model_state=variables)


# FSDP leaves smaller arrays whole: gathering them would cost more than storing them saves.
FSDP_MIN_SIZE = 2**16


def fsdp_spec(shape: tuple[int, ...], fsdp: int) -> P:
    """Split a train-state array of at least FSDP_MIN_SIZE elements `fsdp` ways over the `fsdp`
    mesh axis, along its largest dimension that `fsdp` divides; replicate the rest. Optimizer
    moments have their parameter's shape, so they are split the same way."""
    if fsdp > 1 and math.prod(shape) >= FSDP_MIN_SIZE:
        for dim in sorted(range(len(shape)), key=lambda d: -shape[d]):
            if shape[dim] % fsdp == 0:
                return P(*["fsdp" if d == dim else None for d in range(len(shape))])
    return P()


class Run:
    """The data, model and compiled steps of one config, shared by training and prediction."""

    def __init__(self, config, *, steps_per_epoch: int = 1, class_weights=None):
        self.config = config
        self.steps_per_epoch = steps_per_epoch
        self.class_names = labels.task_classes(config.data.task)
        self.input_shape = input_pipeline.input_shape(config)
        self.clip_samples = self.input_shape[0]  # crop length: samples, or precomputed frames
        self.model = models.build(config.model, num_classes=len(self.class_names))
        self.module = models.module(config.model.name)
        abstract = jax.eval_shape(
            lambda: init_state(config, self.model, optax.identity(), self.input_shape)
        )
        lr_scales = None
        if hasattr(self.module, "lr_scales"):
            lr_scales = self.module.lr_scales(abstract.params, config.model)  # None: one group
        # `steps_per_epoch` and the loop count train steps, K per update with gradient accumulation
        accum = config.train.grad_accum_steps
        updates_per_epoch = max(1, steps_per_epoch // accum)
        self.tx, schedule = make_optimizer(config.train, updates_per_epoch, lr_scales)
        self.schedule = lambda step: schedule(step // accum)
        fsdp = config.train.fsdp
        if jax.device_count() % fsdp:
            raise config_lib.ConfigError(
                f"config.train.fsdp={fsdp} must divide the {jax.device_count()} devices"
            )
        self.mesh = jax.make_mesh(
            (jax.device_count() // fsdp, fsdp),
            ("data", "fsdp"),
            axis_types=(jax.sharding.AxisType.Auto,) * 2,
        )
        self.replicated = NamedSharding(self.mesh, P())
        self.data_sharding = NamedSharding(self.mesh, P(("data", "fsdp")))
        opt_state = jax.eval_shape(self.tx.init, abstract.params)
        self.state_sharding = jax.tree.map(
            lambda x: NamedSharding(self.mesh, fsdp_spec(x.shape, fsdp)),
            abstract.replace(tx=self.tx, opt_state=opt_state),
        )
        if class_weights is None:
            class_weights = np.ones(len(self.class_names), np.float32)
        train_step, eval_step, bn_statistics_step, speaker_im_step = make_steps(
            config, self.model, jnp.asarray(class_weights)
        )
        self.speaker_im_step = jax.jit(speaker_im_step)
        # train_step(state, batch, resize=None): one compilation per progressive resizing stage
        self.train_step = jax.jit(
            train_step,
            in_shardings=(self.state_sharding, self.data_sharding),
            out_shardings=(self.state_sharding, self.replicated),
            static_argnums=2,
            donate_argnums=0,
        )
        self.eval_step = jax.jit(
            eval_step,
            in_shardings=(self.state_sharding, self.data_sharding),
            out_shardings=self.data_sharding,
        )
        self.bn_statistics_step = jax.jit(
            bn_statistics_step,
            in_shardings=(self.state_sharding, self.data_sharding),
            out_shardings=self.replicated,
        )

    def init(self, load_pretrained: bool = True) -> TrainState:
        """Fresh weights, then, with `model.init=pretrained`, the checkpoint's where it has them."""
        init = jax.jit(
            lambda: init_state(self.config, self.model, self.tx, self.input_shape),
            out_shardings=self.state_sharding,
        )
        state = init()
        if load_pretrained and self.config.model.init == "pretrained":
            variables = self.module.load_pretrained(
                {"params": state.params, **state.model_state}, self.config.model
            )
            params = variables.pop("params")
            state = state.replace(
                params=jax.device_put(params, self.state_sharding.params),
                model_state=jax.device_put(variables, self.state_sharding.model_state),
            )
        return state

    def to_global(self, local: np.ndarray) -> jax.Array:
        return jax.make_array_from_process_local_data(self.data_sharding, local)

    def predict_probs(self, state, waves, num_crops: int | None = None,
                      speaker_stats: np.ndarray | None = None,
                      speakers: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities [len(waves), C], averaged over `num_crops` (default: the config's).
        `speaker_stats` [len(waves), 2, F]: each wave's speaker statistics (normalize=speaker).
        `speakers`: each wave's speaker; with train.bn_statistics=speaker, each speaker's waves
        are evaluated with that speaker's BatchNorm statistics over them (`speaker_state`).
        Without `speakers` the state's BatchNorm statistics are used as they are."""
        if speakers is None or self.config.train.bn_statistics != "speaker":
            return self._probs(state, waves, num_crops, speaker_stats)
        out = np.zeros((len(waves), len(self.class_names)), np.float32)
        for index in adabn.speaker_groups(speakers).values():
            part = [waves[i] for i in index]
            stats = None if speaker_stats is None else speaker_stats[index]
            adapted = self.speaker_state(state, part, num_crops, stats)
            out[index] = self._probs(adapted, part, num_crops, stats)
        return out

    def speaker_state(self, state, waves, num_crops: int | None = None,
                      speaker_stats: np.ndarray | None = None):
        """`state` with the BatchNorm statistics of one speaker's `waves` (jax_ser.adabn), and
        with train.speaker_im_steps, its BatchNorm scales and biases fitted to them first
        (jax_ser.speaker_im)."""
        steps = self.config.train.speaker_im_steps
        if steps:
            batches = list(self._batches(waves, num_crops, speaker_stats))
            flat = traverse_util.flatten_dict(state.params)
            affine = {key: flat[key] for key in speaker_im.affine_keys(
                state.params, state.model_state["batch_stats"])}
            opt_state = speaker_im.optimizer(self.config.train).init(affine)
            for _ in range(steps):
                for batch in batches:
                    affine, opt_state = self.speaker_im_step(state, affine, opt_state, batch)
            params = traverse_util.unflatten_dict({**flat, **affine})
            state = state.replace(params=jax.device_put(params, self.state_sharding.params))
        parts = []
        for batch in self._batches(waves, num_crops, speaker_stats):
            stats, count = self.bn_statistics_step(state, batch)
            parts.append((stats, float(count)))
        batch_stats = jax.device_put(adabn.pool(parts),
                                     self.state_sharding.model_state["batch_stats"])
        return state.replace(model_state={**state.model_state, "batch_stats": batch_stats})

    def _probs(self, state, waves, num_crops, speaker_stats) -> np.ndarray:
        out = [
            np.asarray(multihost_utils.process_allgather(self.eval_step(state, batch), tiled=True))
            for batch in self._batches(waves, num_crops, speaker_stats)
        ]
        return np.concatenate(out)[: len(waves)] if out else np.zeros((0, len(self.class_names)))

    def _batches(self, waves, num_crops, speaker_stats) -> Iterator[dict]:
        """Global batches of evaluation crops (input_pipeline.eval_batches), on the devices."""
        for batch in input_pipeline.eval_batches(
            waves,
            global_batch=_round_up(self.config.train.eval_batch_size, jax.device_count()),
            clip_samples=self.clip_samples,
            num_crops=num_crops or self.config.data.eval_crops,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            speaker_stats=speaker_stats,
        ):
            yield {k: self.to_global(v) for k, v in batch.items()}


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m


def read_utterances(config) -> list[corpora.Utterance]:
    """Every utterance of the configured corpora, labelled for the configured task."""
    utterances = []
    for name, root in config_lib.corpus_list(config):
        utterances += corpora.read(name, root or None)
    utterances = labels.apply_task(utterances, config.data.task)
    if not utterances:
        raise input_pipeline.DataError(
            f"no utterances of task {config.data.task} in {config.data.corpus}"
        )
    return utterances


def load_data(config):
    """Corpora -> task labels -> split -> decoded waveforms, with the bad files counted."""
    utterances = read_utterances(config)
    try:
        split = splits.make_split(
            utterances,
            config.data.split,
            fold_size=config.data.fold_size,
            val_speakers=config.data.val_speakers,
            seed=config.seed,
            allow_random=config.data.allow_random_split,
            eval_corpus=config.data.eval_corpus,
        )
    except ValueError as e:  # a split these data cannot hold, e.g. an EmoBox fold's missing actor
        raise input_pipeline.DataError(str(e)) from None
    if not split.speaker_independent:
        warning = (
            "WARNING: split 'random' shares speakers between train and test; its numbers are "
            "speaker-dependent and not comparable with speaker-independent results"
        )
        log.warning(warning)
        print(warning, file=sys.stderr)
    if config.data.precomputed:
        decoded = input_pipeline.load_precomputed(config.data.precomputed, utterances)
    else:
        decoded = input_pipeline.decode(utterances, config.data)
    input_pipeline.check_bad_fraction(decoded, len(utterances), config.data.max_bad_fraction)
    parts = {
        name: [u for u in getattr(split, name) if u.path in decoded.waves]
        for name in ("train", "val", "test")
    }
    if not parts["train"]:
        raise input_pipeline.DataError(f"split {config.data.split} leaves no training utterances")
    return split, parts, decoded


def speaker_statistics(config, utterances, waves) -> np.ndarray | None:
    """Each utterance's speaker statistics [N, 2, F] over that speaker's `waves`
    (features.normalize=speaker, jax_ser.speaker_norm); None for the other normalizations."""
    if config.features.normalize != "speaker":
        return None
    t0 = time.time()
    speakers = [u.speaker_key for u in utterances]
    stats = speaker_norm.per_utterance(speakers, waves, input_pipeline.feature_config(config),
                                       input_pipeline.input_shape(config)[0])
    log.info("speaker statistics of %d speakers in %.0f s (features.normalize=speaker)",
             len(set(speakers)), time.time() - t0)
    return stats


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> dict:
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    _log_to_file(workdir / "log.txt")
    config_lib.validate(config)
    save_or_check_config(config, workdir)
    input_pipeline.hide_gpus_from_tf()
    t_start = time.time()

    split, parts, decoded = load_data(config)
    class_names = labels.task_classes(config.data.task)
    index = {c: i for i, c in enumerate(class_names)}
    waves = {k: [decoded.waves[u.path] for u in v] for k, v in parts.items()}
    targets = {k: np.array([index[u.label] for u in v], np.int32) for k, v in parts.items()}
    for name, part in parts.items():
        speakers = sorted({u.speaker_key for u in part})
        log.info(
            "%s: %d utterances, %d speakers %s",
            name,
            len(part),
            len(speakers),
            " ".join(speakers) if len(speakers) <= 12 else "",
        )
    if config.model.name == "classical":
        return fit_classical(config, workdir, split, parts, decoded, targets, t_start)
    # a speaker's statistics come from the recordings of the part they are in
    stats = {k: speaker_statistics(config, v, waves[k]) for k, v in parts.items()}
    speaker_keys = {k: [u.speaker_key for u in v] for k, v in parts.items()}
    train_speakers = (np.unique(speaker_keys["train"], return_inverse=True)[1]
                      if config.train.speaker_batches else None)

    tc = config.train
    micro_batch = tc.batch_size // tc.grad_accum_steps
    if micro_batch % jax.process_count() or micro_batch % jax.device_count():
        raise config_lib.ConfigError(
            f"config.train.batch_size={tc.batch_size} / config.train.grad_accum_steps="
            f"{tc.grad_accum_steps} must divide over {jax.device_count()} devices"
        )
    # train steps: one per micro-batch, so K per optimizer update with gradient accumulation
    steps_per_epoch = max(1, len(waves["train"]) // tc.batch_size) * tc.grad_accum_steps
    counts = np.bincount(targets["train"], minlength=len(class_names)).astype(np.float32)
    class_weights = (
        counts.sum() / np.maximum(counts, 1) / np.count_nonzero(counts)
        if tc.class_weights
        else None
    )
    run = Run(config, steps_per_epoch=steps_per_epoch, class_weights=class_weights)

    def probs_of(state, name: str) -> np.ndarray:
        """Class probabilities of the utterances of one part (train, val, test)."""
        return run.predict_probs(state, waves[name], speaker_stats=stats[name],
                                 speakers=speaker_keys[name])

    state = run.init()
    num_params = int(sum(x.size for x in jax.tree.leaves(state.params)))
    log.info(
        "model %s (init %s%s): %s parameters; %d steps per epoch of %d",
        config.model.name,
        config.model.init,
        f" from {config.model.checkpoint}" if config.model.init == "pretrained" else "",
        f"{num_params:,}",
        steps_per_epoch,
        micro_batch,
    )

    ckpts = checkpoints.Checkpoints(workdir / "checkpoints")
    meta = {
        "history": [],
        "best_score": None,
        "best_epoch": None,
        "epochs_since_best": 0,
        "stopped_early": False,
        "nan_streak": 0,
        "epoch_sums": {},
    }
    restored = ckpts.restore_latest(state)
    if restored is not None:
        state, meta = restored
        log.info("resumed from step %d of %s", int(state.step), workdir / "checkpoints")

    writer = (
        tf.summary.create_file_writer(str(workdir / "tensorboard"))
        if jax.process_index() == 0
        else tf.summary.create_noop_writer()
    )
    show_bar = tc.progress_bar and jax.process_index() == 0 and sys.stderr.isatty()
    total_steps = tc.num_epochs * steps_per_epoch
    with preemption.on_sigterm() as stop:  # SIGTERM: save `latest` between steps, exit
        resize = "unknown"  # train.progressive_resizing's scales of the epoch; None: full size
        while int(state.step) < total_steps and not meta["stopped_early"]:
            epoch, first = divmod(int(state.step), steps_per_epoch)
            t_epoch = time.time()
            previous, resize = resize, resize_for_step(tc, int(state.step), steps_per_epoch)
            if resize != previous and tc.progressive_resizing:
                size = "full size" if resize is None else "{:g} x {:g} of the frames x channels"
                log.info(
                    "epoch %d on: training feature maps at %s (train.progressive_resizing)",
                    epoch + 1,
                    size.format(*resize or ()),
                )
            state = _train_epoch(run, state, meta, waves["train"], targets["train"],
                                 stats["train"], train_speakers, config, epoch=epoch,
                                 first=first, resize=resize, ckpts=ckpts, stop=stop,
                                 show_bar=show_bar)
            sums = meta["epoch_sums"]
            record = {
                "epoch": epoch + 1,
                "step": int(state.step),
                "train_loss": sums["loss"] / sums["steps"] if sums["steps"] else None,
                "train_accuracy": sums["accuracy"] / sums["steps"] if sums["steps"] else None,
                "learning_rate": float(run.schedule(int(state.step))),
                "epoch_time_s": round(time.time() - t_epoch, 2),
            }
            improved = _select_epoch(run, state, meta, record, targets["val"],
                                     lambda s: probs_of(s, "val"), config, ckpts)
            ckpts.save_latest(int(state.step), state, meta)
            _log_epoch(record, tc.num_epochs, improved)
            with writer.as_default(step=int(state.step)):
                for k, v in record.items():
                    if v is not None and k not in ("epoch", "step"):
                        tf.summary.scalar(k.replace("_", "/", 1), v)
            writer.flush()
            if stop():
                _exit_preempted(ckpts, int(state.step), total_steps)

    ckpts.wait()
    best, best_meta = ckpts.restore_best({"params": state.params, "model_state": state.model_state})
    state = state.replace(params=best["params"], model_state=best["model_state"])
    results = {
        "best_epoch": meta["best_epoch"],
        "epochs_run": len(meta["history"]),
        "stopped_early": meta["stopped_early"],
        "history": meta["history"],
    }
    model_info = {"name": config.model.name, "init": config.model.init, "num_params": num_params}
    results = evaluate_and_write(
        config, workdir, split, parts, targets, decoded,
        lambda name: probs_of(state, name),
        results, model_info, t_start,
    )
    ckpts.close()
    return results


def _train_epoch(run, state, meta: dict, waves, targets, speaker_stats, speakers, config, *,
                 epoch: int, first: int, resize, ckpts, stop, show_bar: bool) -> TrainState:
    """Epoch `epoch` from its step `first` on (a resumed run may start mid-epoch): the loss and
    accuracy sums in meta["epoch_sums"], the run stopped after max_nan_steps non-finite losses in
    a row, `latest` saved mid-epoch every checkpoint_every_steps and on SIGTERM. `speakers`:
    each training utterance's speaker number, for batches of one speaker (None: mixed)."""
    tc = config.train
    steps_per_epoch = run.steps_per_epoch
    total_steps = tc.num_epochs * steps_per_epoch
    if first == 0:  # sums over the epoch's finite steps, checkpointed with a mid-epoch save
        meta["epoch_sums"] = {"loss": 0.0, "accuracy": 0.0, "steps": 0}
    sums, recent = meta["epoch_sums"], []
    bar = tqdm.tqdm(
        total=steps_per_epoch,
        initial=first,
        desc=f"epoch {epoch + 1}/{tc.num_epochs}",
        disable=not show_bar,
        leave=False,
        dynamic_ncols=True,
    )
    for batch in input_pipeline.train_batches(
        waves,
        targets,
        global_batch=tc.batch_size,
        clip_samples=run.clip_samples,
        seed=config.seed,
        epoch=epoch,
        start_step=first,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        grad_accum_steps=tc.grad_accum_steps,
        balanced=tc.class_balanced_sampling,
        speakers=speakers,
        speaker_stats=speaker_stats,
    ):
        state, m = run.train_step(state, {k: run.to_global(v) for k, v in batch.items()}, resize)
        m = jax.device_get(m)
        meta["nan_streak"] = 0 if m["finite"] else meta["nan_streak"] + 1
        if meta["nan_streak"] >= tc.max_nan_steps:
            raise FloatingPointError(
                f"{meta['nan_streak']} consecutive non-finite losses at step "
                f"{int(state.step)}; lower train.learning_rate or check the input features"
            )
        if m["finite"]:
            sums["loss"] += float(m["loss"])
            sums["accuracy"] += float(m["accuracy"])
            sums["steps"] += 1
            recent = [*recent[-19:], float(m["loss"])]
        bar.update(1)
        bar.set_postfix(loss=f"{np.mean(recent) if recent else float('nan'):.3f}")
        step = int(state.step)
        mid_epoch = step % steps_per_epoch  # an epoch's last step saves after validation
        preempted = bool(mid_epoch) and stop()
        periodic = tc.checkpoint_every_steps and step % tc.checkpoint_every_steps == 0
        if mid_epoch and (preempted or periodic):
            ckpts.save_latest(step, state, meta)
        if preempted:
            _exit_preempted(ckpts, step, total_steps)
    bar.close()
    return state


def _select_epoch(run, state, meta: dict, record: dict, targets, val_probs, config,
                  ckpts) -> bool:
    """Scores the epoch's weights (their moving average with train.ema_decay) on the validation
    speakers (`val_probs(state)`: their class probabilities), saves them as `best` when they beat
    every epoch before, and applies early stopping; returns whether they were the best. Without
    validation speakers the last epoch is the best."""
    tc, epoch = config.train, record["epoch"]
    evaluated = ema.averaged(state)  # the weights' moving average with train.ema_decay
    if len(targets):
        val = metrics.classification_report(
            targets, val_probs(evaluated), run.class_names,
        )
        record.update({f"val_{k}": val[k] for k in ("ua", "wa", "macro_f1", "nll")})
        score = val[tc.select_metric]
    else:
        score = float(epoch)  # no validation speakers: the last epoch is the best
    meta["history"].append(record)
    improved = meta["best_score"] is None or score > meta["best_score"]
    if improved:
        meta.update(best_score=score, best_epoch=epoch, epochs_since_best=0)
        ckpts.save_best(
            int(state.step),
            {"params": evaluated.params, "model_state": evaluated.model_state},
            {"epoch": epoch, "score": score},
        )
    else:
        meta["epochs_since_best"] += 1
        if (
            tc.early_stopping_patience
            and meta["epochs_since_best"] >= tc.early_stopping_patience
        ):
            meta["stopped_early"] = True
            log.info(
                "early stopping: no validation gain for %d epochs",
                meta["epochs_since_best"],
            )
    return improved


def fit_classical(config, workdir: Path, split, parts, decoded, targets, t_start: float) -> dict:
    """The scikit-learn path: pooled features of the training part -> fitted pipeline -> the same
    evaluation and outputs as a neural run."""
    from jax_ser import classical

    pooled = classical.feature_matrix(decoded.waves, config)
    x = {k: np.stack([pooled[u.path] for u in v]) if v else None for k, v in parts.items()}
    fitted = classical.fit(config, x["train"], targets["train"], workdir)
    results = {"best_epoch": None, "epochs_run": 0, "stopped_early": False, "history": []}
    model_info = {
        "name": "classical",
        "estimator": config.model.estimator,
        "pooled": config.model.pooled,
        "init": "random",
        "num_params": int(x["train"].shape[1]),  # input dimension of the pooled vector
    }
    return evaluate_and_write(
        config, workdir, split, parts, targets, decoded, lambda name: fitted.probs_of(x[name]),
        results, model_info, t_start,
    )


def evaluate_and_write(
    config, workdir: Path, split, parts, targets, decoded, probs_of, results: dict,
    model_info: dict, t_start: float,
) -> dict:
    """Validation and test reports of the final model (`probs_of(part_name)` gives its class
    probabilities), confusion and reliability PNGs, per-utterance predictions, the calibration
    before and after temperature scaling, the data counts with each part's speakers, and
    metrics.json."""
    class_names = labels.task_classes(config.data.task)
    results = {"split": split.name, "speaker_independent": split.speaker_independent, **results}
    all_probs = {}
    for name in ("val", "test"):
        if parts[name]:
            probs = all_probs[name] = probs_of(name)
            report = metrics.classification_report(targets[name], probs, class_names)
            results[name] = report
            if jax.process_index() == 0:
                metrics.plot_confusion_matrix(
                    np.array(report["confusion_matrix"]),
                    class_names,
                    workdir / f"confusion_{name}.png",
                    title=f"{name}: UA {report['ua']:.3f}, WA {report['wa']:.3f} ({split.name})",
                )
                _write_predictions(workdir / f"predictions_{name}.jsonl", parts[name], probs,
                                   class_names)
    calibrated = _temperature_scaling(config, results, targets, all_probs, class_names)
    if jax.process_index() == 0:
        for name, probs in all_probs.items():
            metrics.plot_reliability_diagram(
                targets[name],
                probs,
                workdir / f"reliability_{name}.png",
                title=f"{name}: reliability ({split.name})"
                + (f", T = {results['calibration']['temperature']:.2f}" if calibrated else ""),
                calibrated=calibrated.get(name),
            )
    bad_here = {
        u.path: decoded.bad[u.path]
        for part in (split.train, split.val, split.test)
        for u in part
        if u.path in decoded.bad
    }
    results["data"] = {
        "corpus": config.data.corpus,
        "task": config.data.task,
        "classes": list(class_names),
        **{f"num_{k}": len(v) for k, v in parts.items()},
        **{f"{k}_speakers": sorted({u.speaker_key for u in v}) for k, v in parts.items()},
        "bad_files": {"count": len(bad_here), "files": bad_here},
    }
    results["model"] = model_info
    results["train_time_s"] = round(time.time() - t_start, 1)
    results["devices"] = [str(d) for d in jax.devices()]
    if jax.process_index() == 0:
        (workdir / "metrics.json").write_text(json.dumps(results, indent=2))
    return results


def _temperature_scaling(config, results: dict, targets, probs: dict, class_names) -> dict:
    """With train.temperature_scaling and validation speakers: fit one temperature on the
    validation outputs (jax_ser.calibration), record NLL, ECE and ROC AUC of each part before and
    after it in results["calibration"], and return the calibrated probabilities by part name."""
    if not config.train.temperature_scaling:
        return {}
    if "val" not in probs:
        log.info("temperature scaling skipped: the split has no validation speakers to fit it on")
        results["calibration"] = {"skipped": "no validation speakers"}
        return {}
    temperature = calibration.fit_temperature(targets["val"], probs["val"])
    if not 1.01 * calibration.T_RANGE[0] < temperature < 0.99 * calibration.T_RANGE[1]:
        log.warning("temperature %.3g is at the edge of its search range %s: too few or too "
                    "extreme validation outputs to fit it well", temperature, calibration.T_RANGE)
    calibrated = {name: calibration.apply_temperature(p, temperature) for name, p in probs.items()}
    results["calibration"] = {
        "method": "temperature scaling of log-probabilities: softmax(log(p) / T)",
        "temperature": temperature,
        "fitted_on": f"val ({len(targets['val'])} utterances)",
    }
    for name, p in calibrated.items():
        after = metrics.classification_report(targets[name], p, class_names)
        results["calibration"][name] = {
            key: {"raw": results[name][key], "calibrated": after[key]}
            for key in ("nll", "ece", "roc_auc")
        }
    summary = results["calibration"].get("test", results["calibration"]["val"])
    log.info(
        "temperature %.3f fitted on the validation speakers: %s NLL %.3f -> %.3f, ECE %.3f -> %.3f",
        temperature,
        "test" if "test" in calibrated else "val",
        summary["nll"]["raw"],
        summary["nll"]["calibrated"],
        summary["ece"]["raw"],
        summary["ece"]["calibrated"],
    )
    return calibrated


def _exit_preempted(ckpts: checkpoints.Checkpoints, step: int, total_steps: int) -> None:
    """After SIGTERM: wait until the asynchronous save of `latest` at `step` is on disk, then exit;
    the machine may go away right after."""
    ckpts.close()
    log.warning(
        "SIGTERM: stopped at step %d of %d, checkpoint saved in %s; run the same command to "
        "resume (exit code %d)",
        step,
        total_steps,
        ckpts.latest.directory,
        preemption.EXIT_CODE,
    )
    raise preemption.Preempted(step)


def _write_predictions(path: Path, utterances, probs: np.ndarray, class_names) -> None:
    """One JSON line per evaluated utterance, for error analysis: truth, prediction, probabilities."""
    with open(path, "w") as f:
        for u, p in zip(utterances, probs):
            f.write(json.dumps(prediction_line(u, p, class_names)) + "\n")


def prediction_line(utterance, probs: np.ndarray, class_names) -> dict:
    """One utterance's line of predictions_<part>.jsonl."""
    return {"path": utterance.path, "speaker": utterance.speaker_key, "label": utterance.label,
            "predicted": class_names[int(np.argmax(probs))],
            "probs": {c: round(float(q), 6) for c, q in zip(class_names, probs)}}


def _log_epoch(record: dict, num_epochs: int, improved: bool) -> None:
    parts = [f"epoch {record['epoch']}/{num_epochs}"]
    if record["train_loss"] is not None:
        parts.append(f"train loss {record['train_loss']:.3f} acc {record['train_accuracy']:.3f}")
    if "val_ua" in record:
        parts.append(
            f"val UA {record['val_ua']:.3f} WA {record['val_wa']:.3f} "
            f"F1 {record['val_macro_f1']:.3f}" + (" *" if improved else "")
        )
    parts.append(f"{record['epoch_time_s']:.1f}s")
    log.info(" | ".join(parts))


def _log_to_file(path: Path) -> None:
    """jax_ser's messages to the console and `path`; other libraries' warnings to `path` too."""
    ours, root = logging.getLogger("jax_ser"), logging.getLogger()
    ours.setLevel(logging.INFO)
    ours.propagate = False
    for logger in (ours, root):
        for h in [h for h in logger.handlers if getattr(h, "jax_ser", False)]:
            logger.removeHandler(h)
            h.close()
    console = logging.StreamHandler(sys.stderr)
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname).1s %(message)s", "%H:%M:%S"))
    file_format = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers = [(ours, console, logging.INFO)]
    if jax.process_index() == 0:  # one writer of the run's log, however many processes
        handlers += [
            (ours, logging.FileHandler(path), logging.INFO),
            (root, logging.FileHandler(path), logging.WARNING),
        ]
    for logger, handler, level in handlers:
        handler.jax_ser = True
        handler.setLevel(level)
        if handler is not console:
            handler.setFormatter(file_format)
        logger.addHandler(handler)


def save_or_check_config(config, workdir: Path) -> None:
    """Write config.json, or refuse a workdir whose run was made with another config. Only
    process 0 writes, replacing the file whole, so the others never read it half-written."""
    path = workdir / "config.json"
    changed = config_changes(config, workdir)
    if changed:
        raise config_lib.ConfigError(
            f"{workdir} holds a run with another config ({', '.join(changed[:5])}); resume with "
            "the same config or choose a new --workdir"
        )
    if jax.process_index() == 0:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(config.to_json_best_effort(indent=2))
        tmp.replace(path)


def config_changes(config, workdir: Path) -> list[str]:
    """'key: old -> new' for each setting in which the run saved in `workdir` differs from
    `config` (none when the workdir holds no run yet)."""
    path = workdir / "config.json"
    if not path.exists():
        return []
    new = _flatten(json.loads(config.to_json_best_effort()))
    # A key missing from the old config is a field the schema gained since: the run had it at
    # its default (off), so only a new config that sets it otherwise differs.
    saved = config_lib.from_saved(json.loads(path.read_text()))
    old = _flatten(json.loads(saved.to_json_best_effort()))
    changed = sorted(k for k in old.keys() | new.keys()
                     if old.get(k) != new.get(k) and k not in RESUMABLE_CHANGES)
    return [f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed]


def _flatten(d: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
