"""RAVDESS: `Actor_XX/03-01-EE-II-SS-RR-AA.wav`, speech only (song and video files are skipped)."""

import logging
import os
import re

from jax_ser.data.corpora import Utterance, audio_files

log = logging.getLogger(__name__)

EMOTIONS = {
    "01": "neutral", "02": "calm", "03": "happy", "04": "sad",
    "05": "angry", "06": "fearful", "07": "disgust", "08": "surprised",
}
# modality-channel-emotion-intensity-statement-repetition-actor
_NAME = re.compile(r"(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)")
_VIDEO_MODALITIES = ("01", "02")
_SONG_CHANNEL = "02"


def parse(path: str, corpus: str = "ravdess") -> Utterance | None:
    """Utterance for a RAVDESS file name; None for song or video files; ValueError if unparsable."""
    stem = os.path.splitext(os.path.basename(path))[0]
    match = _NAME.fullmatch(stem)
    if not match or match[3] not in EMOTIONS:
        raise ValueError(f"not a RAVDESS file name: {path}")
    modality, channel, emotion, *_, actor = match.groups()
    if modality in _VIDEO_MODALITIES or channel == _SONG_CHANNEL:
        return None
    gender = "male" if int(actor) % 2 else "female"
    return Utterance(os.path.abspath(path), EMOTIONS[emotion], actor, corpus, gender)


def read_tree(root: str, corpus: str) -> list[Utterance]:
    """Parses every audio file under `root`; shared with the RAVDESS-named synthetic corpus."""
    utterances = []
    for path in audio_files(root):
        try:
            utterance = parse(path, corpus)
        except ValueError as error:
            log.warning("skipping %s", error)
            continue
        if utterance is not None:
            utterances.append(utterance)
    return utterances


def read(root: str) -> list[Utterance]:
    return read_tree(root, "ravdess")
