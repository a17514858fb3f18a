"""The on-device front end: waveforms -> features -> normalisation (features.py), and the
augmentation of training batches (augment.py), all inside the jitted steps."""

import jax
from jax.sharding import PartitionSpec as P

from jax_ser.frontend import features


def compute(waves: jax.Array, feature_config: dict, speaker_stats=None,
            mesh: jax.sharding.Mesh | None = None) -> jax.Array:
    """Waveforms [B, N] -> normalised features [B, T, F], inside the jitted step.
    `speaker_stats` [B, 2, F]: each example's speaker statistics, for normalize=speaker.

    With the `mesh` whose devices split the batch axis (all its axes, as the trainer and the
    runner split it), each device computes its own examples' features: every step here is per
    example, and XLA's partitioner would otherwise gather the whole batch's frames on every
    device for the FFT."""
    if mesh is None or mesh.size == 1 or waves.shape[0] % mesh.size:
        return _compute(waves, feature_config, speaker_stats)
    args = (waves,) if speaker_stats is None else (waves, speaker_stats)
    batch = P(mesh.axis_names)
    return jax.shard_map(lambda w, *stats: _compute(w, feature_config, *stats), mesh=mesh,
                         in_specs=(batch,) * len(args), out_specs=batch)(*args)


def _compute(waves: jax.Array, feature_config: dict, speaker_stats=None) -> jax.Array:
    feats = features.compute(waves, feature_config)
    valid = (features.valid_frames(waves, feature_config)
             if feature_config.get("mask_padding", False) else None)
    return features.normalize(feats, feature_config["normalize"], speaker_stats, valid)
