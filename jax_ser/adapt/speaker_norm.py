"""Speaker-level feature normalisation (`features.normalize = "speaker"`).

On unseen actors a model must tell emotions apart across voices that differ in pitch, timbre
and level, often by more than one voice differs between emotions. Standardising every feature
band with the mean and std of that band over all of the speaker's frames removes the speaker's
own average and keeps how each utterance departs from it. The statistics of a held-out speaker
come from their own recordings, without labels: the protocol assumes the speaker's identity and
a set of their recordings are known at test time; `jax_ser.predict` treats the files of one
call as one speaker. Training standardises its own speakers' features the same way
(`training_statistics`)."""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jax_ser.frontend import features

log = logging.getLogger(__name__)

DEFAULTS = {}  # its key is features.normalize=speaker: the front end uses the statistics
ORDER = 0  # first: the other methods see features standardised with the speaker's statistics
WINDOWS_PER_CALL = 32  # recordings are cut into clip-long windows, featurised this many at once


def statistics(waves: Sequence[np.ndarray], feature_config: dict, clip_samples: int) -> np.ndarray:
    """[2, F]: mean and std of each feature band over every frame of `waves` (one speaker).

    Each recording is cut into `clip_samples` windows, so every window has the training shape
    and the features compile once; frames past a recording's end (its padding) are not counted.
    """
    if not len(waves):
        raise ValueError("speaker statistics need at least one recording")
    hop = int(feature_config["hop_length"])
    frames = features.num_frames(clip_samples, feature_config)
    windows, valid = [], []
    for wave in waves:
        for start in range(0, max(len(wave), 1), clip_samples):
            part = wave[start : start + clip_samples]
            windows.append(np.pad(part, (0, clip_samples - len(part))))
            valid.append(np.arange(frames) * hop < len(part))  # frame centre inside the audio
    total = 0.0
    count = 0
    for i in range(0, len(windows), WINDOWS_PER_CALL):
        batch = np.stack(windows[i : i + WINDOWS_PER_CALL]).astype(np.float32)
        mask = np.stack(valid[i : i + WINDOWS_PER_CALL])
        pad = WINDOWS_PER_CALL - len(batch)  # one shape for every call
        feats = np.asarray(_compute(np.pad(batch, ((0, pad), (0, 0))), feature_config))
        picked = feats[: len(batch)][mask].astype(np.float64)  # [frames, F]
        total = total + np.stack([picked.sum(0), np.square(picked).sum(0)])
        count += len(picked)
    if not count:
        raise ValueError("speaker statistics: the recordings hold no audio frame")
    mean = total[0] / count
    std = np.sqrt(np.maximum(total[1] / count - mean**2, 0.0) + 1e-5)
    return np.stack([mean, std]).astype(np.float32)


def per_utterance(speakers: Sequence[str], waves: Sequence[np.ndarray], feature_config: dict,
                  clip_samples: int) -> np.ndarray:
    """[N, 2, F]: the statistics of each utterance's speaker, over all of that speaker's `waves`."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for speaker, wave in zip(speakers, waves):
        by_speaker.setdefault(speaker, []).append(wave)
    stats = {s: statistics(w, feature_config, clip_samples) for s, w in by_speaker.items()}
    return np.stack([stats[s] for s in speakers]) if len(speakers) else np.zeros((0, 2, 0))


def _compute(batch: np.ndarray, feature_config: dict) -> jax.Array:
    return _featurizer(tuple(sorted(feature_config.items())))(jnp.asarray(batch))


@functools.lru_cache(maxsize=None)
def _featurizer(settings: tuple):
    """One jitted feature function per feature config (hashable as sorted items)."""
    cfg = dict(settings)
    return jax.jit(lambda w: features.compute(w, cfg))


def active(config) -> bool:
    return config.features.normalize == "speaker"


def adapt(runner, speaker):
    """The speaker with the feature statistics of their recordings."""
    stats = statistics(speaker.recordings, runner.feature_config, runner.clip_samples)
    return dataclasses.replace(speaker, stats=stats)


def training_statistics(config, utterances, waves, feature_config, clip_samples):
    """Each utterance's speaker statistics [N, 2, F] over that speaker's `waves`, for the
    utterances of one part of a split; None unless features.normalize=speaker."""
    if not active(config):
        return None
    t0 = time.time()
    speakers = [u.speaker_key for u in utterances]
    stats = per_utterance(speakers, waves, feature_config, clip_samples)
    log.info("speaker statistics of %d speakers in %.0f s (features.normalize=speaker)",
             len(set(speakers)), time.time() - t0)
    return stats
