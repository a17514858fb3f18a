"""The augment section's keys (and train.progressive_resizing's stages) that cannot run, checked
before any work; jax_ser.config.check calls them in data-path order."""

from __future__ import annotations

import math

from jax_ser.data import precomputed
from jax_ser.errors import ConfigError
from jax_ser.frontend import augment, features


def _check_image(config) -> None:
    """Ranges of the image stage's keys of config.augment."""
    image = config.augment

    for key in ("image_zoom_prob", "image_rotate_prob", "image_brightness_prob"):
        if not 0 <= image[key] <= 1:
            raise ConfigError(
                f"config.augment.{key} is a probability: it must lie in [0, 1], got {image[key]!r}"
            )
    if not 0 <= image["image_rotate_deg"] <= 180:
        raise ConfigError(
            f"config.augment.image_rotate_deg must lie in [0, 180] (0 = off), got "
            f"{image['image_rotate_deg']!r}"
        )
    if not image["image_brightness"] >= 0:
        raise ConfigError(
            f"config.augment.image_brightness must be >= 0 (0 = off), got "
            f"{image['image_brightness']!r}"
        )
    zoom = tuple(image["image_zoom"])
    if len(zoom) != 2 or not 0 < zoom[0] <= zoom[1]:
        raise ConfigError(
            f"config.augment.image_zoom: {zoom!r} must be a (low, high) pair of factors with "
            "0 < low <= high"
        )
    if image["image_zoom_axes"] not in ("time", "freq", "both"):
        raise ConfigError(
            f"config.augment.image_zoom_axes: {image['image_zoom_axes']!r} is not time, freq or "
            "both"
        )
    if config.features.name == "waveform" and augment.image_on(image):
        raise ConfigError(
            "config.augment.image_*: zoom, rotation and brightness act on feature maps [T, F]; "
            "config.features.name=waveform gives the model raw samples"
        )


def check_progressive_resizing(config) -> None:
    """The stages of train.progressive_resizing; `validate` traces the model at their sizes."""
    stages = config.train.progressive_resizing
    if not stages:
        return
    key = "config.train.progressive_resizing"
    for stage in stages:
        try:
            epochs, *scales = stage
            good = (
                len(scales) == 2
                and isinstance(epochs, int)
                and epochs >= 1
                and all(0 < s <= 1 for s in scales)
            )
        except (TypeError, ValueError):
            good = False
        if not good:
            raise ConfigError(
                f"{key}: stage {stage!r} is not (num_epochs >= 1, frames_scale, features_scale) "
                "with both scales in (0, 1]; stages are a tuple of such triples, e.g. "
                "((10, 0.5, 0.5),)"
            )
    epochs = sum(stage[0] for stage in stages)
    if epochs >= config.train.num_epochs:
        raise ConfigError(
            f"{key}: its stages take {epochs} epochs of config.train.num_epochs="
            f"{config.train.num_epochs}; leave at least one epoch to fine-tune at the full size"
        )
    if config.model.name == "classical":
        raise ConfigError(f"{key}: the classical model is fitted once, without epochs; set ()")
    if config.features.name == "waveform":
        raise ConfigError(
            f"{key}: resizes feature maps [T, F]; config.features.name=waveform gives the model "
            "raw samples"
        )


def check_config(config) -> None:
    """Ranges of config.augment."""
    a = config.augment
    for key in ("gain_prob", "noise_prob", "time_shift_prob", "speed_prob", "pitch_shift_prob",
                "reverb_prob", "mixup_prob", "cutmix_prob"):
        if not 0 <= a[key] <= 1:
            raise ConfigError(f"config.augment.{key} is a probability: it must lie in [0, 1], "
                              f"got {a[key]!r}")
    for key in ("gain_db", "time_shift_seconds", "pitch_shift_semitones", "spec_time_masks",
                "spec_time_mask_width", "spec_freq_masks", "spec_freq_mask_width", "time_warp",
                "mixup_alpha"):
        if not a[key] >= 0:
            raise ConfigError(f"config.augment.{key} must be >= 0 (0 = off), got {a[key]!r}")
    if not 0 < a.cutmix_max_share <= 1:
        raise ConfigError(
            f"config.augment.cutmix_max_share must lie in (0, 1], got {a.cutmix_max_share!r}"
        )
    for key, low in (("noise_snr_db", -math.inf), ("speed", 0.0), ("reverb_rt60", 0.0)):
        value = a[key]
        if len(value) != 2 or not low < value[0] <= value[1]:
            raise ConfigError(
                f"config.augment.{key}: {tuple(value)!r} must be a (low, high) pair with low <= "
                f"high{'' if low == -math.inf else f' and low > {low:g}'}"
            )
    _check_image(config)
    if a.noise_color not in ("white", "pink"):
        raise ConfigError(f"config.augment.noise_color: {a.noise_color!r} is not white or pink")
    if a.time_shift_mode not in ("roll", "zeros"):
        raise ConfigError(
            f"config.augment.time_shift_mode: {a.time_shift_mode!r} is not roll or zeros"
        )
    if a.time_shift_seconds >= config.data.clip_seconds:
        raise ConfigError(
            f"config.augment.time_shift_seconds={a.time_shift_seconds} must be shorter than "
            f"config.data.clip_seconds={config.data.clip_seconds}"
        )
    if config.data.precomputed and augment.waveform_on(a):
        raise ConfigError(
            "config.augment: gain, noise, time shift, speed, pitch shift and reverb act on "
            "audio; with config.data.precomputed features only the spec_*, time_warp, image_*, "
            "mixup and cutmix augmentations apply"
        )
    if not (a.spec_time_mask_width or a.spec_freq_mask_width or a.time_warp):
        return
    feature_config = precomputed.feature_config(config)
    frames = features.num_frames(precomputed.input_shape(config)[0], feature_config)
    channels = features.num_features(feature_config)
    if a.spec_time_mask_width > frames:
        raise ConfigError(
            f"config.augment.spec_time_mask_width={a.spec_time_mask_width} exceeds the "
            f"{frames} frames of a training clip"
        )
    if a.spec_freq_mask_width > channels:
        raise ConfigError(
            f"config.augment.spec_freq_mask_width={a.spec_freq_mask_width} exceeds the "
            f"{channels} feature channels"
        )
    if a.time_warp and not frames > 2 * a.time_warp + 3:
        raise ConfigError(
            f"config.augment.time_warp={a.time_warp} needs clips of more than 2 * time_warp + 3 "
            f"frames; a training clip has {frames}"
        )
