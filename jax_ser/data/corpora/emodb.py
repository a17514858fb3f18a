"""EMO-DB (Berlin): `wav/03a01Fa.wav` = speaker, text code, emotion letter (German), version."""

import logging
import os
import re

from jax_ser.data.corpora import Utterance, audio_files

log = logging.getLogger(__name__)

EMOTIONS = {
    "W": "angry", "L": "boredom", "E": "disgust", "A": "fearful",
    "F": "happy", "T": "sad", "N": "neutral",
}
GENDERS = {
    **dict.fromkeys(("03", "10", "11", "12", "15"), "male"),
    **dict.fromkeys(("08", "09", "13", "14", "16"), "female"),
}
_NAME = re.compile(r"(\d\d)[a-z]\d\d([A-Z])[a-z]")


def read(root: str) -> list[Utterance]:
    utterances = []
    for path in audio_files(root):
        match = _NAME.fullmatch(os.path.splitext(os.path.basename(path))[0])
        if not match or match[2] not in EMOTIONS:
            log.warning("skipping %s: not an EMO-DB file name", path)
            continue
        speaker = match[1]
        gender = GENDERS.get(speaker)
        utterances.append(Utterance(path, EMOTIONS[match[2]], speaker, "emodb", gender))
    return utterances
