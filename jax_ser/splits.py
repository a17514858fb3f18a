"""Speaker-independent train/validation/test splits.

Emotion models pick up speaker identity easily, so a test speaker heard in training inflates scores;
every split here except the opt-in "random" keeps each speaker in exactly one part, and checks it.
"""

import dataclasses
import logging
import re
from collections import defaultdict

import numpy as np

from jax_ser.corpora import Utterance

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Split:
    name: str
    train: list[Utterance]
    val: list[Utterance]
    test: list[Utterance]
    speaker_independent: bool


def _natural_key(speaker_key: str) -> tuple:
    """Orders "ravdess/2" before "ravdess/10": by corpus, then numbers inside the id by value."""
    corpus, _, speaker = speaker_key.partition("/")
    parts = re.split(r"(\d+)", speaker)
    return corpus, [int(p) if i % 2 else p for i, p in enumerate(parts)]


def _sorted_speakers(utterances: list[Utterance]) -> list[str]:
    return sorted({u.speaker_key for u in utterances}, key=_natural_key)


def speaker_folds(utterances: list[Utterance], fold_size: int = 4) -> list[list[str]]:
    """Speaker keys in natural order, cut into consecutive folds.

    A short remainder joins the last fold rather than forming a small, noisy test fold of its own.
    """
    if fold_size < 1:
        raise ValueError(f"fold_size must be at least 1, got {fold_size}")
    speakers = _sorted_speakers(utterances)
    folds = [speakers[i:i + fold_size] for i in range(0, len(speakers), fold_size)]
    if len(folds) > 1 and len(folds[-1]) < fold_size:
        folds[-2].extend(folds.pop())
    return folds


# EmoBox (Ma et al., 2024) scores RAVDESS speaker-independently in 6 folds of 4 test actors. Its
# preprocessing drew the folds at random (unseeded), so they are copied here from the toolkit's
# published lists, data/ravdess/fold_K/ravdess_test_fold_K.jsonl in github.com/emo-box/EmoBox,
# not derived. EmoBox trains on the other 20 actors and has no validation part.
EMOBOX_RAVDESS_FOLDS = {
    1: ("01", "11", "20", "21"),
    2: ("04", "10", "12", "14"),
    3: ("08", "09", "19", "23"),
    4: ("03", "05", "07", "24"),
    5: ("02", "15", "16", "18"),
    6: ("06", "13", "17", "22"),
}


def emobox_test_speakers(utterances: list[Utterance], fold: int) -> set[str]:
    """Speaker keys of EmoBox RAVDESS fold `fold` (1..6, EmoBox's numbering).

    Raises ValueError naming the fold's actors that the data lacks: a fold scored on fewer actors
    is not the published fold. Other missing actors only shrink training; that is logged.
    """
    if fold not in EMOBOX_RAVDESS_FOLDS:
        raise ValueError(f"EmoBox RAVDESS folds are numbered 1..6, got {fold}")
    present = {u.speaker_key for u in utterances}
    actors = EMOBOX_RAVDESS_FOLDS[fold]
    missing = [a for a in actors if f"ravdess/{a}" not in present]
    found = sorted(k.partition("/")[2] for k in present if k.startswith("ravdess/"))
    if missing:
        which = (f"actor {missing[0]} is" if len(missing) == 1
                 else f"actors {', '.join(missing)} are")
        have = f"{len(found)} RAVDESS actors found" if found else "it has no RAVDESS actor"
        raise ValueError(
            f"EmoBox fold {fold} tests on RAVDESS actors {', '.join(actors)}, but {which} not in "
            f"the data ({have}), so the fold cannot be scored as published"
        )
    absent = sorted(a for f in EMOBOX_RAVDESS_FOLDS.values() for a in f if a not in found)
    if absent:
        log.warning("EmoBox fold %d: RAVDESS actor(s) %s absent, so training has fewer speakers "
                    "than EmoBox's", fold, ", ".join(absent))
    return {f"ravdess/{a}" for a in actors}


def check_speaker_independent(split: Split) -> None:
    """Raises ValueError naming every speaker found in more than one part of `split`."""
    parts = {"train": split.train, "val": split.val, "test": split.test}
    owners = defaultdict(list)
    for part, utterances in parts.items():
        for speaker in _sorted_speakers(utterances):
            owners[speaker].append(part)
    shared = {s: p for s, p in owners.items() if len(p) > 1}
    if shared:
        found = "; ".join(f"{s} in {'+'.join(p)}" for s, p in shared.items())
        raise ValueError(f"split {split.name!r} is not speaker-independent: {found}")


def _val_speakers(train: list[Utterance], count: int) -> list[str]:
    """The last `count` training speakers; alternately the last female and last male when all
    genders are known.

    Deterministic rather than seeded so that runs with different seeds select models on the same
    speakers.
    """
    speakers = _sorted_speakers(train)
    if count < 0:
        raise ValueError(f"val_speakers must be 0 or more, got {count}")
    if count >= len(speakers):
        raise ValueError(f"val_speakers={count} leaves no training speaker among {len(speakers)}: "
                         f"{', '.join(speakers)}")
    genders = defaultdict(set)
    for u in train:
        genders[u.speaker_key].add(u.gender)
    if any(g not in ({"female"}, {"male"}) for g in genders.values()):
        return speakers[len(speakers) - count:] if count else []
    queues = {g: [s for s in speakers if genders[s] == {g}] for g in ("female", "male")}
    chosen = []
    while len(chosen) < count:
        for gender in ("female", "male"):
            if queues[gender] and len(chosen) < count:
                chosen.append(queues[gender].pop())
    return chosen


