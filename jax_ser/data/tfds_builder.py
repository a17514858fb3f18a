"""TensorFlow Datasets builders of the corpora: each corpus's original layout (a manual folder: the
audio cannot be downloaded) -> decoded, preprocessed waveforms in ArrayRecord or TFRecord files.

One builder per corpus of the registry, named `jax_ser_<corpus>`; its config names the
preprocessing (`sr16000_trim30_peak`), which is done once here, as the folder path's cache does.
Records keep the order of the corpus's sorted utterances, and the dataset's metadata lists them
(path, label, speaker, ..., num_samples) with the files skipped as unreadable, so a run picks its
split without reading any audio. Read back with TFDS alone:

  tfds.data_source("jax_ser_ravdess/sr16000_trim30_peak", split="train", data_dir=D)
"""

from __future__ import annotations

import dataclasses
import logging
import os

import numpy as np
import tensorflow_datasets as tfds

from jax_ser.data import audio, corpora, labels, prepared

log = logging.getLogger(__name__)

CHUNK = 256  # files decoded at a time (in data.num_workers threads)
TEXT_FIELDS = ("path", "speaker", "corpus", "gender", "session", "fold")
FILE_FORMATS = ("array_record", "tfrecord")


@dataclasses.dataclass
class Preprocessing(tfds.core.BuilderConfig):
    """The data section's decoding settings the records were made with."""

    sample_rate: int = 16000
    trim_db: float = 30.0
    normalize: bool = True


def preprocessing(data_config) -> Preprocessing:
    """The builder config of a data section's sample_rate, trim_db and normalize."""
    return Preprocessing(name=prepared.config_name(data_config),
                         sample_rate=int(data_config.sample_rate),
                         trim_db=float(data_config.trim_db),
                         normalize=bool(data_config.normalize))


class CorpusBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A corpus read by `jax_ser.data.corpora.read(CORPUS, root)`: `root` is its folder (TFDS's
    manual directory) or, for a manifest, the manifest file in it."""

    CORPUS = ""
    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [Preprocessing(name="sr16000_trim30_peak")]  # the data section's defaults
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "The corpus's original folder, as jax_ser's folder reader takes it "
        "(python -m jax_ser.prepare --root).")
    num_workers = 2
    root: str | None = None  # set by `prepare`

    def _info(self) -> tfds.core.DatasetInfo:
        c = self.builder_config
        return self.dataset_info_from_configs(
            description=f"{self.CORPUS} for jax_ser: waveforms at {c.sample_rate} Hz, mono, "
                        f"trimmed at {c.trim_db:g} dB, {'peak' if c.normalize else 'not'} "
                        "normalised; labels harmonised to jax_ser's vocabulary.",
            features=tfds.features.FeaturesDict({
                # float32 samples as bytes: fast to write and read, and no TensorFlow needed to
                # decode them (tfds.features.Audio decodes with TensorFlow)
                "audio": tfds.features.Tensor(shape=(None,), dtype=np.float32,
                                              encoding=tfds.features.Encoding.BYTES),
                "label": tfds.features.ClassLabel(names=labels.VOCABULARY),
                **{name: tfds.features.Text() for name in TEXT_FIELDS},
            }),
            metadata=tfds.core.MetadataDict(),
            disable_shuffling=True,  # record i is the i-th utterance of the metadata
        )

    def _split_generators(self, dl_manager):
        root = self.root
        utterances = corpora.read(self.CORPUS, root)
        self.info.metadata.update(corpus=self.CORPUS, root=root or "",
                                  preprocessing=dataclasses.asdict(self.builder_config) | {
                                      "name": self.builder_config.name},
                                  utterances=[], skipped=[])
        return {"train": self._generate_examples(utterances)}

    def _generate_examples(self, utterances):
        c = self.builder_config
        kept, skipped = self.info.metadata["utterances"], self.info.metadata["skipped"]
        for start in range(0, len(utterances), CHUNK):
            chunk = utterances[start:start + CHUNK]
            waves, bad = audio.load_many([u.path for u in chunk], sample_rate=c.sample_rate,
                                         normalize=c.normalize, trim_db=c.trim_db or None,
                                         num_workers=self.num_workers)
            for u, wave in zip(chunk, waves):
                row = dataclasses.asdict(u)
                if wave is None:
                    skipped.append({**row, "reason": bad[u.path]})
                    continue
                kept.append({**row, "num_samples": len(wave)})
                yield len(kept) - 1, {"audio": wave.astype(np.float32, copy=False),
                                      "label": u.label,
                                      **{k: row[k] or "" for k in TEXT_FIELDS}}
        log.info("%s: %d utterances written, %d files skipped", self.name, len(kept),
                 len(skipped))


_CLASSES: dict[str, type] = {}  # dataset name -> builder class, made once (TFDS registers it)


def builder_class(corpus: str) -> type[CorpusBuilder]:
    """The builder of `corpus`, a class named JaxSer<Corpus> (TFDS derives `jax_ser_<corpus>`)."""
    if corpus not in corpora.names():
        raise ValueError(f"unknown corpus {corpus!r}; known corpora: {', '.join(corpora.names())}")
    name = prepared.PREFIX + corpus
    registered = _CLASSES.get(name)
    if registered is None:
        camel = "".join(part.capitalize() for part in name.split("_"))
        registered = _CLASSES[name] = type(camel, (CorpusBuilder,),
                                           {"CORPUS": corpus, "__module__": __name__})
    return registered


def prepare(corpus: str, root: str | None, data_config,
            file_format: str = "array_record") -> tfds.core.DatasetBuilder:
    """Builds `corpus` from the folder (or manifest file) `root` into data_config's data_dir with
    its preprocessing, unless that is there already; returns the builder, to read it back.
    ArrayRecord is what jax_ser reads (random access, tfds.data_source); TFRecord serves
    tf.data readers (tfds.load), which TFDS does not give for ArrayRecord."""
    if root is None and corpus != "synthetic":
        raise ValueError(f"corpus {corpus!r} needs its folder: --root /path/to/{corpus}")
    if root is not None and not os.path.exists(root):
        raise FileNotFoundError(f"corpus {corpus!r}: {root} not found")
    root = None if root is None else os.path.abspath(root)
    config = preprocessing(data_config)
    known = {c.name for c in CorpusBuilder.BUILDER_CONFIGS}  # TFDS takes these by name only
    builder = builder_class(corpus)(config=config.name if config.name in known else config,
                                    data_dir=str(prepared.data_dir(data_config)),
                                    file_format=file_format)
    builder.num_workers, builder.root = data_config.num_workers, root
    manual_dir = root if root is None or os.path.isdir(root) else os.path.dirname(root)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder
