"""Frame features written by `jax_ser.extract_features`, read in place of audio
(data.precomputed), and the shape of one training example either way."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from jax_ser.data.cache import Decoded
from jax_ser.data.corpora import Utterance

log = logging.getLogger(__name__)


def precomputed_meta(directory: str) -> dict:
    """meta.json of features written by jax_ser.extract_features: dim, frame_rate, layer, ..."""
    path = Path(directory).expanduser() / "meta.json"
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: write features first with "
            "python -m jax_ser.extract_features --output " + str(directory)
        )
    return json.loads(path.read_text())


def load_precomputed(directory: str, utterances: Sequence[Utterance]) -> Decoded:
    """Frame features [T, D] per utterance in place of waveforms; utterances without any are bad."""
    with np.load(Path(directory).expanduser() / "features.npz") as z:
        frames, offsets = z["frames"], z["offsets"]
        index = {str(p): i for i, p in enumerate(z["paths"])}
    waves, bad = {}, {}
    for u in utterances:
        i = index.get(u.path)
        if i is None:
            bad[u.path] = f"no precomputed features in {directory}"
        else:
            waves[u.path] = frames[offsets[i] : offsets[i + 1]].astype(np.float32)
    for p, reason in bad.items():
        log.warning("skipping %s: %s", p, reason)
    return Decoded(waves, bad)


def feature_config(config) -> dict:
    """config.features as a dict, with the dimension of precomputed features filled in."""
    out = config.features.to_dict()
    if config.data.precomputed:
        out["dim"] = precomputed_meta(config.data.precomputed)["dim"]
    return out


def input_shape(config) -> tuple[int, ...]:
    """Shape of one training example: (samples,) of a clip, or (frames, dim) of precomputed ones."""
    if config.data.precomputed:
        meta = precomputed_meta(config.data.precomputed)
        return int(round(config.data.clip_seconds * meta["frame_rate"])), meta["dim"]
    return (int(round(config.data.clip_seconds * config.data.sample_rate)),)
