"""Utterance list -> decoded, preprocessed waveforms, kept on disk.

Decoding is the slow part of every run, so a corpus is decoded once, in parallel, and kept as one
float32 array per settings in the cache folder; every fold, seed and resumed run reads it back.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from jax_ser.data import audio
from jax_ser.data.corpora import Utterance
from jax_ser.errors import DataError

log = logging.getLogger(__name__)

CACHE_VERSION = 1


@dataclasses.dataclass
class Decoded:
    waves: Mapping[str, np.ndarray]  # path -> preprocessed waveform (prepared.Records: on demand)
    bad: dict[str, str]  # path -> reason it was skipped

    def of(self, utterances: Sequence[Utterance]) -> Sequence[np.ndarray]:
        """The waveforms of `utterances`, in order, each fetched when indexed: a prepared
        dataset's are read from disk then, never all at once."""
        return Waves(self.waves, [u.path for u in utterances])


class Waves(Sequence):
    def __init__(self, waves: Mapping[str, np.ndarray], paths: list[str]):
        self._waves, self._paths = waves, paths

    def __getitem__(self, i):
        if isinstance(i, slice):
            return Waves(self._waves, self._paths[i])
        return self._waves[self._paths[i]]

    def __len__(self) -> int:
        return len(self._paths)


def cache_dir(data_config) -> Path:
    root = data_config.cache_dir or os.environ.get("JAX_SER_CACHE", "~/.cache/jax_ser")
    return Path(root).expanduser()


def decode(utterances: Sequence[Utterance], data_config) -> Decoded:
    """Decode and preprocess every utterance once; later calls read the cached result."""
    settings = dict(
        sample_rate=data_config.sample_rate,
        trim_db=data_config.trim_db,
        normalize=data_config.normalize,
        version=CACHE_VERSION,
    )
    paths = sorted({u.path for u in utterances})
    key = hashlib.sha1(json.dumps([settings, [_file_id(p) for p in paths]]).encode()).hexdigest()
    path = cache_dir(data_config) / "waveforms" / f"{key[:20]}.npz"
    if path.exists():
        with np.load(path) as z:
            samples, offsets = z["audio"], z["offsets"]
            waves = {str(p): samples[offsets[i] : offsets[i + 1]] for i, p in enumerate(z["paths"])}
            bad = dict(zip(z["bad_paths"].tolist(), z["bad_reasons"].tolist()))
        log.info("read %d decoded waveforms from cache %s", len(waves), path)
        for p, reason in bad.items():
            log.warning("skipping %s: %s", p, reason)
        return Decoded(waves, bad)

    log.info("decoding %d files (cached afterwards in %s)", len(paths), path)
    trim_db = data_config.trim_db or None
    loaded, bad = audio.load_many(
        paths,
        sample_rate=data_config.sample_rate,
        normalize=data_config.normalize,
        trim_db=trim_db,
        num_workers=data_config.num_workers,
    )
    waves = {p: w for p, w in zip(paths, loaded) if w is not None}
    good = list(waves)
    lengths = np.array([len(waves[p]) for p in good], dtype=np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}.npz")
    np.savez(
        tmp,
        audio=np.concatenate([waves[p] for p in good]) if good else np.zeros(0, np.float32),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        paths=np.array(good, dtype=str),
        bad_paths=np.array(list(bad), dtype=str),
        bad_reasons=np.array(list(bad.values()), dtype=str),
    )
    os.replace(tmp, path)
    return Decoded(waves, bad)


def _file_id(path: str) -> tuple[str, int, int]:
    try:
        st = os.stat(path)
        return path, st.st_size, st.st_mtime_ns
    except OSError:
        return path, -1, -1


def check_bad_fraction(decoded: Decoded, total: int, max_fraction: float) -> None:
    if total and len(decoded.bad) / total > max_fraction:
        listing = "\n".join(f"  {p}: {r}" for p, r in list(decoded.bad.items())[:10])
        raise DataError(
            f"{len(decoded.bad)} of {total} audio files could not be used, more than "
            f"data.max_bad_fraction={max_fraction}:\n{listing}"
        )
