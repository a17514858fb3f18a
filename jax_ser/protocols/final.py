"""final trains on every speaker (bar data.val_speakers for model selection) and tests none: the
model to keep once a recipe is chosen."""

from __future__ import annotations

from jax_ser.protocols import held_out

FORM = r""


def split(utterances, arg: str, options):
    return held_out(utterances, set(), "final", options.val_speakers)
