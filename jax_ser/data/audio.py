"""Single-file audio front end: decode, check, resample, trim, crop.

Runs in the input pipeline on numpy arrays, before anything reaches JAX. Every way a corpus file
can be unusable ends in a `BadAudioError` with a short reason, so a pipeline can skip the file
and report it instead of training on garbage or crashing hours into a run.
"""

import concurrent.futures
import logging
import os
import re

import audioread
import librosa
import numpy as np
import soundfile as sf
import soxr

log = logging.getLogger(__name__)

# librosa.load resamples with soxr "HQ" by default. We use "VHQ", the setting the shared corpora
# were converted with, so a file resampled here matches its pre-converted copy; for speech-length
# clips the two cost the same (about 1 ms per 4 s at 48 kHz).
RESAMPLE_QUALITY = "VHQ"

# libsndfile quietly shortens a WAV/AIFF whose data chunk runs past the end of the file and only
# says so in its log, e.g. "data : 32000 (should be 15978)".
_DATA_CHUNK_LOG = re.compile(r"^\s*(?:data|SSND) : (\d+) \(should be (\d+)\)", re.MULTILINE)
# Writers streaming to a pipe leave this placeholder size in the header; the audio is complete.
_STREAMING_SIZE = 0xFFFFFFFF
# A file quieter than this everywhere carries no speech; one shorter than MIN_SAMPLES after
# resampling (0.1 s at 16 kHz) is too short to hold an utterance.
SILENCE_PEAK = 1e-4
MIN_SAMPLES = 1600


class BadAudioError(ValueError):
    """A file that cannot serve as a training or test example, and why."""

    def __init__(self, path: str, reason: str):
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


def _libsndfile_message(error: sf.LibsndfileError) -> str:
    return error.error_string.removeprefix("Error : ").rstrip(".")


def header_promises_more(info: str) -> bool:
    for declared, present in _DATA_CHUNK_LOG.findall(info):
        if int(declared) != _STREAMING_SIZE and int(declared) > int(present):
            return True
    return False


def _decode_with_soundfile(path: str) -> tuple[np.ndarray, int]:
    """[frames, channels] float32 and the file's rate; raises LibsndfileError on open failure."""
    with sf.SoundFile(path) as f:
        if header_promises_more(f.extra_info):
            raise BadAudioError(path, "truncated")
        promised = f.frames
        try:
            data = f.read(dtype="float32", always_2d=True)
        except sf.LibsndfileError as error:
            raise BadAudioError(path, "truncated") from error
        if len(data) < promised:
            raise BadAudioError(path, "truncated")
        return data, f.samplerate


def _decode_with_audioread(path: str) -> tuple[np.ndarray, int]:
    """For what libsndfile cannot open (M4A, AAC, ... where FFmpeg or GStreamer is installed):
    audioread's 16-bit PCM as float32, as librosa.load's fallback reads it. Called directly,
    because that fallback warns for every such file and is deprecated (gone in librosa 1.0)."""
    with audioread.audio_open(path) as f:
        rate, channels = f.samplerate, f.channels
        pcm = np.concatenate([np.frombuffer(block, "<i2") for block in f] or [np.zeros(0, "<i2")])
    return (pcm.astype(np.float32) / 32768.0).reshape(-1, channels), int(rate)


