"""fold:K holds out the K-th group of data.fold_size consecutive speakers (K from 0)."""

from __future__ import annotations

from jax_ser.data.corpora import Utterance
from jax_ser.protocols import held_out, sorted_speakers

FORM = r"\d+"


def speaker_folds(utterances: list[Utterance], fold_size: int = 4) -> list[list[str]]:
    """Speaker keys in natural order, cut into consecutive folds.

    A short remainder joins the last fold rather than forming a small, noisy test fold of its own.
    """
    if fold_size < 1:
        raise ValueError(f"fold_size must be at least 1, got {fold_size}")
    speakers = sorted_speakers(utterances)
    folds = [speakers[i:i + fold_size] for i in range(0, len(speakers), fold_size)]
    if len(folds) > 1 and len(folds[-1]) < fold_size:
        folds[-2].extend(folds.pop())
    return folds


def split(utterances, arg: str, options):
    folds = speaker_folds(utterances, options.fold_size)
    if int(arg) >= len(folds):
        raise ValueError(f"split 'fold:{arg}': fold index must be one of 0..{len(folds) - 1} "
                         f"({len(folds)} folds of {options.fold_size} speakers)")
    test_keys = set(folds[int(arg)])
    return held_out(utterances, test_keys, f"fold:{arg}", options.val_speakers)


def runs(utterances, options) -> list[str]:
    return [str(k) for k in range(len(speaker_folds(utterances, options.fold_size)))]