def _by_speaker(rest: list[Utterance], test: list[Utterance], name: str,
                val_speakers: int) -> Split:
    """Split with `test` held out and validation speakers taken from `rest`, checked."""
    if not rest:
        raise ValueError(f"split {name!r} leaves no training utterances")
    val_keys = set(_val_speakers(rest, val_speakers))
    train = [u for u in rest if u.speaker_key not in val_keys]
    val = [u for u in rest if u.speaker_key in val_keys]
    split = Split(name, train, val, test, speaker_independent=True)
    check_speaker_independent(split)
    return split


def _resolve_speaker(speaker: str, speakers: list[str]) -> str:
    if speaker in speakers:
        return speaker
    matches = [key for key in speakers if key.partition("/")[2] == speaker]
    if len(matches) == 1:
        return matches[0]
    problem = f"is ambiguous ({', '.join(matches)})" if matches else "is unknown"
    raise ValueError(f"loso speaker {speaker!r} {problem}; valid speakers: {', '.join(speakers)}")


def _random_split(utterances: list[Utterance], name: str, seed: int) -> Split:
    """80/10/10 of each label's utterances, so rare classes appear in every part."""
    log.warning("split %r is random: speakers are shared between train, val and test, so "
                    "results are speaker-dependent and not comparable to speaker-independent ones",
                    name)
    rng = np.random.default_rng(seed)
    by_label = defaultdict(list)
    for i, u in enumerate(utterances):
        by_label[u.label].append(i)
    part_of = {}
    for label in sorted(by_label):
        indices = rng.permutation(by_label[label])
        n_eval = round(0.1 * len(indices))
        for rank, i in enumerate(indices):
            part_of[i] = "test" if rank < n_eval else "val" if rank < 2 * n_eval else "train"
    parts = {p: [u for i, u in enumerate(utterances) if part_of[i] == p]
             for p in ("train", "val", "test")}
    return Split(name, parts["train"], parts["val"], parts["test"], speaker_independent=False)


def make_split(utterances: list[Utterance], spec: str, *, fold_size: int = 4,
               val_speakers: int = 2, seed: int = 0, allow_random: bool = False,
               eval_corpus: str = "") -> Split:
    """Split named by `spec`: "fold:K", "loso:SPEAKER", "session:N", "emobox:K", "random" or
    "final". With `eval_corpus`, only that corpus is split into train, validation and test;
    every utterance of the other corpora is added to training (multi-corpus training, scored on
    held-out speakers of one corpus)."""
    if not eval_corpus:
        return _split(utterances, spec, fold_size, val_speakers, seed, allow_random)
    scored = [u for u in utterances if u.corpus == eval_corpus]
    if not scored:
        found = ", ".join(sorted({u.corpus for u in utterances})) or "none"
        raise ValueError(f"eval corpus {eval_corpus!r} has no utterances (corpora read: {found})")
    split = _split(scored, spec, fold_size, val_speakers, seed, allow_random)
    extra = [u for u in utterances if u.corpus != eval_corpus]
    return dataclasses.replace(split, train=split.train + extra)


def _split(utterances: list[Utterance], spec: str, fold_size: int, val_speakers: int, seed: int,
           allow_random: bool) -> Split:
    kind, _, arg = spec.partition(":")
    if kind == "random" and not arg:
        if not allow_random:
            raise ValueError("split 'random' shares speakers between train and test; set "
                             "data.allow_random_split=True to use it anyway")
        return _random_split(utterances, spec, seed)
    if kind == "final" and not arg:
        return _by_speaker(utterances, [], spec, val_speakers)
    if kind == "fold":
        folds = speaker_folds(utterances, fold_size)
        if not (arg.isdigit() and int(arg) < len(folds)):
            raise ValueError(f"split {spec!r}: fold index must be one of 0..{len(folds) - 1} "
                             f"({len(folds)} folds of {fold_size} speakers)")
        test_keys = set(folds[int(arg)])
    elif kind == "loso" and arg:
        test_keys = {_resolve_speaker(arg, _sorted_speakers(utterances))}
    elif kind == "session":
        sessions = sorted({u.session for u in utterances if u.session is not None})
        if arg not in sessions:
            valid = ", ".join(sessions) or "none (no utterance has a session)"
            raise ValueError(f"split {spec!r}: session must be one of: {valid}")
        test_keys = {u.speaker_key for u in utterances if u.session == arg}
    elif kind == "emobox":
        if not arg.isdigit():
            raise ValueError(f"split {spec!r}: EmoBox RAVDESS folds are emobox:1 .. emobox:6")
        try:
            test_keys = emobox_test_speakers(utterances, int(arg))
        except ValueError as e:
            raise ValueError(f"split {spec!r}: {e}") from None
    else:
        raise ValueError(f"unknown split {spec!r}; valid forms: fold:K, loso:SPEAKER, session:N, "
                         "random, final, emobox:K")
    test = [u for u in utterances if u.speaker_key in test_keys]
    rest = [u for u in utterances if u.speaker_key not in test_keys]
    return _by_speaker(rest, test, spec, val_speakers)
