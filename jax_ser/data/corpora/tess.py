"""TESS: `{OAF,YAF}_<emotion>/OAF_back_happy.wav`, two female speakers.

The emotion is the last field of the file name (case varies in the original, e.g. `_Sad`),
else the folder's; one original file is named `OA_bite_neutral`.
"""

import logging
import os

from jax_ser.data.corpora import Utterance, audio_files

log = logging.getLogger(__name__)

EMOTIONS = {
    "angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy",
    "neutral": "neutral", "sad": "sad", "ps": "surprised",
    "pleasant_surprise": "surprised", "pleasant_surprised": "surprised",
}
SPEAKERS = {"OAF": "OAF", "OA": "OAF", "YAF": "YAF", "YA": "YAF"}


def read(root: str) -> list[Utterance]:
    utterances = []
    for path in audio_files(root):
        fields = os.path.splitext(os.path.basename(path))[0].split("_")
        folder_speaker, _, folder_emotion = os.path.basename(os.path.dirname(path)).partition("_")
        speaker = SPEAKERS.get(fields[0].upper(), SPEAKERS.get(folder_speaker.upper()))
        emotion = EMOTIONS.get(fields[-1].lower(), EMOTIONS.get(folder_emotion.lower()))
        if speaker is None or emotion is None:
            log.warning("skipping %s: not a TESS file name", path)
            continue
        utterances.append(Utterance(path, emotion, speaker, "tess", "female"))
    return utterances
