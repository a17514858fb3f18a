"""The cross-corpus command trains each training set once, tests every corpus on the classes they
share, keeps in-corpus cells speaker-independent, and reads finished cells back."""

import csv
import json

import pytest
import soundfile as sf

from jax_ser import config as config_lib
from jax_ser import errors
from jax_ser.data import synthetic
from jax_ser.evaluate import trained
from jax_ser.train import cross_corpus as matrix
from jax_ser.train import loop
from tests.e2e import REPO

TESS_NAMES = {1: "neutral", 3: "happy", 4: "sad", 5: "angry", 6: "fear", 7: "disgust", 8: "ps"}
SHARED = ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """A 4-actor RAVDESS-named corpus (a file per emotion: 8 each) and a TESS-named one (speakers
    OAF and YAF, 7 emotions, no calm), both made of the synthetic voice."""
    base = tmp_path_factory.mktemp("corpora")
    for actor in range(1, 5):
        for codes in synthetic.takes():
            if codes[1:] == (1, 1, 1):  # normal intensity, statement 1, repetition 1
                path = base / "ravdess" / f"Actor_{actor:02d}" / synthetic.file_name(*codes, actor)
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, synthetic.take(actor, *codes), 16000, subtype="PCM_16")
    for actor, speaker in ((5, "OAF"), (6, "YAF")):
        for emotion, name in TESS_NAMES.items():
            path = base / "tess" / f"{speaker}_{name}" / f"{speaker}_back_{name}.wav"
            path.parent.mkdir(parents=True, exist_ok=True)
            sf.write(path, synthetic.take(actor, emotion, 1, 1, 1), 16000, subtype="PCM_16")
    return [f"ravdess={base / 'ravdess'}", f"tess={base / 'tess'}"]


def logreg():
    config = config_lib.load_module(REPO / "configs" / "classical_logreg.py").get_config()
    config.data.fold_size = 2
    config.data.val_speakers = 1
    config.model.pooled = "mfcc:mean,std"
    config.train.progress_bar = False
    return config


def test_matrix_of_shared_classes_with_speaker_independent_in_corpus_cells(roots, tmp_path,
                                                                          monkeypatch):
    cells = matrix.cross_corpus(logreg(), tmp_path, ["ravdess", "ravdess+tess"],
                                      ["ravdess", "tess"], roots)
    assert [(c["train"], c["test"]) for c in cells] == [
        ("ravdess", "ravdess"), ("ravdess", "tess"),
        ("ravdess+tess", "ravdess"), ("ravdess+tess", "tess")]
    assert all(tuple(c["classes"]) == SHARED for c in cells)  # calm: RAVDESS only
    run = json.loads((tmp_path / "train_ravdess" / "config.json").read_text())
    assert run["data"]["task"] == "ravdess8:" + ",".join(SHARED)
    in_corpus, other, _, none = cells
    # fold:0 holds out actors 01 and 02: 7 utterances each once calm is left out
    assert in_corpus["protocol"] == matrix.IN_CORPUS and in_corpus["n"] == 14
    assert in_corpus["speakers"] == ["ravdess/01", "ravdess/02"]
    assert other["protocol"] == matrix.CROSS_CORPUS and other["n"] == 14
    assert other["report"]["labels"] == list(SHARED)
    assert none["n"] == 0 and "holds out no speaker of tess" in none["note"]

    with open(tmp_path / "cross_corpus.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and rows[1]["test"] == "tess"
    table = (tmp_path / "cross_corpus.md").read_text()
    assert table.count("| train \\ test | ravdess | tess |") == 3  # UA, WA, macro-F1
    assert f"| ravdess | {in_corpus['ua']:.3f}* | {other['ua']:.3f} |" in table
    assert "| ravdess+tess |" in table and "| — |" in table and "held out" in table

    def no_work(*args, **kwargs):
        raise AssertionError("a finished cell was computed again")

    monkeypatch.setattr(loop, "train_and_evaluate", no_work)
    monkeypatch.setattr(trained, "Trained", no_work)
    again = matrix.cross_corpus(logreg(), tmp_path, ["ravdess", "ravdess+tess"],
                                      ["ravdess", "tess"], roots)
    assert again == cells


def test_classes_roots_and_split_are_checked(roots, tmp_path):
    config = logreg()
    with pytest.raises(errors.ConfigError, match="calm"):
        matrix.cross_corpus(config, tmp_path, ["ravdess"], ["tess"], roots,
                                  classes=["calm", "sad"])
    with pytest.raises(errors.ConfigError, match="--roots=tess="):
        matrix.cross_corpus(config, tmp_path, ["ravdess"], ["tess"], roots[:1])
    with pytest.raises(errors.ConfigError, match="not name=path"):
        matrix.corpus_roots(config, ["tess"])
    config.data.split = "random"
    config.data.allow_random_split = True
    with pytest.raises(errors.ConfigError, match="held-out speakers"):
        matrix.cross_corpus(config, tmp_path, ["ravdess"], ["tess"], roots)
    assert not list(tmp_path.iterdir())
