"""Corpora prepared as TensorFlow Datasets (jax_ser.prepare, data.source=tfds): read back by TFDS
alone, the same utterances and batches as from folders, bad files skipped and counted, and a
training run on a host without TensorFlow (Grain in place of tf.data)."""

import json
import subprocess
import sys

import ml_collections
import numpy as np
import pytest
import soundfile as sf
import tensorflow_datasets as tfds

from jax_ser.config import workdir as workdir_lib
from jax_ser.data import batches, corpora, labels, load, prepared, tfds_builder
from jax_ser.errors import DataError
from jax_ser.evaluate import calibration, reevaluation
from tests.e2e import REPO, cli_args, run_cli, tiny


@pytest.fixture(scope="module")
def data_dir(tiny_corpus, tmp_path_factory):
    """The tiny RAVDESS-layout corpus prepared with the data section's defaults."""
    out = tmp_path_factory.mktemp("tfds")
    tfds_builder.prepare("ravdess", str(tiny_corpus), tiny(tiny_corpus, **{
        "data.data_dir": str(out)}).data)
    return out


def test_prepared_dataset_is_read_by_tfds_alone(tiny_corpus, data_dir):
    """A process that imports TFDS and nothing of jax_ser reads the records by random access
    (tfds.data_source), without importing TensorFlow."""
    script = f"""
import json, sys, numpy as np
import tensorflow_datasets as tfds
name = "jax_ser_ravdess/sr16000_trim30_peak"
source = tfds.data_source(name, split="train", data_dir={str(data_dir)!r})
first = source[0]
print(json.dumps(dict(
    count=len(source), tf_loaded="tensorflow" in sys.modules,
    keys=sorted(first), path=first["path"].decode(), samples=len(first["audio"]),
    peak=float(np.abs(first["audio"]).max()), label=int(first["label"]),
    names=tfds.builder_from_directory(source.dataset_info.data_dir).info.features[
        "label"].names)))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=REPO.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    got = json.loads(done.stdout.strip().splitlines()[-1])
    config = tiny(tiny_corpus)
    utterances = load.corpus_utterances(config, "ravdess", str(tiny_corpus))
    folder = load.decode(config, utterances)
    assert got["count"] == len(utterances) == 480
    assert not got["tf_loaded"]  # random access reads without TensorFlow
    assert got["keys"] == ["audio", "corpus", "fold", "gender", "label", "path", "session",
                           "speaker"]
    assert got["path"] == utterances[0].path
    assert got["samples"] == len(folder.waves[utterances[0].path])
    assert got["peak"] == pytest.approx(0.95)  # peak-normalised, as data.normalize
    assert got["names"][got["label"]] == utterances[0].label
    assert got["names"] == list(labels.VOCABULARY)


def test_folders_and_tfds_give_the_same_utterances_and_batches(tiny_corpus, data_dir):
    """Split, waveforms, the training batches of a seed (from any step: a resumed run), each
    process's slice, and the evaluation batches."""
    folders = load.load_data(tiny(tiny_corpus))
    split, parts, decoded = load.load_data(tiny(tiny_corpus, **{
        "data.source": "tfds", "data.data_dir": str(data_dir), "data.root": ""}))
    assert isinstance(decoded.waves, prepared.Records)
    assert parts == folders[1] and split.test == folders[0].test
    assert {u.speaker_key for u in parts["test"]}.isdisjoint(u.speaker_key for u in parts["train"])
    waves, expected = decoded.of(parts["train"]), folders[2].of(parts["train"])
    targets = np.arange(len(waves), dtype=np.int32) % 8
    crops = dict(global_batch=16, clip_samples=24000, seed=5, epoch=2)
    whole = list(batches.train_batches(expected, targets, **crops))
    assert len(whole) == len(waves) // 16
    for start, process in ((0, 0), (7, 1)):
        got = list(batches.train_batches(waves, targets, start_step=start, process_index=process,
                                         process_count=2, **crops))
        assert len(got) == len(whole) - start
        for g, w in zip(got, whole[start:]):
            np.testing.assert_array_equal(g["wave"], w["wave"][8 * process:8 * process + 8])
            np.testing.assert_array_equal(g["label"], w["label"][8 * process:8 * process + 8])
    test = dict(global_batch=32, clip_samples=24000, num_crops=3)
    for g, w in zip(batches.eval_batches(decoded.of(parts["test"]), **test),
                    batches.eval_batches(folders[2].of(parts["test"]), **test)):
        np.testing.assert_array_equal(g["wave"], w["wave"])


def test_a_run_from_folders_resumes_from_tfds(tiny_corpus, data_dir, tmp_path):
    """Where the data are read from is no change of config: the batches are the same."""
    workdir_lib.save_or_check_config(tiny(tiny_corpus), tmp_path)
    from_tfds = tiny(tiny_corpus, **{"data.source": "tfds", "data.data_dir": str(data_dir)})
    assert workdir_lib.config_changes(from_tfds, tmp_path) == []
    from_tfds.data.trim_db = 20.0
    assert workdir_lib.config_changes(from_tfds, tmp_path) == ["data.trim_db: 30.0 -> 20.0"]


def test_grain_gives_the_batches_of_tf_data(tiny_corpus, data_dir, monkeypatch):
    """On a host without TensorFlow the same epoch comes from Grain, read from the same files."""
    config = tiny(tiny_corpus, **{"data.source": "tfds", "data.data_dir": str(data_dir)})
    _, parts, decoded = load.load_data(config)
    waves = decoded.of(parts["train"])
    targets = np.arange(len(waves), dtype=np.int32) % 8
    crops = dict(global_batch=16, clip_samples=24000, seed=1, epoch=0, balanced=True)
    expected = list(batches.train_batches(waves, targets, **crops))
    monkeypatch.setattr(batches, "pipeline_library", lambda: "grain")
    got = list(batches.train_batches(waves, targets, **crops))
    assert len(got) == len(expected) == len(waves) // 16
    for g, e in zip(got, expected):
        np.testing.assert_array_equal(g["wave"], e["wave"])
        np.testing.assert_array_equal(g["label"], e["label"])


