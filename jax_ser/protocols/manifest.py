"""manifest:K holds out the speakers of fold K of a manifest (its fold column, or the test lists
of an EmoBox corpus folder, numbered as in EmoBox); cross-validated, every fold in turn."""

from __future__ import annotations

from collections import defaultdict

from jax_ser.protocols import held_out, natural_key

FORM = r"[\w.-]+"


def folds(utterances) -> list[str]:
    """The folds the utterances name: numbers by value (2 before 10), then names."""
    return sorted({u.fold for u in utterances if u.fold is not None},
                  key=lambda f: (0, int(f), "") if f.isdigit() else (1, 0, f))


def fold_speakers(utterances, fold: str) -> set[str]:
    """Speaker keys of `fold`. A ValueError names those that also speak outside it: holding out
    whole speakers would pull those utterances into the test part, so the fold is not the one
    listed (EmoBox's EMO-DB, TESS and CREMA-D folds, for instance, share every speaker)."""
    keys = {u.speaker_key for u in utterances if u.fold == fold}
    elsewhere = defaultdict(set)
    for u in utterances:
        if u.speaker_key in keys and u.fold != fold:
            elsewhere[u.speaker_key].add(f"fold {u.fold}" if u.fold is not None else "no fold")
    if elsewhere:
        shared = sorted(elsewhere, key=natural_key)
        listing = "; ".join(f"{s} also in {', '.join(sorted(elsewhere[s]))}" for s in shared[:5])
        more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
        raise ValueError(f"fold {fold} is not speaker-independent: {listing}{more}; give folds "
                         "that split the speakers, or use data.split=loso or fold")
    return keys


def split(utterances, arg: str, options):
    found = folds(utterances)
    if arg not in found:
        valid = ", ".join(found) or "none (no utterance has a fold)"
        raise ValueError(f"split 'manifest:{arg}': fold must be one of: {valid}")
    try:
        test_keys = fold_speakers(utterances, arg)
    except ValueError as e:
        raise ValueError(f"split 'manifest:{arg}': {e}") from None
    return held_out(utterances, test_keys, f"manifest:{arg}", options.val_speakers)


def runs(utterances, options) -> list[str]:
    if not folds(utterances):
        raise ValueError("protocol 'manifest' needs folds: a fold column in the manifest, or an "
                         "EmoBox corpus folder as data.root; these utterances have none")
    return folds(utterances)
