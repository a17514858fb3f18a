"""emobox:1 .. emobox:6 hold out EmoBox's six RAVDESS folds of 4 actors, in EmoBox's numbering."""

from __future__ import annotations

import logging

from jax_ser.data.corpora import Utterance
from jax_ser.protocols import held_out

log = logging.getLogger(__name__)

FORM = r"[1-6]"

# EmoBox (Ma et al., 2024) scores RAVDESS speaker-independently in 6 folds of 4 test actors. Its
# preprocessing drew the folds at random (unseeded), so they are copied here from the toolkit's
# published lists, data/ravdess/fold_K/ravdess_test_fold_K.jsonl in github.com/emo-box/EmoBox,
# not derived. EmoBox trains on the other 20 actors and has no validation part.
EMOBOX_RAVDESS_FOLDS = {
    1: ("01", "11", "20", "21"),
    2: ("04", "10", "12", "14"),
    3: ("08", "09", "19", "23"),
    4: ("03", "05", "07", "24"),
    5: ("02", "15", "16", "18"),
    6: ("06", "13", "17", "22"),
}


def emobox_test_speakers(utterances: list[Utterance], fold: int) -> set[str]:
    """Speaker keys of EmoBox RAVDESS fold `fold` (1..6, EmoBox's numbering).

    Raises ValueError naming the fold's actors that the data lacks: a fold scored on fewer actors
    is not the published fold. Other missing actors only shrink training; that is logged.
    """
    if fold not in EMOBOX_RAVDESS_FOLDS:
        raise ValueError(f"EmoBox RAVDESS folds are numbered 1..6, got {fold}")
    present = {u.speaker_key for u in utterances}
    actors = EMOBOX_RAVDESS_FOLDS[fold]
    missing = [a for a in actors if f"ravdess/{a}" not in present]
    found = sorted(k.partition("/")[2] for k in present if k.startswith("ravdess/"))
    if missing:
        which = (f"actor {missing[0]} is" if len(missing) == 1
                 else f"actors {', '.join(missing)} are")
        have = f"{len(found)} RAVDESS actors found" if found else "it has no RAVDESS actor"
        raise ValueError(
            f"EmoBox fold {fold} tests on RAVDESS actors {', '.join(actors)}, but {which} not in "
            f"the data ({have}), so the fold cannot be scored as published"
        )
    absent = sorted(a for f in EMOBOX_RAVDESS_FOLDS.values() for a in f if a not in found)
    if absent:
        log.warning("EmoBox fold %d: RAVDESS actor(s) %s absent, so training has fewer speakers "
                    "than EmoBox's", fold, ", ".join(absent))
    return {f"ravdess/{a}" for a in actors}


def split(utterances, arg: str, options):
    try:
        test_keys = emobox_test_speakers(utterances, int(arg))
    except ValueError as e:
        raise ValueError(f"split 'emobox:{arg}': {e}") from None
    return held_out(utterances, test_keys, f"emobox:{arg}", options.val_speakers)


def runs(utterances, options) -> list[str]:
    return [str(k) for k in sorted(EMOBOX_RAVDESS_FOLDS)]
