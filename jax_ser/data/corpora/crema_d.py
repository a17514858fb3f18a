"""CREMA-D: `AudioWAV/1001_DFA_ANG_XX.wav` (speaker_sentence_emotion_level).

Gender comes from `VideoDemographics.csv` at the corpus root when it is there.
"""

import csv
import logging
import os
import re

from jax_ser.data.corpora import Utterance, audio_files, require_dir

log = logging.getLogger(__name__)

EMOTIONS = {
    "ANG": "angry", "DIS": "disgust", "FEA": "fearful",
    "HAP": "happy", "NEU": "neutral", "SAD": "sad",
}
_NAME = re.compile(r"(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{1,2})")


def _genders(root: str) -> dict[str, str]:
    path = os.path.join(root, "VideoDemographics.csv")
    if not os.path.isfile(path):
        return {}
    with open(path, newline="") as f:
        return {row["ActorID"].strip(): row["Sex"].strip().lower() for row in csv.DictReader(f)}


def read(root: str) -> list[Utterance]:
    # The full release also holds AudioMP3/ with the same recordings: read only AudioWAV/ if there.
    audio_dir = os.path.join(require_dir(root), "AudioWAV")
    genders = _genders(root)
    utterances = []
    for path in audio_files(audio_dir if os.path.isdir(audio_dir) else root):
        match = _NAME.fullmatch(os.path.splitext(os.path.basename(path))[0].upper())
        if not match or match[3] not in EMOTIONS:
            log.warning("skipping %s: not a CREMA-D file name", path)
            continue
        speaker = match[1]
        gender = genders.get(speaker)
        utterances.append(Utterance(path, EMOTIONS[match[3]], speaker, "crema_d", gender))
    return utterances
