"""The on-device front end: waveforms -> features -> normalisation (features.py), and the
augmentation of training batches (augment.py), all inside the jitted steps."""

import jax

from jax_ser.frontend import features


def compute(waves: jax.Array, feature_config: dict, speaker_stats=None) -> jax.Array:
    """Waveforms [B, N] -> normalised features [B, T, F], inside the jitted step.
    `speaker_stats` [B, 2, F]: each example's speaker statistics, for normalize=speaker."""
    feats = features.compute(waves, feature_config)
    valid = (features.valid_frames(waves, feature_config)
             if feature_config.get("mask_padding", False) else None)
    return features.normalize(feats, feature_config["normalize"], speaker_stats, valid)
