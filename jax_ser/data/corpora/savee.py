"""SAVEE: `AudioData/<DC|JE|JK|KL>/<code><nn>.wav`, or the flattened `ALL/DC_a01.wav`; all male."""

import logging
import os
import re

from jax_ser.data.corpora import Utterance, audio_files

log = logging.getLogger(__name__)

EMOTIONS = {
    "a": "angry", "d": "disgust", "f": "fearful", "h": "happy",
    "n": "neutral", "sa": "sad", "su": "surprised",
}
SPEAKERS = ("DC", "JE", "JK", "KL")
_FLAT = re.compile(r"([A-Z]{2})_([a-z]{1,2})\d\d")
_NESTED = re.compile(r"([a-z]{1,2})\d\d")


def _speaker_and_code(path: str) -> tuple[str, str] | None:
    stem = os.path.splitext(os.path.basename(path))[0]
    if match := _FLAT.fullmatch(stem):
        return match[1], match[2]
    if match := _NESTED.fullmatch(stem):
        return os.path.basename(os.path.dirname(path)), match[1]
    return None


def read(root: str) -> list[Utterance]:
    utterances = []
    for path in audio_files(root):
        parsed = _speaker_and_code(path)
        if parsed is None or parsed[0] not in SPEAKERS or parsed[1] not in EMOTIONS:
            log.warning("skipping %s: not a SAVEE file name", path)
            continue
        speaker, code = parsed
        utterances.append(Utterance(path, EMOTIONS[code], speaker, "savee", "male"))
    return utterances