def test_bad_files_are_skipped_and_counted_at_preparation(tmp_path):
    rate = 16000
    rows = ["path,label,speaker"]
    for i, label in enumerate(["angry", "sad", "happy"]):
        tone = 0.5 * np.sin(2 * np.pi * (200 + 50 * i) * np.arange(rate) / rate)
        sf.write(tmp_path / f"good{i}.wav", tone.astype(np.float32), rate)
        rows.append(f"good{i}.wav,{label},s{i % 2}")
    (tmp_path / "corrupt.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEnot audio")
    (tmp_path / "empty.wav").write_bytes(b"")
    rows += ["corrupt.wav,angry,s0", "empty.wav,sad,s1"]
    (tmp_path / "list.csv").write_text("\n".join(rows) + "\n")
    out = tmp_path / "tfds"
    done = run_cli([sys.executable, "-m", "jax_ser.prepare", "--corpus", "manifest", "--root",
                    str(tmp_path / "list.csv"), "--data_dir", str(out)])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "jax_ser_manifest/sr16000_trim30_peak: 3 utterances, 2 files skipped" in done.stdout
    assert "skipped" in done.stderr and "corrupt.wav" in done.stderr and "empty.wav" in done.stderr
    config = tiny(tmp_path, **{"data.source": "tfds", "data.data_dir": str(out),
                               "data.corpus": "manifest"})
    utterances = load.read_utterances(config)
    decoded = load.decode(config, utterances)
    assert len(utterances) == 5 and len(decoded.waves) == 3
    assert sorted(p.rsplit("/", 1)[1] for p in decoded.bad) == ["corrupt.wav", "empty.wav"]
    records = tmp_path / "tfrecord"  # for tf.data readers: tfds.load
    again = run_cli([sys.executable, "-m", "jax_ser.prepare", "--corpus", "manifest", "--root",
                     str(tmp_path / "list.csv"), "--data_dir", str(records),
                     "--file_format", "tfrecord"])
    assert again.returncode == 0 and "3 utterances, 2 files skipped" in again.stdout
    folder = records / "jax_ser_manifest" / "sr16000_trim30_peak" / "1.0.0"
    read = tfds.as_numpy(tfds.builder_from_directory(str(folder)).as_dataset(split="train"))
    assert [(e["path"].decode(), len(e["audio"])) for e in read] == [
        (p, len(decoded.waves[p])) for p in decoded.waves]
    with pytest.raises(DataError, match="--file_format array_record"):
        prepared.decoded(["manifest"], tiny(tmp_path, **{"data.data_dir": str(records)}).data)


def test_every_corpus_has_a_builder():
    for name in corpora.names():
        builder = tfds_builder.builder_class(name)
        assert builder.name == f"jax_ser_{name}" and builder.CORPUS == name
        assert tfds_builder.builder_class(name) is builder  # registered once


def test_unprepared_settings_name_the_command_that_prepares_them(tiny_corpus, data_dir):
    data = ml_collections.ConfigDict(dict(data_dir=str(data_dir), sample_rate=16000,
                                          trim_db=20.0, normalize=True))
    with pytest.raises(DataError, match="python -m jax_ser.prepare --corpus ravdess .*"
                                        "--trim_db 20"):
        prepared.utterances("ravdess", data)


def test_trains_from_tfds_on_a_host_without_tensorflow(tiny_corpus, data_dir, tmp_path):
    """Grain feeds the steps, nothing imports TensorFlow, and the run predicts from the
    prepared dataset as its evaluation labelled the test speakers."""
    workdir = tmp_path / "run"
    args = cli_args(tiny_corpus, workdir, "--config.data.source=tfds",
                    f"--config.data.data_dir={data_dir}", "--config.train.num_epochs=1")
    done = run_cli([sys.executable, "-m", "tests.without_tensorflow", *args[1:]])
    assert done.returncode == 0, done.stderr[-3000:]
    assert "TensorFlow is not installed: no TensorBoard summaries" in done.stderr
    assert "checkpoints/, log.txt" in done.stdout and not (workdir / "tensorboard").exists()
    metrics = json.loads((workdir / "metrics.json").read_text())
    assert metrics["test"]["n"] == 120
    labelled = run_cli([sys.executable, "-m", "tests.without_tensorflow", "-m", "jax_ser.predict",
                        "--workdir", str(workdir), "--dataset", "ravdess",
                        "--data_dir", str(data_dir), "--output", str(tmp_path / "p.jsonl")])
    assert labelled.returncode == 0, labelled.stderr[-3000:]
    predicted = {line["path"]: line for line in map(json.loads, open(tmp_path / "p.jsonl"))}
    assert len(predicted) == 480
    scores, _ = reevaluation.rescore(workdir, {"data.data_dir": str(data_dir)})
    assert scores["ua"] == pytest.approx(metrics["test"]["ua"], abs=1e-6)
    test = [json.loads(line) for line in open(workdir / "predictions_test.jsonl")]
    evaluated = calibration.apply_temperature([list(t["probs"].values()) for t in test],
                                              metrics["calibration"]["temperature"])
    np.testing.assert_allclose([list(predicted[t["path"]]["probs"].values()) for t in test],
                               evaluated, atol=1e-4)
