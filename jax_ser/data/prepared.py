"""Prepared corpora (`data.source=tfds`): utterances from a TFDS dataset's metadata, and waveforms
read from its ArrayRecord files when a batch asks for them, so a run's memory does not grow with
the corpus and each process reads only the records it feeds.

Reading needs TFDS's data source (array_record), not TensorFlow: a GPU host without TensorFlow
reads the same files. Preparing a dataset is jax_ser.prepare (data/tfds_builder.py).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import logging
import os
from pathlib import Path

import numpy as np

from jax_ser.data import cache, corpora
from jax_ser.errors import DataError

log = logging.getLogger(__name__)

PREFIX = "jax_ser_"  # dataset name: jax_ser_<corpus> (tfds_builder.builder_class)
FIELDS = {f.name for f in dataclasses.fields(corpora.Utterance)}


def data_dir(data_config) -> Path:
    """data.data_dir, else TFDS's own default ($TFDS_DATA_DIR or ~/tensorflow_datasets)."""
    root = data_config.data_dir or os.environ.get("TFDS_DATA_DIR", "~/tensorflow_datasets")
    return Path(root).expanduser()


def config_name(data_config) -> str:
    """The builder config (tfds_builder.Preprocessing) a run's data section asks for."""
    return (f"sr{data_config.sample_rate}_trim{data_config.trim_db:g}_"
            f"{'peak' if data_config.normalize else 'raw'}")


def dataset_dir(corpus: str, data_config) -> Path:
    """The newest prepared version of `corpus` with the run's settings; a DataError naming the
    command that prepares it if there is none."""
    folder = data_dir(data_config) / f"{PREFIX}{corpus}" / config_name(data_config)
    versions = sorted((p for p in folder.glob("*.*.*") if (p / "dataset_info.json").exists()),
                      key=lambda p: tuple(int(x) for x in p.name.split(".")))
    if not versions:
        c = data_config
        raise DataError(
            f"no prepared dataset {PREFIX}{corpus}/{config_name(c)} in {data_dir(c)}: prepare it "
            f"with python -m jax_ser.prepare --corpus {corpus} --root /path/to/{corpus} "
            f"--data_dir {data_dir(c)} --sample_rate {c.sample_rate} --trim_db {c.trim_db:g} "
            f"--normalize={c.normalize}")
    return versions[-1]


@functools.cache
def _builder(path: str):
    import tensorflow_datasets as tfds

    return tfds.builder_from_directory(path)


def utterances(corpus: str, data_config) -> list[corpora.Utterance]:
    """Every utterance listed at preparation, the skipped files too (their reasons are in
    `decoded`): the same list a folder read gives, from the metadata alone."""
    meta = _builder(str(dataset_dir(corpus, data_config))).info.metadata
    rows = [*meta["utterances"], *meta["skipped"]]
    return sorted((corpora.Utterance(**{k: v for k, v in row.items() if k in FIELDS})
                   for row in rows), key=lambda u: u.path)


def decoded(corpus_names: list[str], data_config) -> cache.Decoded:
    """The corpora's waveforms, read on access, and the files skipped at preparation."""
    sources, index, bad = [], {}, {}
    for corpus in corpus_names:
        builder = _builder(str(dataset_dir(corpus, data_config)))
        meta = builder.info.metadata
        if builder.info.file_format.value != "array_record":
            raise DataError(f"{builder.data_dir} holds {builder.info.file_format.value} files, "
                            "which have no random access: prepare it for jax_ser with "
                            "--file_format array_record (into another --data_dir)")
        for row in meta["skipped"]:
            log.warning("skipped at preparation: %s: %s", row["path"], row["reason"])
            bad[row["path"]] = row["reason"]
        source = builder.as_data_source(split="train")
        if len(source) != len(meta["utterances"]):
            raise DataError(f"{builder.data_dir}: {len(source)} records but "
                            f"{len(meta['utterances'])} utterances in its metadata")
        index.update({row["path"]: (len(sources), i) for i, row in enumerate(meta["utterances"])})
        sources.append(source)
        log.info("reading %d prepared utterances from %s", len(meta["utterances"]),
                 builder.data_dir)
    return cache.Decoded(Records(sources, index), bad)


class Records(collections.abc.Mapping):
    """path -> waveform, each read from its dataset's record when asked for."""

    def __init__(self, sources: list, index: dict[str, tuple[int, int]]):
        self._sources, self._index = sources, index

    def __getitem__(self, path: str) -> np.ndarray:
        source, i = self._index[path]
        return self._sources[source][i]["audio"]

    def __contains__(self, path) -> bool:
        return path in self._index

    def __iter__(self):
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)
