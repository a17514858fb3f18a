"""Audio features in pure JAX, computed from waveform batches inside the jitted step.

Features live in JAX rather than in the input pipeline so they run on the accelerator next to the
model: the host only decodes and crops audio, and a feature change needs no re-decoding of the
corpus. Every function maps waves [B, N] float32 to time-major features [B, T, F] and follows
librosa 0.11's conventions (centred frames with zero padding, periodic Hann window, Slaney mel
filters, dB with a per-utterance top_db floor) so numbers match the field's reference tool.
Constant matrices (window, mel, chroma, DCT) come from librosa/numpy once per setting.
"""

import functools
import math
from typing import Any

import jax
import jax.numpy as jnp
import librosa
import numpy as np

from jax_ser.errors import ConfigError, check_positive

NORMALIZATIONS = ("none", "utterance", "frequency", "speaker")

_HIGHEST = jax.lax.Precision.HIGHEST  # keep filterbank matmuls float32 on TF32/bf16 hardware


def _frame(x: jax.Array, frame_length: int, hop_length: int) -> jax.Array:
    """[B, L] -> [B, T, frame_length] frames starting every hop_length samples.

    Built from hop-sized chunks and a few static shifted slices (ceil(frame_length / hop) of
    them), so no gather: cheap on CPU, GPU and TPU alike. They are stacked on a new axis, not
    concatenated: XLA then fuses the framing into the window multiplication, where on CPU a
    concatenate stays a separate copy of the materialised slices.
    """
    length = x.shape[-1]
    num = 1 + (length - frame_length) // hop_length
    if num < 1:
        raise ValueError(f"signal of {length} samples is shorter than one frame of {frame_length}")
    pieces = -(-frame_length // hop_length)
    target = (num - 1 + pieces) * hop_length
    if length < target:
        x = jnp.pad(x, ((0, 0), (0, target - length)))
    chunks = x[:, :target].reshape(x.shape[0], num - 1 + pieces, hop_length)
    frames = jnp.stack([chunks[:, k:k + num] for k in range(pieces)], axis=2)
    return frames.reshape(x.shape[0], num, pieces * hop_length)[..., :frame_length]


@functools.lru_cache(maxsize=None)
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann of win_length, zero-padded to n_fft in the centre, as librosa.stft does."""
    window = librosa.filters.get_window("hann", win_length, fftbins=True)
    return librosa.util.pad_center(window, size=n_fft).astype(np.float32)


@functools.lru_cache(maxsize=None)
def _mel_basis(sample_rate: float, n_fft: int, n_mels: int, fmin: float,
               fmax: float | None) -> np.ndarray:
    """[n_fft//2+1, n_mels] Slaney mel filterbank from librosa, transposed for time-major use."""
    basis = librosa.filters.mel(sr=sample_rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return np.ascontiguousarray(basis.T)


@functools.lru_cache(maxsize=None)
def _mel_bands(sample_rate: float, n_fft: int, n_mels: int, fmin: float, fmax: float | None,
               groups: int = 8) -> tuple[tuple[int, int, np.ndarray], ...]:
    """The mel filterbank as `groups` runs of adjacent bands, each (lo, hi, [hi - lo, bands]) with
    the frequency bins lo..hi-1 that any of its filters touches. A triangular filter spans a few
    bins, so the dense [n_fft//2+1, n_mels] matmul multiplies mostly zeros (87% of them at the
    config defaults): on CPU the runs' 8 small matmuls take half to two thirds of its time, with
    the same sums (every bin left out has weight 0 in the run's filters)."""
    basis = _mel_basis(sample_rate, n_fft, n_mels, fmin, fmax)
    runs = []
    for bands in np.array_split(np.arange(n_mels), min(groups, n_mels)):
        used = np.flatnonzero(np.any(basis[:, bands] != 0, axis=1))
        lo, hi = (int(used[0]), int(used[-1]) + 1) if used.size else (0, 1)  # empty filters
        runs.append((lo, hi, np.ascontiguousarray(basis[lo:hi, bands])))
    return tuple(runs)


@functools.lru_cache(maxsize=None)
def _chroma_basis(sample_rate: float, n_fft: int, n_chroma: int) -> np.ndarray:
    """[n_fft//2+1, n_chroma] chroma filterbank from librosa at tuning 0."""
    basis = librosa.filters.chroma(sr=sample_rate, n_fft=n_fft, tuning=0.0, n_chroma=n_chroma)
    return np.ascontiguousarray(basis.T)


@functools.lru_cache(maxsize=None)
def _dct_basis(n_mels: int, n_mfcc: int) -> np.ndarray:
    """[n_mels, n_mfcc] orthonormal DCT-II matrix (scipy.fft.dct(norm="ortho") as librosa uses)."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)
    basis = np.cos(np.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    basis[:, 0] /= math.sqrt(2.0)
    return basis.astype(np.float32)


def power_spectrogram(waves: jax.Array, *, n_fft: int = 512, hop_length: int = 160,
                      win_length: int | None = None, power: float = 2.0) -> jax.Array:
    """|STFT|**power, [B, T, n_fft//2+1], like librosa.stft(center=True, pad_mode="constant")."""
    waves = jnp.asarray(waves, jnp.float32)
    window = _window(n_fft, win_length or n_fft)
    padded = jnp.pad(waves, ((0, 0), (n_fft // 2, n_fft // 2)))
    spectrum = jnp.fft.rfft(_frame(padded, n_fft, hop_length) * window, axis=-1)
    energy = jnp.square(spectrum.real) + jnp.square(spectrum.imag)
    if power == 2.0:
        return energy
    # Power other than 2 needs a root, whose gradient at 0 is infinite: keep 0 out of it.
    positive = energy > 0
    return jnp.where(positive, jnp.where(positive, energy, 1.0) ** (power / 2.0), 0.0)


def power_to_db(spec: jax.Array, *, amin: float = 1e-10, top_db: float | None = 80.0,
                log_offset: float = 0.0) -> jax.Array:
    """librosa.power_to_db(ref=1.0) with the top_db floor taken per example (per utterance).
    `log_offset` > 0 adds it to the power instead of flooring at amin, as the log(mel + 1e-6) of
    many PyTorch scripts does (in dB: 10 log10(power + log_offset))."""
    if log_offset > 0:
        log_spec = 10.0 * jnp.log10(spec + log_offset)
    else:
        log_spec = 10.0 * jnp.log10(jnp.maximum(spec, amin))
    if top_db:
        peak = jnp.max(log_spec, axis=tuple(range(1, log_spec.ndim)), keepdims=True)
        log_spec = jnp.maximum(log_spec, peak - top_db)
    return log_spec


def mel_spectrogram(waves: jax.Array, *, sample_rate: float = 16000, n_fft: int = 512,
                    hop_length: int = 160, win_length: int | None = None, n_mels: int = 128,
                    fmin: float = 0.0, fmax: float | None = None,
                    power: float = 2.0) -> jax.Array:
    """Mel spectrogram [B, T, n_mels], like librosa.feature.melspectrogram."""
    spec = power_spectrogram(waves, n_fft=n_fft, hop_length=hop_length, win_length=win_length,
                             power=power)
    return jnp.concatenate([
        jnp.einsum("btf,fm->btm", spec[..., lo:hi], weights, precision=_HIGHEST)
        for lo, hi, weights in _mel_bands(sample_rate, n_fft, n_mels, fmin, fmax)
    ], axis=-1)


def log_mel(waves: jax.Array, *, sample_rate: float = 16000, n_fft: int = 512,
            hop_length: int = 160, win_length: int | None = None, n_mels: int = 128,
            fmin: float = 0.0, fmax: float | None = None,
            top_db: float | None = 80.0, log_offset: float = 0.0) -> jax.Array:
    """Log-mel in dB [B, T, n_mels], like power_to_db(melspectrogram, ref=1.0, top_db=top_db)."""
    mel = mel_spectrogram(waves, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                          win_length=win_length, n_mels=n_mels, fmin=fmin, fmax=fmax)
    return power_to_db(mel, top_db=top_db, log_offset=log_offset)


def mfcc(waves: jax.Array, *, n_mfcc: int = 20, sample_rate: float = 16000, n_fft: int = 512,
         hop_length: int = 160, win_length: int | None = None, n_mels: int = 128,
         fmin: float = 0.0, fmax: float | None = None,
         top_db: float | None = 80.0, log_offset: float = 0.0) -> jax.Array:
    """MFCCs [B, T, n_mfcc]: orthonormal DCT-II of the dB log-mel, like librosa.feature.mfcc."""
    log_spec = log_mel(waves, sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length,
                       win_length=win_length, n_mels=n_mels, fmin=fmin, fmax=fmax, top_db=top_db,
                       log_offset=log_offset)
    return _cepstra(log_spec, n_mfcc)


def _cepstra(log_spec: jax.Array, n_mfcc: int) -> jax.Array:
    basis = _dct_basis(log_spec.shape[-1], n_mfcc)
    return jnp.einsum("btm,mc->btc", log_spec, basis, precision=_HIGHEST)


def zero_crossing_rate(waves: jax.Array, *, frame_length: int = 2048, hop_length: int = 512,
                       center: bool = True) -> jax.Array:
    """Fraction of sign changes per frame [B, T, 1], like librosa.feature.zero_crossing_rate.

    As in librosa: centring pads with edge copies, |x| <= 1e-10 counts as zero (non-negative),
    and the first sample of a frame has no crossing but still counts in the frame length.
    """
    waves = jnp.asarray(waves, jnp.float32)
    if center:
        waves = jnp.pad(waves, ((0, 0), (frame_length // 2, frame_length // 2)), mode="edge")
    negative = jnp.signbit(jnp.where(jnp.abs(waves) <= 1e-10, 0.0, waves))
    crossing = (negative[:, 1:] != negative[:, :-1]).astype(jnp.int32)
    # Crossings before sample i (integer, so exact for any length); frame t sums samples
    # t*hop+1 .. t*hop+frame_length-1, i.e. cumsum[t*hop+frame_length-1] - cumsum[t*hop].
    cumsum = jnp.pad(jnp.cumsum(crossing, axis=-1), ((0, 0), (1, 0)))
    num = 1 + (waves.shape[-1] - frame_length) // hop_length
    if num < 1:
        raise ValueError(f"signal of {waves.shape[-1]} samples is shorter than one frame "
                         f"of {frame_length}")
    stop = (num - 1) * hop_length + 1
    starts = cumsum[:, 0:stop:hop_length]
    ends = cumsum[:, frame_length - 1:frame_length - 1 + stop:hop_length]
    return ((ends - starts).astype(jnp.float32) / frame_length)[..., None]


def chroma(waves: jax.Array, *, sample_rate: float = 16000, n_fft: int = 512,
           hop_length: int = 160, win_length: int | None = None,
           n_chroma: int = 12) -> jax.Array:
    """Chromagram [B, T, n_chroma], like librosa.feature.chroma_stft(tuning=0.0, norm=inf)."""
    spec = power_spectrogram(waves, n_fft=n_fft, hop_length=hop_length, win_length=win_length)
    raw = jnp.einsum("btf,fc->btc", spec, _chroma_basis(sample_rate, n_fft, n_chroma),
                     precision=_HIGHEST)
    peak = jnp.max(jnp.abs(raw), axis=-1, keepdims=True)
    # librosa.util.normalize leaves frames whose peak is below the smallest normal float as is.
    return raw / jnp.where(peak < np.finfo(np.float32).tiny, 1.0, peak)


def _settings(cfg: Any) -> dict[str, Any]:
    """Feature settings from a ConfigDict or dict, with 0/None meaning "librosa's default"."""
    n_fft = int(cfg.get("n_fft", 512))
    fmax = cfg.get("fmax", None)
    top_db = cfg.get("top_db", 80.0)
    return dict(
        sample_rate=float(cfg.get("sample_rate", 16000)),
        n_fft=n_fft,
        hop_length=int(cfg.get("hop_length", 160)),
        win_length=int(cfg.get("win_length", None) or n_fft),
        n_mels=int(cfg.get("n_mels", 128)),
        n_mfcc=int(cfg.get("n_mfcc", 20)),
        fmin=float(cfg.get("fmin", 0.0) or 0.0),
        fmax=float(fmax) if fmax else None,
        top_db=float(top_db) if top_db else None,
        log_offset=float(cfg.get("log_offset", 0.0) or 0.0),
    )


def _stft(s):
    return dict(n_fft=s["n_fft"], hop_length=s["hop_length"], win_length=s["win_length"])


def _mel(s):
    return dict(_stft(s), sample_rate=s["sample_rate"], n_mels=s["n_mels"], fmin=s["fmin"],
                fmax=s["fmax"])


def _db(s):
    return dict(top_db=s["top_db"], log_offset=s["log_offset"])


def _log_mel_mfcc(waves, s):
    log_spec = log_mel(waves, **_mel(s), **_db(s))
    return jnp.concatenate([log_spec, _cepstra(log_spec, s["n_mfcc"])], axis=-1)


# The feature table: name -> (features [B, T, F] of waves [B, N] with settings s, F of s and cfg).
FEATURES = {
    "spectrogram": (lambda w, s: power_spectrogram(w, **_stft(s)),
                    lambda s, cfg: s["n_fft"] // 2 + 1),
    "log_spectrogram": (lambda w, s: power_to_db(power_spectrogram(w, **_stft(s)), **_db(s)),
                        lambda s, cfg: s["n_fft"] // 2 + 1),
    "mel": (lambda w, s: mel_spectrogram(w, **_mel(s)), lambda s, cfg: s["n_mels"]),
    "log_mel": (lambda w, s: log_mel(w, **_mel(s), **_db(s)),
                lambda s, cfg: s["n_mels"]),
    "mfcc": (lambda w, s: mfcc(w, **_mel(s), n_mfcc=s["n_mfcc"], **_db(s)),
             lambda s, cfg: s["n_mfcc"]),
    "zcr": (lambda w, s: zero_crossing_rate(w, frame_length=s["n_fft"],
                                            hop_length=s["hop_length"]),
            lambda s, cfg: 1),
    "chroma": (lambda w, s: chroma(w, sample_rate=s["sample_rate"], **_stft(s)),
               lambda s, cfg: 12),
    "log_mel+mfcc": (_log_mel_mfcc, lambda s, cfg: s["n_mels"] + s["n_mfcc"]),
    # raw samples, for encoders that learn their own front end (wav2vec2, ...)
    "waveform": (lambda w, s: w[..., None], lambda s, cfg: 1),
    # [B, T, D] frames from jax_ser.extract_features
    "precomputed": (lambda w, s: w, lambda s, cfg: cfg.get("dim", 0)),
}


# Inputs the model takes as they come (no frames, no spectrum).
RAW_INPUTS = ("waveform", "precomputed")


def _check_name(name: str) -> None:
    if name not in FEATURES:
        raise ValueError(f"unknown feature {name!r}; valid names: {', '.join(FEATURES)}")


# On CPU, spectral features are computed this many samples (4 clips of 3 s at 16 kHz) at a time.
CPU_CHUNK_SAMPLES = 4 * 48000


def compute(waves: jax.Array, cfg: Any) -> jax.Array:
    """Features [B, T, F] named by cfg["name"]; cfg is static (closed over under jit)."""
    _check_name(cfg["name"])
    settings = _settings(cfg)
    fn = functools.partial(FEATURES[cfg["name"]][0], s=settings)
    if cfg["name"] in RAW_INPUTS or jax.default_backend() != "cpu":
        return fn(waves)
    return _in_chunks(fn, waves, max(1, CPU_CHUNK_SAMPLES // waves.shape[-1]))


def _in_chunks(fn, waves: jax.Array, size: int) -> jax.Array:
    """fn(waves) computed `size` examples at a time in a loop: every feature is per example, so
    the values are the same up to float rounding. On CPU a whole batch's frames, spectrum and
    power overflow the cache between passes; a few clips' stay in it, which halves the time of a
    log-mel of 32 clips of 3 s on one device (12-15 against 26-28 ms on a 2-core CPU)."""
    if not isinstance(waves.shape[0], int) or waves.shape[0] <= size:  # symbolic: jax.export
        return fn(waves)
    b = waves.shape[0]
    padded = jnp.pad(waves, ((0, -b % size), (0, 0)))
    out = jax.lax.map(fn, padded.reshape(-1, size, waves.shape[-1]))
    return out.reshape(-1, *out.shape[2:])[:b]


def num_features(cfg: Any) -> int:
    """F of compute(waves, cfg)."""
    _check_name(cfg["name"])
    return FEATURES[cfg["name"]][1](_settings(cfg), cfg)


def num_frames(num_samples: int, cfg: Any) -> int:
    """T of compute(waves, cfg) for waves of num_samples: centred frames of n_fft every hop."""
    if cfg["name"] in RAW_INPUTS:  # precomputed: num_samples counts frames
        return num_samples
    s = _settings(cfg)
    return 1 + (num_samples + 2 * (s["n_fft"] // 2) - s["n_fft"]) // s["hop_length"]


def valid_frames(waves: jax.Array, cfg: Any) -> jax.Array:
    """[B, T] booleans: frames whose centre lies in the span from each wave's first to its last
    nonzero sample, i.e. not in the zero padding that placed a short clip in its window (the
    frames jax_ser.adapt.speaker_norm counts as audio)."""
    waves = jnp.asarray(waves)
    n = waves.shape[-1]
    index = jnp.arange(n, dtype=jnp.int32)
    first = jnp.min(jnp.where(waves != 0, index, n), axis=-1, keepdims=True)
    last = jnp.max(jnp.where(waves != 0, index, -1), axis=-1, keepdims=True)
    centres = jnp.arange(num_frames(n, cfg), dtype=jnp.int32) * _settings(cfg)["hop_length"]
    return (centres >= first) & (centres <= last)  # none for a silent wave (first > last)


def normalize(feats: jax.Array, mode: str, stats: jax.Array | None = None,
              valid: jax.Array | None = None) -> jax.Array:
    """Standardise features per example: over (T, F) ("utterance"), over T per band
    ("frequency"), or per band with `stats` [B, 2, F], the mean and std of each example's
    speaker ("speaker", jax_ser.adapt.speaker_norm); dividing by sqrt(var + 1e-5) keeps silent
    inputs finite and differentiable. With `valid` [B, T] (features.mask_padding), the
    statistics count the valid frames only and the others are set to 0 afterwards, so a short
    clip's padding neither shifts its statistics nor reaches the model as a floor value."""
    if mode not in NORMALIZATIONS:
        raise ValueError(f"unknown normalization {mode!r}; valid: {', '.join(NORMALIZATIONS)}")
    weight = None if valid is None else valid[..., None].astype(feats.dtype)
    if mode == "none":
        out = feats
    elif mode == "speaker":
        if stats is None:
            raise ValueError("speaker normalization needs each example's speaker statistics")
        out = (feats - stats[:, None, 0]) / stats[:, None, 1]
    else:
        axes = (1, 2) if mode == "utterance" else (1,)
        if weight is None:
            mean = jnp.mean(feats, axis=axes, keepdims=True)
            var = jnp.mean(jnp.square(feats - mean), axis=axes, keepdims=True)
        else:
            count = jnp.maximum(jnp.sum(jnp.broadcast_to(weight, feats.shape), axis=axes,
                                        keepdims=True), 1.0)
            mean = jnp.sum(feats * weight, axis=axes, keepdims=True) / count
            var = jnp.sum(jnp.square(feats - mean) * weight, axis=axes, keepdims=True) / count
        out = (feats - mean) * jax.lax.rsqrt(var + 1e-5)
    return out if weight is None else out * weight


def check_config(config) -> None:
    """The features section's keys that cannot run."""
    check_positive(config, "features", "n_fft", "hop_length")
    try:
        num_features(config.features)
    except ValueError as e:
        raise ConfigError(f"config.features.name: {e}") from None
    if config.features.normalize not in NORMALIZATIONS:
        raise ConfigError(
            f"config.features.normalize: {config.features.normalize!r} is not one of "
            f"{', '.join(NORMALIZATIONS)}"
        )
    if config.features.mask_padding and config.features.name in RAW_INPUTS:
        raise ConfigError(
            "config.features.mask_padding leaves padded frames out of spectral features; "
            f"features.name={config.features.name} has no frames to mask"
        )
    if config.features.log_offset < 0:
        raise ConfigError("config.features.log_offset must be >= 0 (0: floor the power at "
                          "1e-10 instead)")
    if config.features.normalize == "speaker" and config.features.name in RAW_INPUTS:
        raise ConfigError(
            "config.features.normalize=speaker standardises spectral feature bands per speaker; "
            f"features.name={config.features.name} has none"
        )
