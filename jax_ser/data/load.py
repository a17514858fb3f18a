"""Corpora -> task labels -> a protocol's split -> decoded waveforms: the data of one run, from the
corpora's folders (decoded once into the cache) or from prepared TFDS datasets (data.source)."""

from __future__ import annotations

import logging
import sys

from jax_ser import protocols
from jax_ser.data import cache, corpora, labels, precomputed, prepared
from jax_ser.errors import ConfigError, DataError, check_positive

log = logging.getLogger(__name__)

SOURCES = ("folders", "tfds")  # data.source: the corpora's folders, or jax_ser.prepare's datasets


def check_config(config) -> None:
    """The data section's keys that cannot run."""
    check_positive(config, "data", "sample_rate", "clip_seconds")
    if not config.data.corpus.strip():
        raise ConfigError("config.data.corpus is empty")
    if config.data.source not in SOURCES:
        raise ConfigError(f"config.data.source: {config.data.source!r} is not one of "
                          f"{', '.join(SOURCES)}")
    if config.data.source == "tfds" and config.data.precomputed:
        raise ConfigError("config.data.precomputed reads its own features folder: leave "
                          "config.data.source at folders")
    for name, root in corpus_list(config):
        if name not in corpora.names():
            raise ConfigError(
                f"config.data.corpus: unknown corpus {name!r}; known: {', '.join(corpora.names())}"
            )
        if not root and name != "synthetic" and config.data.source == "folders":
            raise ConfigError(
                f"config.data.root is required for corpus {name!r}: pass "
                f"--config.data.root=/path/to/{name} (the folder of the corpus's original layout)"
            )
    names = [name for name, _ in corpus_list(config)]
    if config.data.eval_corpus and config.data.eval_corpus not in names:
        raise ConfigError(
            f"config.data.eval_corpus: {config.data.eval_corpus!r} is not one of the corpora "
            f"read (config.data.corpus: {', '.join(names)})"
        )
    try:
        labels.task_classes(config.data.task)
    except ValueError as e:
        raise ConfigError(f"config.data.task: {e}") from None
    if not 0 <= config.data.max_bad_fraction <= 1:
        raise ConfigError("config.data.max_bad_fraction must lie in [0, 1]")
    if bool(config.data.precomputed) != (config.features.name == "precomputed"):
        raise ConfigError(
            "config.data.precomputed (a folder of extracted features) and "
            "config.features.name=precomputed go together"
        )


def corpus_list(config) -> list[tuple[str, str]]:
    """(name, root) pairs from the comma-separated data.corpus and data.root."""
    names = [n.strip() for n in config.data.corpus.split(",") if n.strip()]
    roots = (
        [r.strip() for r in config.data.root.split(",")] if config.data.root else [""] * len(names)
    )
    if len(roots) != len(names):
        raise ConfigError(
            f"config.data.root: {len(roots)} root(s) for {len(names)} corpora {names}; one root "
            "per corpus, comma-separated in the same order"
        )
    return list(zip(names, roots))


def corpus_utterances(config, name: str, root: str = "") -> list[corpora.Utterance]:
    """One corpus's utterances, canonically labelled: from its folder, or listed in its prepared
    dataset (data.source=tfds), the files skipped at preparation too."""
    if config.data.source == "tfds":
        return prepared.utterances(name, config.data)
    return corpora.read(name, root or None)


def read_utterances(config) -> list[corpora.Utterance]:
    """Every utterance of the configured corpora, labelled for the configured task."""
    utterances = []
    for name, root in corpus_list(config):
        utterances += corpus_utterances(config, name, root)
    utterances = labels.apply_task(utterances, config.data.task)
    if not utterances:
        raise DataError(
            f"no utterances of task {config.data.task} in {config.data.corpus}"
        )
    return utterances


def decode(config, utterances: list[corpora.Utterance]) -> cache.Decoded:
    """The utterances' preprocessed waveforms (or precomputed frames) and the bad files: a
    prepared dataset's read on demand, a folder's decoded once into the cache."""
    if config.data.precomputed:
        return precomputed.load_precomputed(config.data.precomputed, utterances)
    if config.data.source == "tfds":
        return prepared.decoded([name for name, _ in corpus_list(config)], config.data)
    return cache.decode(utterances, config.data)


def make_split(config, utterances: list[corpora.Utterance]) -> protocols.Split:
    """The configured protocol's split of `utterances` (data.split and its settings), with a
    warning where it shares speakers between train and test."""
    try:
        split = protocols.make_split(
            utterances,
            config.data.split,
            fold_size=config.data.fold_size,
            val_speakers=config.data.val_speakers,
            seed=config.seed,
            allow_random=config.data.allow_random_split,
            eval_corpus=config.data.eval_corpus,
        )
    except ValueError as e:  # a split these data cannot hold, e.g. an EmoBox fold's missing actor
        raise DataError(str(e)) from None
    if not split.speaker_independent:
        warning = (
            "WARNING: split 'random' shares speakers between train and test; its numbers are "
            "speaker-dependent and not comparable with speaker-independent results"
        )
        log.warning(warning)
        print(warning, file=sys.stderr)
    return split


def load_data(config):
    """Corpora -> task labels -> split -> decoded waveforms, with the bad files counted."""
    utterances = read_utterances(config)
    split = make_split(config, utterances)
    decoded = decode(config, utterances)
    cache.check_bad_fraction(decoded, len(utterances), config.data.max_bad_fraction)
    parts = {
        name: [u for u in getattr(split, name) if u.path in decoded.waves]
        for name in ("train", "val", "test")
    }
    if not parts["train"]:
        raise DataError(f"split {config.data.split} leaves no training utterances")
    return split, parts, decoded