def load(
    path: str,
    sample_rate: int = 16000,
    *,
    silence_peak: float = SILENCE_PEAK,
    min_samples: int = MIN_SAMPLES,
) -> np.ndarray:
    """Decode `path` to float32 mono at `sample_rate`, or raise BadAudioError saying why not.

    Files quieter than `silence_peak` everywhere carry no speech; files shorter than
    `min_samples` after resampling (default 0.1 s at 16 kHz) are too short to hold an utterance.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise BadAudioError(path, "unreadable: no such file")
    try:
        data, rate = _decode_with_soundfile(path)
    except sf.LibsndfileError as error:
        try:
            data, rate = _decode_with_audioread(path)
        except Exception:
            raise BadAudioError(path, f"unreadable: {_libsndfile_message(error)}") from error
    return mono(data, rate, sample_rate, path, silence_peak=silence_peak, min_samples=min_samples)


def mono(
    data: np.ndarray,
    rate: int,
    sample_rate: int,
    name: str = "waveform",
    *,
    silence_peak: float = SILENCE_PEAK,
    min_samples: int = MIN_SAMPLES,
) -> np.ndarray:
    """`data` ([frames, channels] or [frames]) as float32 mono at `sample_rate`, checked as
    `load` checks a file (BadAudioError naming `name`)."""
    data = np.asarray(data, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise BadAudioError(
            name, f"expected [samples] or [samples, channels], got shape {data.shape}"
        )
    if data.size == 0:
        raise BadAudioError(name, "empty")
    if not np.isfinite(data).all():
        raise BadAudioError(name, "non-finite samples")
    wave = data.mean(axis=1, dtype=np.float32)
    if np.abs(wave).max() < silence_peak:
        raise BadAudioError(name, "silent")
    if rate != sample_rate:
        wave = soxr.resample(wave, rate, sample_rate, quality=RESAMPLE_QUALITY)
    if len(wave) < min_samples:
        raise BadAudioError(name, "too short")
    return wave.astype(np.float32, copy=False)


def preprocess(wave: np.ndarray, *, normalize: bool = True,
               trim_db: float | None = 30.0) -> np.ndarray:
    """Peak-normalise to 0.95 and trim edge silence quieter than `trim_db` below the peak.

    Recording level and leading/trailing pauses differ between corpora and sessions and would
    otherwise be easy cues for the classifier. A falsy `trim_db` disables trimming; a wave that
    trimming would empty is kept whole.
    """
    if normalize:
        peak = np.abs(wave).max(initial=0.0)
        if peak > 0:
            wave = wave * np.float32(0.95 / peak)
    if trim_db:
        trimmed, _ = librosa.effects.trim(wave, top_db=trim_db)
        if len(trimmed):
            wave = trimmed
    return np.asarray(wave, dtype=np.float32)


def crop_or_pad(wave: np.ndarray, length: int, offset: int | None = None) -> np.ndarray:
    """A `length`-sample window: wave[offset:offset + length] if longer, else the wave zero-padded
    and placed at `offset` in the window. `offset=None` centres it."""
    n = len(wave)
    span = abs(n - length)
    if offset is None:
        offset = span // 2
    if not 0 <= offset <= span:
        raise ValueError(f"offset {offset} outside [0, {span}] for {n} samples into {length}")
    if n >= length:
        return wave[offset:offset + length].copy()
    window = np.zeros((length, *wave.shape[1:]), dtype=wave.dtype)  # also [T, D] feature frames
    window[offset:offset + n] = wave
    return window


def random_offset(n: int, length: int, rng: np.random.Generator) -> int:
    """A uniform admissible `crop_or_pad` offset for an n-sample wave, crop or pad alike."""
    return int(rng.integers(0, abs(n - length) + 1))


def eval_crops(wave: np.ndarray, length: int, num_crops: int) -> np.ndarray:
    """[num_crops, length] windows for test-time averaging: the centre one for a single crop,
    else evenly spaced from start to end. A short wave is padded at the same evenly spaced
    positions, the placements `random_offset` draws from in training."""
    if num_crops == 1:
        return crop_or_pad(wave, length)[None]
    offsets = np.linspace(0, abs(len(wave) - length), num_crops).round().astype(int)
    return np.stack([crop_or_pad(wave, length, int(o)) for o in offsets])


def sliding_windows(wave: np.ndarray, length: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Windows [K, length] every `hop` samples covering all of a long recording, and their start
    samples [K]. The last window ends at the last sample; a wave shorter than `length` gives one
    window starting at 0, zero-padded at the end."""
    n = len(wave)
    if n <= length:
        window = np.zeros((length, *wave.shape[1:]), dtype=wave.dtype)  # also [T, D] feature frames
        window[:n] = wave
        return window[None], np.zeros(1, dtype=np.int64)
    starts = np.arange(0, n - length + 1, hop, dtype=np.int64)
    if starts[-1] != n - length:
        starts = np.append(starts, n - length)
    windows = np.lib.stride_tricks.sliding_window_view(wave, length)[starts]
    return windows, starts


def load_many(
    paths: list[str],
    *,
    sample_rate: int,
    normalize: bool,
    trim_db: float | None,
    num_workers: int = 2,
) -> tuple[list[np.ndarray | None], dict[str, str]]:
    """Decode and preprocess `paths` in a thread pool (libsndfile and soxr release the GIL).

    Returns the waves in input order, None where a file is bad, and {path: reason} for the bad
    ones, each also logged once; a bad file never stops the others.
    """

    def decode(path: str) -> np.ndarray | BadAudioError:
        try:
            wave = load(path, sample_rate)
        except BadAudioError as error:
            return error
        return preprocess(wave, normalize=normalize, trim_db=trim_db)

    with concurrent.futures.ThreadPoolExecutor(max_workers=num_workers) as pool:
        results = list(pool.map(decode, paths))
    waves: list[np.ndarray | None] = []
    bad: dict[str, str] = {}
    for result in results:
        if isinstance(result, BadAudioError):
            log.warning("skipping %s: %s", result.path, result.reason)
            bad[result.path] = result.reason
            waves.append(None)
        else:
            waves.append(result)
    return waves, bad
