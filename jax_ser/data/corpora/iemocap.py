"""IEMOCAP: labels from `Session{n}/dialog/EmoEvaluation/*.txt`, audio from
`Session{n}/sentences/wav/<dialog>/<utterance>.wav`.

Utterances without annotator agreement (`xxx`) are dropped. Speakers are per session
(`Ses01F`, `Ses01M`), so leaving a session out is speaker-independent.
"""

import glob
import logging
import os
import re

from jax_ser.data.corpora import Utterance, audio_files, require_dir

log = logging.getLogger(__name__)

EMOTIONS = {
    "neu": "neutral", "hap": "happy", "sad": "sad", "ang": "angry", "exc": "excited",
    "fru": "frustrated", "sur": "surprised", "fea": "fearful", "dis": "disgust", "oth": "other",
}
GENDERS = {"F": "female", "M": "male"}
# [6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
_LABEL_LINE = re.compile(r"\[[\d.]+ - [\d.]+\]\t(Ses\d\d\w*_([FM])\d+)\t(\w+)\t")
SESSIONS = ("1", "2", "3", "4", "5")


def _read_session(session_dir: str, session: str) -> list[Utterance]:
    wav_dir = os.path.join(session_dir, "sentences", "wav")
    audio = {}
    if os.path.isdir(wav_dir):
        audio = {os.path.splitext(os.path.basename(p))[0]: p for p in audio_files(wav_dir)}
    label_files = sorted(glob.glob(os.path.join(session_dir, "dialog", "EmoEvaluation", "*.txt")))
    utterances = []
    for label_file in label_files:
        with open(label_file, errors="replace") as f:
            for match in filter(None, map(_LABEL_LINE.match, f)):
                name, letter, code = match.groups()
                if code == "xxx":
                    continue
                if code not in EMOTIONS:
                    log.warning("skipping %s: unknown label %r in %s", name, code, label_file)
                    continue
                if name not in audio:
                    log.warning("skipping %s: no audio file under %s", name, wav_dir)
                    continue
                speaker = name[:5] + letter
                utterances.append(Utterance(audio[name], EMOTIONS[code], speaker, "iemocap",
                                            GENDERS[letter], session))
    return utterances


def read(root: str) -> list[Utterance]:
    require_dir(root)
    sessions = [s for s in SESSIONS if os.path.isdir(os.path.join(root, f"Session{s}"))]
    if not sessions:
        raise FileNotFoundError(f"no Session1..Session5 folders under IEMOCAP root {root!r}")
    return [u for s in sessions for u in _read_session(os.path.join(root, f"Session{s}"), s)]
