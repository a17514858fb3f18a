"""loso:SPEAKER holds out one speaker (a speaker key such as ravdess/03, or its id 03 where that
is unambiguous); cross-validated, every speaker in turn."""

from __future__ import annotations

from jax_ser.protocols import held_out, sorted_speakers

FORM = r".+"


def split(utterances, arg: str, options):
    speaker = _resolve_speaker(arg, sorted_speakers(utterances))
    return held_out(utterances, {speaker}, f"loso:{arg}", options.val_speakers)


def runs(utterances, options) -> list[str]:
    return sorted_speakers(utterances)


def _resolve_speaker(speaker: str, speakers: list[str]) -> str:
    if speaker in speakers:
        return speaker
    matches = [key for key in speakers if key.partition("/")[2] == speaker]
    if len(matches) == 1:
        return matches[0]
    problem = f"is ambiguous ({', '.join(matches)})" if matches else "is unknown"
    raise ValueError(f"loso speaker {speaker!r} {problem}; valid speakers: {', '.join(speakers)}")


