"""session:N holds out every speaker of recording session N (IEMOCAP's 1..5); cross-validated,
every session in turn."""

from __future__ import annotations

from jax_ser.protocols import held_out

FORM = r"\d+"


def sessions(utterances) -> list[str]:
    return sorted({u.session for u in utterances if u.session is not None}, key=int)


def split(utterances, arg: str, options):
    found = sessions(utterances)
    if arg not in found:
        valid = ", ".join(found) or "none (no utterance has a session)"
        raise ValueError(f"split 'session:{arg}': session must be one of: {valid}")
    test_keys = {u.speaker_key for u in utterances if u.session == arg}
    return held_out(utterances, test_keys, f"session:{arg}", options.val_speakers)


def runs(utterances, options) -> list[str]:
    if not sessions(utterances):
        raise ValueError("protocol 'session' needs recording sessions (IEMOCAP); these "
                         "utterances have none")
    return sessions(utterances)
