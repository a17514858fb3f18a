"""An LSTM followed by a stack of dense layers, classifying from the LSTM's last state.

The LSTM + dense baseline of the SER reports, run on whichever frame representation the config's
features name (MFCC 15, mel 80, spectrogram 513, or encoder features). The reports train it on
random fixed-length windows of `sequence_length` frames: a cheap augmentation that also bounds
the recurrence length. Here the crop is part of the model so the input pipeline and train step
stay the same for every model: with `sequence_length > 0`, training takes a random window per
utterance (drawn from the "dropout" rng stream the train step already passes) and evaluation
the centre window. Sequences no longer than `sequence_length` are used whole.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp

from jax_ser.models import lstm


def crop_frames(feats: jax.Array, length: int, rng: jax.Array | None) -> jax.Array:
    """[B, T, F] -> [B, length, F]: random windows per utterance with `rng`, else the centre one."""
    num_frames = feats.shape[1]
    if length <= 0 or num_frames <= length:
        return feats
    if rng is None:
        start = (num_frames - length) // 2
        return feats[:, start:start + length]
    starts = jax.random.randint(rng, (feats.shape[0],), 0, num_frames - length + 1)
    window = lambda x, start: jax.lax.dynamic_slice_in_dim(x, start, length, axis=0)
    return jax.vmap(window)(feats, starts)


class Model(nn.Module):
    """[crop] -> standardise -> LSTM -> last hidden state -> [Dense -> ReLU -> Dropout] per
    width -> Dense."""

    num_classes: int
    hidden: int = 128
    dense: tuple[int, ...] = (128, 64)
    dropout: float = 0.2
    sequence_length: int = 0
    standardize: bool = True  # affine-free BatchNorm of each input feature over the corpus

    @nn.compact
    def __call__(self, feats, train: bool = False):
        rng = self.make_rng("dropout") if train and self.sequence_length > 0 else None
        x = crop_frames(jnp.asarray(feats, jnp.float32), self.sequence_length, rng)
        if self.standardize:  # MFCC c0 is ~100x c14: unscaled, it saturates the LSTM's gates
            x = nn.BatchNorm(use_running_average=not train, use_scale=False, use_bias=False,
                             momentum=0.9, epsilon=1e-5, axis_name=None, name="standardize")(x)
        params = lstm.LSTMParams(self.hidden, name="lstm")(x.shape[-1])
        x = lstm.lstm(x, [params], reverse=(False,))[0][:, -1]  # the last state
        x = nn.Dropout(self.dropout, deterministic=not train)(x)
        for i, width in enumerate(self.dense):
            x = nn.relu(nn.Dense(width, name=f"dense{i}")(x))
            x = nn.Dropout(self.dropout, deterministic=not train)(x)
        return nn.Dense(self.num_classes, name="classifier")(x)
