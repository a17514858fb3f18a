"""Corpus registry: `data.corpus` names a file here whose `read(root)` turns that corpus's original
file layout into `Utterance`s. Adding a corpus is adding one file.

Readers parse names only (no audio is decoded here), so listing a corpus is cheap and a bad file
surfaces later, in the audio front end, with its path.
"""

import dataclasses
import importlib
import logging
import os
import pkgutil
from collections.abc import Iterator

log = logging.getLogger(__name__)

AUDIO_EXTENSIONS = (".wav", ".flac", ".aiff", ".aif", ".ogg", ".mp3")


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One labelled recording; `label` is a canonical `jax_ser.data.labels.VOCABULARY` name."""

    path: str
    label: str
    speaker: str
    corpus: str
    gender: str | None = None
    session: str | None = None
    fold: str | None = None  # a manifest's own cross-validation fold (protocols/manifest.py)

    @property
    def speaker_key(self) -> str:
        """Speaker id unique across corpora, the unit of speaker-independent splits."""
        return f"{self.corpus}/{self.speaker}"


def require_dir(root: str | None) -> str:
    """Fails early with the path named, instead of silently finding no files."""
    if not root or not os.path.isdir(root):
        raise FileNotFoundError(f"corpus directory not found: {root!r}")
    return root


def audio_files(root: str) -> Iterator[str]:
    """Absolute paths of audio files under `root`, sorted; any accepted extension, any case.

    Hidden files are skipped: macOS archives carry `._<name>.wav` resource forks that are not audio.
    """
    require_dir(root)
    found = []
    for dirpath, _, filenames in os.walk(root, followlinks=True):
        for filename in filenames:
            if not filename.startswith(".") and filename.lower().endswith(AUDIO_EXTENSIONS):
                found.append(os.path.abspath(os.path.join(dirpath, filename)))
    yield from sorted(found)


def expand(paths: list[str]) -> list[str]:
    """Files as given; folders walked for audio files (`audio_files`): what a user names on a
    command line."""
    return [str(f) for p in paths for f in (audio_files(p) if os.path.isdir(p) else [p])]


def names() -> list[str]:
    """Every corpus a file of this package (or a folder added to its __path__) reads."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def read(name: str, root: str | None) -> list[Utterance]:
    """Utterances of corpus `name` under `root`, sorted by path."""
    if name not in names():
        raise ValueError(f"unknown corpus {name!r}; known corpora: {', '.join(names())}")
    reader = importlib.import_module(f"{__name__}.{name}")
    utterances = sorted(reader.read(root), key=lambda u: u.path)
    if not utterances:
        log.warning("corpus %s: no utterances found under %s", name, root)
    return utterances
