"""Protocols: who is held out. `data.split` is "<protocol>:<argument>" (fold:2, loso:ravdess/03,
session:1, emobox:4, final, random); the protocol is a module here, found by name, that defines
  FORM                    a regex of its argument;
  split(utterances, arg, options) -> Split;
  runs(utterances, options) -> [arg, ...]   (optional) every run of the protocol, which
                          `jax_ser.cross_validate` trains one by one; a protocol without it
                          cannot be cross-validated.
Emotion models pick up speaker identity easily, so a test speaker heard in training inflates
scores; every protocol here except the opt-in "random" keeps each speaker in exactly one part,
and checks it. Adding a protocol is adding one file.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import pkgutil
import re
from collections import defaultdict

from jax_ser.data.corpora import Utterance
from jax_ser.errors import ConfigError

log = logging.getLogger(__name__)


@dataclasses.dataclass
class Split:
    name: str
    train: list[Utterance]
    val: list[Utterance]
    test: list[Utterance]
    speaker_independent: bool


@dataclasses.dataclass(frozen=True)
class Options:
    """The data section's keys a protocol reads."""

    fold_size: int = 4  # speakers per test fold
    val_speakers: int = 2  # taken from the training speakers, for model selection
    seed: int = 0
    allow_random: bool = False

    @classmethod
    def of(cls, config) -> "Options":
        return cls(config.data.fold_size, config.data.val_speakers, config.seed,
                   config.data.allow_random_split)


def describe(module) -> str:
    """A protocol's docstring on one line, for messages."""
    return " ".join(module.__doc__.split())


def names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def protocol(name: str):
    if name not in names():
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def check_config(config) -> None:
    """data.split names a protocol and an argument of its form ("" for every run, in
    cross_validate); random only on explicit request."""
    kind, _, arg = config.data.split.partition(":")
    if kind not in names():
        raise ConfigError(f"config.data.split: {config.data.split!r}: unknown protocol {kind!r}; "
                          f"known: {', '.join(names())}")
    module = protocol(kind)
    if not (re.fullmatch(module.FORM, arg) or (not arg and hasattr(module, "runs"))):
        raise ConfigError(f"config.data.split: {config.data.split!r}: {describe(module)}")
    if kind == "random" and not config.data.allow_random_split:
        raise ConfigError(
            "config.data.split=random mixes speakers between train and test; set "
            "--config.data.allow_random_split=True to run it anyway"
        )


def make_split(utterances: list[Utterance], spec: str, *, fold_size: int = 4,
               val_speakers: int = 2, seed: int = 0, allow_random: bool = False,
               eval_corpus: str = "") -> Split:
    """Split named by `spec` ("protocol:argument"). With `eval_corpus`, only that corpus is split
    into train, validation and test; every utterance of the other corpora is added to training
    (multi-corpus training, scored on held-out speakers of one corpus)."""
    options = Options(fold_size, val_speakers, seed, allow_random)
    if not eval_corpus:
        return _split(utterances, spec, options)
    scored = [u for u in utterances if u.corpus == eval_corpus]
    if not scored:
        found = ", ".join(sorted({u.corpus for u in utterances})) or "none"
        raise ValueError(f"eval corpus {eval_corpus!r} has no utterances (corpora read: {found})")
    split = _split(scored, spec, options)
    extra = [u for u in utterances if u.corpus != eval_corpus]
    return dataclasses.replace(split, train=split.train + extra)


def _split(utterances: list[Utterance], spec: str, options: Options) -> Split:
    kind, _, arg = spec.partition(":")
    module = protocol(kind)
    if not arg and hasattr(module, "runs") and not re.fullmatch(module.FORM, arg):
        raise ValueError(f"split {spec!r} stands for every {kind} run: one run needs its "
                         f"argument ({describe(module)}); python -m jax_ser.cross_validate "
                         "runs them all")
    if not re.fullmatch(module.FORM, arg):
        raise ValueError(f"split {spec!r}: {describe(module)}")
    return module.split(utterances, arg, options)


def runs(utterances: list[Utterance], kind: str, options: Options) -> list[str]:
    """The argument of every run of protocol `kind` on these utterances."""
    module = protocol(kind)
    if not hasattr(module, "runs"):
        raise ValueError(f"protocol {kind!r} has no set of runs to cross-validate "
                         f"({describe(module)}); choose one of: "
                         + ", ".join(n for n in names() if hasattr(protocol(n), "runs")))
    return module.runs(utterances, options)


def run_name(kind: str, arg: str, seed: int) -> str:
    """The folder of one run of a protocol: fold3_seed0, emobox2_seed1, loso-ravdess-03_seed0."""
    if arg.isdigit():
        return f"{kind}{arg}_seed{seed}"
    return f"{kind}-{re.sub(r'[^A-Za-z0-9_.]+', '-', arg)}_seed{seed}"


def parse_run_name(name: str) -> tuple[str, str, int] | None:
    """(protocol, argument as the folder spells it, seed) of a `run_name` folder, else None."""
    match = (re.fullmatch(r"([a-z_]+?)(\d+)_seed(\d+)", name)
             or re.fullmatch(r"([a-z_]+)-(.+)_seed(\d+)", name))
    return (match[1], match[2], int(match[3])) if match else None


def natural_key(speaker_key: str) -> tuple:
    """Orders "ravdess/2" before "ravdess/10": by corpus, then numbers inside the id by value."""
    corpus, _, speaker = speaker_key.partition("/")
    parts = re.split(r"(\d+)", speaker)
    return corpus, [int(p) if i % 2 else p for i, p in enumerate(parts)]


def sorted_speakers(utterances: list[Utterance]) -> list[str]:
    return sorted({u.speaker_key for u in utterances}, key=natural_key)


def check_speaker_independent(split: Split) -> None:
    """Raises ValueError naming every speaker found in more than one part of `split`."""
    parts = {"train": split.train, "val": split.val, "test": split.test}
    owners = defaultdict(list)
    for part, utterances in parts.items():
        for speaker in sorted_speakers(utterances):
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
    speakers = sorted_speakers(train)
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


def held_out(utterances: list[Utterance], test_speakers: set[str], name: str,
             val_speakers: int) -> Split:
    """The split with the utterances of `test_speakers` (speaker keys) held out and validation
    speakers taken from the rest, checked."""
    rest = [u for u in utterances if u.speaker_key not in test_speakers]
    test = [u for u in utterances if u.speaker_key in test_speakers]
    if not rest:
        raise ValueError(f"split {name!r} leaves no training utterances")
    val_keys = set(_val_speakers(rest, val_speakers))
    train = [u for u in rest if u.speaker_key not in val_keys]
    val = [u for u in rest if u.speaker_key in val_keys]
    split = Split(name, train, val, test, speaker_independent=True)
    check_speaker_independent(split)
    return split
