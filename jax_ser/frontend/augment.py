"""Data augmentation on the accelerator, inside the jitted train step.

Small SER corpora (RAVDESS: 24 actors) overfit to their speakers, rooms and microphones; the
cheapest remedy is to show the model each clip under many such conditions. Every function here
is a pure function of an explicit PRNG key, so a run is reproducible for its seed and the work
stays on device with the features. Order in the train step, as in the data path: waveform
augmentations -> features -> SpecAugment -> image changes of the feature map (zoom, rotation,
brightness) -> mixup / cutmix. Evaluation never augments. Progressive resizing (`resize`,
train.progressive_resizing) shrinks the training feature maps of the first epochs after all of
these, right before the model.

Each function returns its input unchanged when its setting is off. `speed` changes pitch and
tempo together, as Kaldi's speed perturbation does; `pitch_shift` moves the pitch (and the
formants with it, as librosa's pitch_shift does) at constant tempo, with a phase vocoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from jax_ser.frontend import features

# -60 dB in natural-log amplitude: an envelope exp(-LN_1000 * t / rt60) has fallen 60 dB at rt60.
LN_1000 = math.log(1000.0)


def _uniforms(key, batch: int, count: int) -> jax.Array:
    """[B, count] uniforms in [0, 1): every per-example draw of one augmentation from one call,
    since each separate call to the generator adds to the compile time of the train step."""
    return jax.random.uniform(key, (batch, count))


def _between(u: jax.Array, low: float, high: float) -> jax.Array:
    return low + (high - low) * u


def _integers(u: jax.Array, low, high) -> jax.Array:
    """Integers uniform in [low, high] from uniforms in [0, 1)."""
    return jnp.clip(jnp.floor(low + u * (high - low + 1)), low, high)


def _power(x: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(x), axis=-1, keepdims=True)


# --- waveforms [B, N] -------------------------------------------------------------------------


def gain(key, waves: jax.Array, max_db: float, prob: float = 1.0) -> jax.Array:
    """Scale each example by a gain uniform in [-max_db, max_db] dB: the loudness of a recording
    says more about the microphone distance than about the emotion. Not clipped: the features
    are computed from the float signal."""
    if max_db <= 0 or prob <= 0:
        return waves
    u = _uniforms(key, waves.shape[0], 2)
    db = jnp.where(u[:, 1:] < prob, _between(u[:, :1], -max_db, max_db), 0.0)
    return (waves * 10.0 ** (db / 20.0)).astype(waves.dtype)


def noise(
    key, waves: jax.Array, snr_db: tuple[float, float], prob: float, color: str = "white"
) -> jax.Array:
    """Add Gaussian noise at a signal-to-noise ratio uniform in `snr_db`, measured against each
    example's own mean power. `color="pink"` shapes the noise to a 1/f power spectrum, closer to
    room and crowd noise than white noise is."""
    if prob <= 0:
        return waves
    k_noise, k_draws = jax.random.split(key)
    b, n = waves.shape
    u = _uniforms(k_draws, b, 2)
    x = waves.astype(jnp.float32)
    z = jax.random.normal(k_noise, (b, n))
    if color == "pink":
        f = jnp.arange(n // 2 + 1, dtype=jnp.float32)
        z = jnp.fft.irfft(jnp.fft.rfft(z) / jnp.sqrt(jnp.maximum(f, 1.0)), n=n)
    snr = _between(u[:, :1], *snr_db)
    scale = jnp.sqrt(_power(x) / (_power(z) * 10.0 ** (snr / 10.0)))
    return jnp.where(u[:, 1:] < prob, x + scale * z, x).astype(waves.dtype)


def time_shift(
    key, waves: jax.Array, max_samples: int, prob: float = 1.0, mode: str = "roll"
) -> jax.Array:
    """Shift each example by a whole number of samples uniform in [-max_samples, max_samples]:
    the model should not care where in the crop the utterance sits. `roll` wraps the samples
    around, `zeros` fills the vacated end with silence."""
    if max_samples <= 0 or prob <= 0:
        return waves
    b, n = waves.shape
    u = _uniforms(key, b, 2)
    shift = jnp.where(u[:, 1:] < prob, _integers(u[:, :1], -max_samples, max_samples), 0)
    source = jnp.arange(n)[None, :] - shift.astype(jnp.int32)
    if mode == "roll":
        return jnp.take_along_axis(waves, source % n, axis=1)
    inside = (source >= 0) & (source < n)
    shifted = jnp.take_along_axis(waves, jnp.clip(source, 0, n - 1), axis=1)
    return jnp.where(inside, shifted, 0).astype(waves.dtype)


def _interpolate(x: jax.Array, position: jax.Array) -> jax.Array:
    """x [B, N] read at fractional positions [B, M] by linear interpolation; 0 outside [0, N-1]."""
    n = x.shape[1]
    lo = jnp.clip(jnp.floor(position), 0, n - 1)
    frac = position - lo
    lo = lo.astype(jnp.int32)
    hi = jnp.minimum(lo + 1, n - 1)
    y = (1 - frac) * jnp.take_along_axis(x, lo, 1) + frac * jnp.take_along_axis(x, hi, 1)
    return jnp.where((position >= 0) & (position <= n - 1), y, 0.0)


def speed(key, waves: jax.Array, factors: tuple[float, float], prob: float = 1.0) -> jax.Array:
    """Play each example faster or slower by a factor uniform in `factors` (resampling by linear
    interpolation, so pitch moves with tempo), centred in the crop: a faster clip is padded with
    zeros at both ends, a slower one cropped back to N samples. No anti-aliasing filter: at
    factors near 1 the aliased band is the top few percent of the spectrum."""
    low, high = factors
    if (low == 1 and high == 1) or prob <= 0:
        return waves
    b, n = waves.shape
    u = _uniforms(key, b, 2)
    factor = jnp.where(u[:, 1:] < prob, _between(u[:, :1], low, high), 1.0)
    centre = (n - 1) / 2
    position = centre + (jnp.arange(n, dtype=jnp.float32)[None, :] - centre) * factor
    return _interpolate(waves.astype(jnp.float32), position).astype(waves.dtype)


def pitch_shift_by(waves: jax.Array, semitones: jax.Array, n_fft: int = 512,
                   hop: int = 128) -> jax.Array:
    """waves [B, N] moved by `semitones` [B] at constant tempo: a phase vocoder reads each output
    frequency bin k from bin k / f (f = 2 ** (semitones / 12)), with its instantaneous frequency,
    measured from the phase advance between frames, scaled by f; the frames are overlap-added
    back (Hann window, hop n_fft / 4) and the result rescaled to the input's power."""
    b, n = waves.shape
    x = jnp.pad(waves.astype(jnp.float32), ((0, 0), (n_fft // 2, n_fft // 2)))
    window = features._window(n_fft, n_fft)  # periodic Hann, as the features' STFT
    spec = jnp.fft.rfft(features._frame(x, n_fft, hop) * window, axis=-1)  # [B, T, K]
    frames, bins = spec.shape[1:]
    expected = 2 * jnp.pi * hop * jnp.arange(bins) / n_fft  # phase advance per hop of bin k
    phase = jnp.angle(spec)
    deviation = jnp.diff(phase, axis=1) - expected
    deviation = deviation - 2 * jnp.pi * jnp.round(deviation / (2 * jnp.pi))  # wrapped
    advance = jnp.concatenate([phase[:, :1], expected + deviation], axis=1)  # frame 0: its phase
    factor = 2.0 ** (semitones.astype(jnp.float32) / 12)
    source = jnp.arange(bins, dtype=jnp.float32)[None, :] / factor[:, None]  # [B, K]
    source = jnp.repeat(source, frames, axis=0)  # [B * T, K], every frame of an example alike

    def read(values):  # [B, T, K] at the source bins, 0 above the top bin
        return _interpolate(values.reshape(b * frames, bins), source).reshape(b, frames, bins)

    magnitude = read(jnp.abs(spec))
    phase_out = jnp.cumsum(read(advance) * factor[:, None, None], axis=1)
    out = jnp.fft.irfft(magnitude * jnp.exp(1j * phase_out), n=n_fft, axis=-1) * window
    index = jnp.arange(frames)[:, None] * hop + jnp.arange(n_fft)[None, :]  # [T, n_fft]
    y = jnp.zeros_like(x).at[:, index].add(out)  # overlap-add
    norm = jnp.zeros(x.shape[1]).at[index].add(jnp.broadcast_to(window**2, index.shape))
    y = (y / jnp.maximum(norm, 1e-3))[:, n_fft // 2:n_fft // 2 + n]
    y = y * jnp.sqrt(_power(waves.astype(jnp.float32)) / jnp.maximum(_power(y), 1e-12))
    return y.astype(waves.dtype)


def pitch_shift(key, waves: jax.Array, max_semitones: float, prob: float = 1.0) -> jax.Array:
    """Move each chosen example's pitch by semitones uniform in [-max_semitones, max_semitones]
    at constant tempo (pitch_shift_by): speakers differ in pitch more than the emotions of one
    speaker do, so the model should not key on it. Examples not chosen pass unchanged."""
    if max_semitones <= 0 or prob <= 0:
        return waves
    u = _uniforms(key, waves.shape[0], 2)
    chosen = u[:, 1] < prob
    shifted = pitch_shift_by(waves, _between(u[:, 0], -max_semitones, max_semitones))
    return jnp.where(chosen[:, None], shifted, waves)


def reverb(
    key,
    waves: jax.Array,
    sample_rate: float,
    rt60: tuple[float, float],
    prob: float,
) -> jax.Array:
    """Convolve each chosen example with a synthetic room response: Gaussian noise under an
    exponential envelope that falls 60 dB in a reverberation time uniform in `rt60` seconds,
    after a unit direct path. The response is `rt60[1]` seconds long; the convolution is done by
    FFT and cut back to N samples, and the result rescaled to the input's power, so only the
    room changes, not the level."""
    if prob <= 0:
        return waves
    k_ir, k_draws = jax.random.split(key)
    b, n = waves.shape
    u = _uniforms(k_draws, b, 2)
    length = max(2, math.ceil(rt60[1] * sample_rate))
    t = jnp.arange(length, dtype=jnp.float32) / sample_rate
    seconds = _between(u[:, :1], *rt60)
    response = jax.random.normal(k_ir, (b, length)) * jnp.exp(-LN_1000 * t / seconds)
    response = response.at[:, 0].set(1.0)
    size = 1 << (n + length - 2).bit_length()  # a power of two >= n + length - 1
    x = waves.astype(jnp.float32)
    wet = jnp.fft.irfft(jnp.fft.rfft(x, size) * jnp.fft.rfft(response, size), size)[:, :n]
    wet = wet * jnp.sqrt(_power(x) / jnp.maximum(_power(wet), 1e-12))
    return jnp.where(u[:, 1:] < prob, wet, x).astype(waves.dtype)


# --- features [B, T, F] -----------------------------------------------------------------------


def _span_masks(key, batch: int, size: int, count: int, max_width: int) -> jax.Array:
    """[B, size] booleans, the union of `count` spans per example, each of width uniform in
    [0, max_width] and start uniform over the places it fits (Park et al. 2019)."""
    u = _uniforms(key, batch, 2 * count).reshape(batch, count, 2)
    width = _integers(u[..., :1], 0, max_width)
    start = _integers(u[..., 1:], 0, size - width)
    position = jnp.arange(size)[None, None, :]
    return jnp.any((position >= start) & (position < start + width), axis=1)


def time_masks(key, feats: jax.Array, count: int, max_width: int) -> jax.Array:
    """SpecAugment time masks: `count` spans of up to `max_width` frames per example, filled with
    the example's mean feature value (0 after utterance normalisation; unlike a literal 0, the
    mean is also a neutral value for unnormalised dB or MFCC features)."""
    if count <= 0 or max_width <= 0:
        return feats
    b, t, _ = feats.shape
    masked = _span_masks(key, b, t, count, max_width)[:, :, None]
    return jnp.where(masked, jnp.mean(feats, axis=(1, 2), keepdims=True), feats)


def freq_masks(key, feats: jax.Array, count: int, max_width: int) -> jax.Array:
    """SpecAugment frequency masks: `count` bands of up to `max_width` channels per example,
    filled with the example's mean, as `time_masks`."""
    if count <= 0 or max_width <= 0:
        return feats
    b, _, f = feats.shape
    masked = _span_masks(key, b, f, count, max_width)[:, None, :]
    return jnp.where(masked, jnp.mean(feats, axis=(1, 2), keepdims=True), feats)


def time_warp(key, feats: jax.Array, max_frames: int) -> jax.Array:
    """SpecAugment time warping: the frame at a point w0 uniform in [W+1, T-2-W] moves to w0 + w,
    w uniform in [-W, W], and the frames either side stretch or shrink linearly to follow
    (linear interpolation between frames). Needs T > 2W + 3, which config.validate checks."""
    if max_frames <= 0:
        return feats
    b, t, f = feats.shape
    u = _uniforms(key, b, 2)
    w0 = _between(u[:, :1], max_frames + 1, t - 2 - max_frames)
    w = _between(u[:, 1:], -max_frames, max_frames)
    out = jnp.arange(t, dtype=jnp.float32)[None, :]
    target = w0 + w  # where w0 lands; 0 and T-1 stay put
    source = jnp.where(
        out < target,
        out * w0 / target,
        w0 + (out - target) * (t - 1 - w0) / (t - 1 - target),
    )
    x = jnp.moveaxis(feats.astype(jnp.float32), 2, 1).reshape(b * f, t)
    warped = _interpolate(x, jnp.repeat(jnp.clip(source, 0, t - 1), f, axis=0))
    return jnp.moveaxis(warped.reshape(b, f, t), 1, 2).astype(feats.dtype)


# --- feature maps as images [B, T, F] -----------------------------------------------------------


def brightness(key, feats: jax.Array, max_offset: float, prob: float = 1.0) -> jax.Array:
    """Add to each example an offset uniform in +-max_offset times the example's own standard
    deviation over (T, F): the image augmentation's brightness, a level change that is the same
    size relative to the map whatever its units (dB, MFCC, normalised)."""
    if max_offset <= 0 or prob <= 0:
        return feats
    u = _uniforms(key, feats.shape[0], 2)
    x = feats.astype(jnp.float32)
    offset = _between(u[:, :1], -max_offset, max_offset) * jnp.std(x, axis=(1, 2))[:, None]
    offset = jnp.where(u[:, 1:] < prob, offset, 0.0)
    return (x + offset[:, :, None]).astype(feats.dtype)


def zoom_by(feats: jax.Array, factors: jax.Array, axes: str = "both") -> jax.Array:
    """Each example rescaled about its centre by its own factor [B] (> 1 enlarges) along time,
    frequency or both, and cut or padded back to T x F; padding takes the example's mean, as
    SpecAugment's masks do. The resampling is jax.image.resize's (linear, antialiased when
    shrinking) through jax.image.scale_and_translate, its form that takes a traced factor, so each
    example has its own. A factor of 1 is exactly the identity."""
    shape = feats.shape[1:]
    dims = {"time": (0,), "freq": (1,), "both": (0, 1)}[axes]

    def one(image, factor):
        scale = jnp.full(len(dims), factor, jnp.float32)
        translation = (1 - scale) * jnp.array([shape[d] for d in dims], jnp.float32) / 2  # centred
        zoomed = jax.image.scale_and_translate(image, shape, dims, scale, translation, "linear")
        # the same map of ones is 1 where input lies under an output point, 0 in the padding
        covered = jax.image.scale_and_translate(
            jnp.ones(shape), shape, dims, scale, translation, "linear"
        )
        return jnp.where(covered > 0.5, zoomed, jnp.mean(image))

    return jax.vmap(one)(feats.astype(jnp.float32), factors).astype(feats.dtype)


def zoom(
    key, feats: jax.Array, factors: tuple[float, float], axes: str = "both", prob: float = 1.0
) -> jax.Array:
    """Zoom each example by a factor uniform in `factors` (`zoom_by`): along time a tempo
    change, along frequency a shift of the spectral envelope and its harmonics, as a stretched
    image."""
    low, high = factors
    if (low == 1 and high == 1) or prob <= 0:
        return feats
    u = _uniforms(key, feats.shape[0], 2)
    return zoom_by(feats, jnp.where(u[:, 1] < prob, _between(u[:, 0], low, high), 1.0), axes)


def rotate_by(feats: jax.Array, degrees: jax.Array) -> jax.Array:
    """Each example rotated about its centre by its own angle [B] in degrees, counter-clockwise
    with time along x and frequency along y (a spectrogram as it is drawn), one frame or channel
    as the unit of both axes; bilinear sampling (jax.scipy.ndimage.map_coordinates), and the
    corners that rotate in from outside the map take the example's mean. An angle of 0 is exactly
    the identity."""
    _, t, f = feats.shape
    centre_t, centre_f = (t - 1) / 2, (f - 1) / 2
    dt = jnp.arange(t, dtype=jnp.float32)[:, None] - centre_t
    df = jnp.arange(f, dtype=jnp.float32)[None, :] - centre_f

    def one(image, angle):
        cos, sin = jnp.cos(angle), jnp.sin(angle)
        source_t = centre_t + cos * dt + sin * df  # the output point rotated back by -angle
        source_f = centre_f - sin * dt + cos * df
        sampled = jax.scipy.ndimage.map_coordinates(
            image, [source_t, source_f], order=1, mode="nearest"
        )
        # within half a point of the map, as jax.image counts it: rounding errors of the angle
        # leave the edges of a quarter turn in place
        inside = (jnp.abs(source_t - centre_t) <= t / 2) & (jnp.abs(source_f - centre_f) <= f / 2)
        return jnp.where(inside, sampled, jnp.mean(image))

    radians = jnp.deg2rad(degrees.astype(jnp.float32))
    return jax.vmap(one)(feats.astype(jnp.float32), radians).astype(feats.dtype)


def rotation(key, feats: jax.Array, max_degrees: float, prob: float = 1.0) -> jax.Array:
    """Rotate each example by an angle uniform in +-max_degrees (`rotate_by`): a small tilt of
    the map, pitch drifting over the clip."""
    if max_degrees <= 0 or prob <= 0:
        return feats
    u = _uniforms(key, feats.shape[0], 2)
    angle = jnp.where(u[:, 1] < prob, _between(u[:, 0], -max_degrees, max_degrees), 0.0)
    return rotate_by(feats, angle)


def mixup(
    key, feats: jax.Array, targets: jax.Array, alpha: float, prob: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """Mixup (Zhang et al. 2018): each chosen example becomes lam * itself + (1 - lam) * a
    partner from the batch (a random permutation), lam ~ Beta(alpha, alpha), and so do its soft
    targets [B, C]."""
    if alpha <= 0 or prob <= 0:
        return feats, targets
    k_lam, k_perm, k_on = jax.random.split(key, 3)
    b = feats.shape[0]
    # Beta(alpha, alpha) as X / (X + Y), X and Y ~ Gamma(alpha), in log space as
    # jax.random.beta does, but from one call to the (slow to compile) gamma sampler
    log_xy = jax.random.loggamma(k_lam, alpha, (2, b))
    lam = jnp.exp(log_xy[0] - jnp.logaddexp(log_xy[0], log_xy[1]))
    lam = jnp.where(jax.random.uniform(k_on, (b,)) < prob, lam, 1.0)
    partner = jax.random.permutation(k_perm, b)
    mixed = lam[:, None, None] * feats + (1 - lam[:, None, None]) * feats[partner]
    return mixed.astype(feats.dtype), lam[:, None] * targets + (1 - lam[:, None]) * targets[partner]


def cutmix(
    key, feats: jax.Array, targets: jax.Array, prob: float, max_share: float = 1.0
) -> tuple[jax.Array, jax.Array]:
    """CutMix over time (Yun et al. 2019): each chosen example takes a span of frames from a
    partner in the batch, at the same place; the span covers a share of the frames uniform in
    [0, max_share] (rounded to whole frames; max_share=1 is CutMix's Beta(1, 1)), and the targets
    mix by the exact share taken."""
    if prob <= 0:
        return feats, targets
    k_draws, k_perm = jax.random.split(key)
    b, t, _ = feats.shape
    u = _uniforms(k_draws, b, 3)
    width = jnp.where(u[:, 2:] < prob, jnp.round(u[:, :1] * max_share * t), 0.0)
    start = _integers(u[:, 1:2], 0, t - width)
    frame = jnp.arange(t)[None, :]
    taken = (frame >= start) & (frame < start + width)
    partner = jax.random.permutation(k_perm, b)
    mixed = jnp.where(taken[:, :, None], feats[partner], feats)
    share = width / t
    return mixed, (1 - share) * targets + share * targets[partner]


# --- progressive resizing: train.progressive_resizing ------------------------------------------


def resize_stage(stages, epoch: int) -> tuple[float, float] | None:
    """(frames_scale, features_scale) of the stage of `stages`, (num_epochs, frames_scale,
    features_scale) run one after the other from epoch 0, that holds `epoch` (counted from 0);
    None past the last stage, where training goes on at the full size. A function of the epoch
    alone, so a resumed run takes up at the size it stopped at."""
    end = 0
    for num_epochs, frames_scale, features_scale in stages:
        end += num_epochs
        if epoch < end:
            scales = (float(frames_scale), float(features_scale))
            return None if scales == (1.0, 1.0) else scales
    return None


def resized_shape(frames: int, channels: int, scales: tuple[float, float]) -> tuple[int, int]:
    """(T, F) of a feature map of `frames` x `channels` resized by `scales`."""
    return max(1, round(frames * scales[0])), max(1, round(channels * scales[1]))


def resize(feats: jax.Array, scales: tuple[float, float] | None) -> jax.Array:
    """Feature maps [B, T, F] resized to `resized_shape` by jax.image.resize (linear,
    antialiased when shrinking); None leaves them as they are."""
    if scales is None:
        return feats
    b, t, f = feats.shape
    shape = (b, *resized_shape(t, f, scales))
    return jax.image.resize(feats, shape, "linear").astype(feats.dtype)


# --- the train step's use -----------------------------------------------------------------------

def waveform_on(cfg) -> bool:
    """Whether any waveform augmentation is switched on."""
    return (
        (cfg["gain_db"] > 0 and cfg["gain_prob"] > 0)
        or cfg["noise_prob"] > 0
        or (cfg["time_shift_seconds"] > 0 and cfg["time_shift_prob"] > 0)
        or (tuple(cfg["speed"]) != (1.0, 1.0) and cfg["speed_prob"] > 0)
        or (cfg["pitch_shift_semitones"] > 0 and cfg["pitch_shift_prob"] > 0)
        or cfg["reverb_prob"] > 0
    )


def image_on(cfg) -> bool:
    """Whether any of the image stage's changes (brightness, zoom, rotation) is switched on."""
    return (
        (cfg["image_brightness"] > 0 and cfg["image_brightness_prob"] > 0)
        or (tuple(cfg["image_zoom"]) != (1.0, 1.0) and cfg["image_zoom_prob"] > 0)
        or (cfg["image_rotate_deg"] > 0 and cfg["image_rotate_prob"] > 0)
    )


def mixing_on(cfg) -> bool:
    """Whether mixup or cutmix is switched on (the targets become soft)."""
    return (cfg["mixup_alpha"] > 0 and cfg["mixup_prob"] > 0) or cfg["cutmix_prob"] > 0


def settings(config) -> dict[str, Any] | None:
    """config.augment as a dict, or None where every augmentation is off: the train step is then
    exactly the unaugmented one."""
    cfg = config.augment.to_dict()
    spec_on = (
        (cfg["spec_time_masks"] > 0 and cfg["spec_time_mask_width"] > 0)
        or (cfg["spec_freq_masks"] > 0 and cfg["spec_freq_mask_width"] > 0)
        or cfg["time_warp"] > 0
    )
    return cfg if waveform_on(cfg) or spec_on or image_on(cfg) or mixing_on(cfg) else None


def train_batch(
    key,
    waves: jax.Array,
    labels: jax.Array,
    cfg: dict[str, Any],
    frontend: Callable[[jax.Array], jax.Array],
    *,
    sample_rate: float,
    num_classes: int,
) -> tuple[jax.Array, jax.Array]:
    """Augmented features [B, T, F] and targets of one training batch: class indices [B], or soft
    targets [B, C] when mixup or cutmix is on (with both on, cutmix acts on mixup's output and
    the targets compose). Partners come from the whole global batch, across devices. Waveform
    augmentations apply to audio input [B, N] only, not to precomputed features. The image
    stage (zoom, rotation, brightness) acts between SpecAugment and mixing."""
    keys = jax.random.split(key, 10)
    if waves.ndim == 2:
        waves = gain(keys[0], waves, cfg["gain_db"], cfg["gain_prob"])
        shift = round(cfg["time_shift_seconds"] * sample_rate)
        waves = time_shift(keys[1], waves, shift, cfg["time_shift_prob"], cfg["time_shift_mode"])
        waves = speed(keys[2], waves, tuple(cfg["speed"]), cfg["speed_prob"])
        # a key of its own, so the other draws stay as they were before pitch shifting existed
        waves = pitch_shift(jax.random.fold_in(key, 2), waves, cfg["pitch_shift_semitones"],
                            cfg["pitch_shift_prob"])
        waves = reverb(keys[3], waves, sample_rate, tuple(cfg["reverb_rt60"]), cfg["reverb_prob"])
        waves = noise(
            keys[4], waves, tuple(cfg["noise_snr_db"]), cfg["noise_prob"], cfg["noise_color"]
        )
    feats = frontend(waves)
    feats = time_warp(keys[5], feats, cfg["time_warp"])
    feats = time_masks(keys[6], feats, cfg["spec_time_masks"], cfg["spec_time_mask_width"])
    feats = freq_masks(keys[7], feats, cfg["spec_freq_masks"], cfg["spec_freq_mask_width"])
    # keys of its own: the image stage leaves the other stages' draws as they were before it
    k_zoom, k_rotate, k_bright = jax.random.split(jax.random.fold_in(key, 1), 3)
    feats = zoom(
        k_zoom, feats, tuple(cfg["image_zoom"]), cfg["image_zoom_axes"], cfg["image_zoom_prob"]
    )
    feats = rotation(k_rotate, feats, cfg["image_rotate_deg"], cfg["image_rotate_prob"])
    feats = brightness(k_bright, feats, cfg["image_brightness"], cfg["image_brightness_prob"])
    if not mixing_on(cfg):
        return feats, labels
    targets = jax.nn.one_hot(labels, num_classes)
    feats, targets = mixup(keys[8], feats, targets, cfg["mixup_alpha"], cfg["mixup_prob"])
    return cutmix(keys[9], feats, targets, cfg["cutmix_prob"], cfg["cutmix_max_share"])
