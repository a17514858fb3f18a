"""The one place a model meets waveforms for evaluation: the compiled evaluation step, the run's
speaker adaptation (jax_ser.adapt) and the batches that feed them. Training's validation and test,
prediction, re-evaluation and the benchmarks all label through a Runner."""

from __future__ import annotations

from typing import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jax_ser import adapt, frontend, models
from jax_ser.adapt import adabn
from jax_ser.data import batches as batches_lib
from jax_ser.data import labels, precomputed
from jax_ser.errors import check_positive
from jax_ser.train import losses
from jax_ser.train import state as state_lib


def check_config(config) -> None:
    check_positive(config, "eval", "crops", "batch_size")


class Runner:
    """The model of one config on the devices. `optimizer(abstract_params)`, for training, gives
    the GradientTransformation whose state the train state carries (default: none)."""

    def __init__(self, config, optimizer: Callable | None = None):
        self.config = config
        self.class_names = labels.task_classes(config.data.task)
        self.feature_config = precomputed.feature_config(config)
        self.input_shape = precomputed.input_shape(config)
        self.clip_samples = self.input_shape[0]  # crop length: samples, or precomputed frames
        self.model = models.build(config.model, num_classes=len(self.class_names))
        self.module = models.module(config.model.name)
        self.adapters = adapt.active(config)
        abstract = jax.eval_shape(lambda: self._init_state(optax.identity()))
        self.tx = optimizer(abstract.params) if optimizer else optax.identity()
        self.mesh = state_lib.make_mesh(config.train.fsdp)
        self.replicated = NamedSharding(self.mesh, P())
        self.data_sharding = NamedSharding(self.mesh, P(("data", "fsdp")))
        opt_state = jax.eval_shape(self.tx.init, abstract.params)
        self.state_sharding = state_lib.state_sharding(
            self.mesh, abstract.replace(tx=self.tx, opt_state=opt_state), config.train.fsdp)
        self._compiled = {}
        self.eval_step = jax.jit(
            self._eval_step,
            in_shardings=(self.state_sharding, self.data_sharding),
            out_shardings=self.data_sharding,
        )

    def _init_state(self, tx, seed=None):
        return state_lib.init_state(self.config, self.model, tx, self.input_shape,
                                    self.feature_config, seed)

    def init(self, load_pretrained: bool = True, seed: int | None = None) -> state_lib.TrainState:
        """Fresh weights drawn from `seed` (default config.seed), then, with
        `model.init=pretrained`, the checkpoint's where it has them."""
        state = jax.jit(lambda: self._init_state(self.tx, seed),
                        out_shardings=self.state_sharding)()
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

    def compiled(self, name: str, make: Callable):
        """A step compiled once per Runner: `make()` on the first call (adaptation methods)."""
        if name not in self._compiled:
            self._compiled[name] = make()
        return self._compiled[name]

    def to_global(self, local: np.ndarray) -> jax.Array:
        return jax.make_array_from_process_local_data(self.data_sharding, local)

    def eval_features(self, batch) -> jax.Array:
        """Features of the batch's b x k crops [b * k, T, F], inside a jitted step."""
        wave, stats = batch["wave"], batch.get("speaker_stats")
        b, k = wave.shape[:2]
        if stats is not None:  # the same speaker's statistics for each crop
            stats = jnp.repeat(stats, k, axis=0)
        return frontend.compute(wave.reshape(b * k, *wave.shape[2:]), self.feature_config, stats,
                                self.mesh)

    def _eval_step(self, state, batch):
        b, k = batch["wave"].shape[:2]
        logits = self.model.apply({"params": state.params, **state.model_state},
                                  self.eval_features(batch), train=False)
        return losses.probabilities(logits, self.config.train.loss).reshape(b, k, -1).mean(axis=1)

    def adapt(self, state, recordings: Sequence[np.ndarray], crops=None,
              num_crops: int | None = None) -> adapt.Speaker:
        """One speaker's `state` and feature statistics after every active adaptation method
        (jax_ser.adapt), from their `recordings` (and `crops`: what the network sees of them,
        default the recordings themselves with the config's evaluation crops)."""
        speaker = adapt.Speaker(list(recordings), list(recordings if crops is None else crops),
                                num_crops or self.config.eval.crops, state)
        for method in self.adapters:
            speaker = method.adapt(self, speaker)
        return speaker

    def probs(self, state, waves: Sequence[np.ndarray], speakers: Sequence[str] | None = None,
              num_crops: int | None = None) -> np.ndarray:
        """Class probabilities [len(waves), C], averaged over `num_crops` evaluation crops
        (default: config.eval.crops). With `speakers` (each wave's speaker) and an adapting
        config, each speaker's waves are labelled by the model adapted to them; without, by
        `state` as it is."""
        if not self.adapters or speakers is None:
            return self._probs(state, waves, num_crops, None)
        out = np.zeros((len(waves), len(self.class_names)), np.float32)
        stats = None
        same_weights = np.zeros(len(waves), bool)  # labelled in one pass, after the loop
        for index in adabn.speaker_groups(speakers).values():
            part = [waves[i] for i in index]
            speaker = self.adapt(state, part, num_crops=num_crops)
            if speaker.state is not state:
                out[index] = self.labelled(speaker, part, num_crops)
                continue
            same_weights[index] = True
            if speaker.stats is not None:  # only feature statistics
                if stats is None:
                    stats = np.zeros((len(waves), *speaker.stats.shape), np.float32)
                stats[index] = speaker.stats
        if same_weights.any():
            index = np.flatnonzero(same_weights)
            out[index] = self._probs(state, [waves[i] for i in index], num_crops,
                                     None if stats is None else stats[index])
        return out

    def _probs(self, state, waves, num_crops, speaker_stats) -> np.ndarray:
        out = [
            np.asarray(multihost_utils.process_allgather(self.eval_step(state, batch), tiled=True))
            for batch in self.batches(waves, num_crops, speaker_stats)
        ]
        return np.concatenate(out)[: len(waves)] if out else np.zeros((0, len(self.class_names)))

    def labelled(self, speaker: adapt.Speaker, waves, num_crops: int | None = None):
        """Probabilities of `waves` by the model adapted to `speaker` (their state and
        feature statistics)."""
        return self._probs(speaker.state, waves, num_crops, tile(speaker.stats, len(waves)))

    def batches(self, waves, num_crops, speaker_stats):
        """Global batches of evaluation crops (data.batches.eval_batches), on the devices;
        `speaker_stats` [len(waves), 2, F] or [2, F] for all of them."""
        if speaker_stats is not None and speaker_stats.ndim == 2:
            speaker_stats = tile(speaker_stats, len(waves))
        for batch in batches_lib.eval_batches(
            waves,
            global_batch=_round_up(self.config.eval.batch_size, jax.device_count()),
            clip_samples=self.clip_samples,
            num_crops=num_crops or self.config.eval.crops,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
            speaker_stats=speaker_stats,
        ):
            yield {k: self.to_global(v) for k, v in batch.items()}


def tile(stats: np.ndarray | None, n: int) -> np.ndarray | None:
    """One speaker's statistics [2, F] for each of `n` inputs."""
    return None if stats is None else np.repeat(stats[None], n, 0)


def _round_up(x: int, m: int) -> int:
    return -(-x // m) * m
