"""Decoded waveforms -> crops -> host batches, each process its own slice: tf.data for training
(Grain on a host without TensorFlow: the same batches), numpy for evaluation.

Crops are drawn from a generator seeded by (seed, epoch, utterance), and the epoch's order from
(seed, epoch), so a resumed run sees exactly the batches an uninterrupted one would have seen. Each
process takes its own slice of every global batch (`process_index`), for multi-host training.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Iterator, Sequence

import numpy as np

from jax_ser.data import audio


def epoch_order(num_examples: int, global_batch: int, seed: int, epoch: int,
                balance_labels: np.ndarray | None = None,
                speakers: np.ndarray | None = None) -> np.ndarray:
    """[steps, global_batch] utterance indices of one epoch; a set smaller than a batch is tiled.

    With `balance_labels`, class-balanced sampling: the epoch's `num_examples` draws are made with
    replacement, each class equally likely, so rare classes are seen as often as common ones.
    With `speakers` (one id per example), every batch holds one speaker's utterances: each
    speaker's shuffled utterances fill round(n / global_batch) batches (at least one, cycling
    through them), and the epoch takes its steps from those batches in random order."""
    rng = np.random.default_rng((seed, epoch))
    steps = max(1, num_examples // global_batch)
    if speakers is not None:
        batches = []
        for speaker in np.unique(speakers):
            own = rng.permutation(np.flatnonzero(speakers == speaker))
            count = max(1, round(len(own) / global_batch))
            batches.append(np.resize(own, (count, global_batch)))
        batches = np.concatenate(batches)
        return np.resize(batches[rng.permutation(len(batches))], (steps, global_batch))
    if balance_labels is None:
        perm = rng.permutation(num_examples)
    else:
        counts = np.bincount(balance_labels)
        weights = 1.0 / counts[balance_labels]
        perm = rng.choice(num_examples, num_examples, p=weights / weights.sum())
    return np.resize(perm, steps * global_batch).reshape(steps, global_batch)


def train_batches(
    waves: Sequence[np.ndarray],
    labels: np.ndarray,
    *,
    global_batch: int,
    clip_samples: int,
    seed: int,
    epoch: int,
    start_step: int = 0,
    process_index: int = 0,
    process_count: int = 1,
    grad_accum_steps: int = 1,
    balanced: bool = False,
    speakers: np.ndarray | None = None,
    speaker_stats: np.ndarray | None = None,
    members: int = 1,
) -> Iterator[dict]:
    """This process's share of the epoch's batches, from `start_step` on: wave [b, N] (or
    [b, T, D] precomputed frames), label [b], and speaker_stats [b, 2, F] when given [N, 2, F].
    With `grad_accum_steps` K, each global batch comes as K micro-batches in turn, and
    `start_step` counts micro-batches: the examples of an update are those of the unaccumulated
    run. `balanced`: class-balanced sampling; `speakers`: one speaker's utterances per global
    batch (epoch_order). `members` M > 1: an ensemble's batches [M, b, ...], member m's those
    of a single run with seed + m, all cropped by one pipeline."""
    micro = global_batch // grad_accum_steps
    local_batch = micro // process_count
    local = np.stack([
        epoch_order(len(waves), global_batch, seed + m, epoch, labels if balanced else None,
                    speakers).reshape(-1, process_count, local_batch)[start_step:, process_index]
        for m in range(members)
    ], axis=1)  # [steps, members, local_batch]

    def crop(j):
        m, i = divmod(int(j), len(waves))  # member m's crop of utterance i
        rng = np.random.default_rng((seed + m, epoch, i))
        wave = waves[i]
        offset = audio.random_offset(len(wave), clip_samples, rng)
        return audio.crop_or_pad(wave, clip_samples, offset).astype(np.float32), labels[i]

    flat = local + len(waves) * np.arange(members)[:, None]
    pipeline = _pipeline(flat.reshape(-1).astype(np.int64), crop, members * local_batch)
    for (wave, label), index in zip(pipeline, local):
        batch = {"wave": wave, "label": label}
        if speaker_stats is not None:
            batch["speaker_stats"] = speaker_stats[index]
        shape = (members, local_batch) if members > 1 else (local_batch,)
        yield {k: v.reshape(*shape, *v.shape[2 if k == "speaker_stats" else 1:])
               for k, v in batch.items()}


THREADS = max(4, os.cpu_count() or 1)  # crops made at once (they read and copy: GIL released)
PREFETCH = 2  # batches ready ahead of the step


def pipeline_library() -> str:
    """tf.data where TensorFlow is installed, else Grain (GPU images often lack TensorFlow)."""
    return "tf.data" if importlib.util.find_spec("tensorflow") else "grain"


def _pipeline(indices: np.ndarray, crop, batch_size: int) -> Iterator[tuple]:
    """(wave, label) batches of crop(i) for i in `indices`, in order, cropped on parallel threads
    (crop reads the waveform: from a prepared dataset's file on disk, or memory) and prefetched,
    so the host's batches are ready before the step asks."""
    if pipeline_library() == "grain":
        import grain

        ds = grain.MapDataset.source(indices).map(crop).batch(batch_size, drop_remainder=True)
        return iter(ds.to_iter_dataset(grain.ReadOptions(num_threads=THREADS,
                                                         prefetch_buffer_size=PREFETCH)))
    import tensorflow as tf  # here: labelling (eval_batches) runs without it

    ds = tf.data.Dataset.from_tensor_slices(indices)
    ds = ds.map(
        lambda i: tf.numpy_function(crop, [i], (tf.float32, tf.int32)),
        num_parallel_calls=THREADS,
        deterministic=True,
    )
    # Fixed parallelism, no autotuning: with autotuning on, dropping an epoch's finished
    # iterator blocked for about 8.5 s in most epochs of a ResNet18 run (12 s epochs took 20.5 s)
    options = tf.data.Options()
    options.autotune.enabled = False
    ds = ds.batch(batch_size, drop_remainder=True).prefetch(PREFETCH).with_options(options)
    return ds.as_numpy_iterator()


def eval_batches(
    waves: Sequence[np.ndarray],
    *,
    global_batch: int,
    clip_samples: int,
    num_crops: int,
    process_index: int = 0,
    process_count: int = 1,
    speaker_stats: np.ndarray | None = None,
) -> Iterator[dict]:
    """All utterances in order, padded to whole batches: wave [b, crops, N], mask [b], and
    speaker_stats [b, 2, F] when given [N, 2, F] (padding gets mean 0, std 1). Plain numpy:
    the waves are in memory and crops are copies, so labelling needs no TensorFlow (its import
    alone takes 0.7 GB and seconds)."""
    steps = -(-len(waves) // global_batch)
    local_batch = global_batch // process_count
    index = np.arange(steps * global_batch).reshape(steps, process_count, local_batch)
    local = index[:, process_index].reshape(-1)

    frame_shape = waves[0].shape[1:] if len(waves) else ()  # () audio, (D,) precomputed frames
    padding = np.zeros((num_crops, clip_samples, *frame_shape), np.float32)
    for index in local.reshape(steps, local_batch):
        batch = {
            "wave": np.stack([audio.eval_crops(waves[i], clip_samples, num_crops).astype(
                np.float32, copy=False) if i < len(waves) else padding for i in index]),
            "mask": index < len(waves),
        }
        if speaker_stats is not None:
            batch["speaker_stats"] = _stats_at(speaker_stats, index)
        yield batch


def _stats_at(speaker_stats: np.ndarray, index: np.ndarray) -> np.ndarray:
    """speaker_stats of the utterances at `index`; mean 0, std 1 past the end (batch padding)."""
    out = np.zeros((len(index), *speaker_stats.shape[1:]), np.float32)
    out[:, 1] = 1.0
    real = index < len(speaker_stats)
    out[real] = speaker_stats[index[real]]
    return out


def hide_gpus_from_tf() -> None:
    """tf.data only feeds the host; keep TensorFlow off the accelerators JAX uses."""
    if pipeline_library() != "tf.data":
        return
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
