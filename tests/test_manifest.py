"""`data.corpus=manifest`: CSV/JSONL manifests and EmoBox corpus folders, and `manifest:K`."""

import csv
import json
import logging
import os
from pathlib import Path

import pytest

from jax_ser import protocols
from jax_ser.data import corpora, load
from jax_ser.data.corpora import Utterance
from jax_ser.errors import DataError
from jax_ser.protocols.emobox import EMOBOX_RAVDESS_FOLDS
from tests import tiny_config

SHARED_RAVDESS = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess"
COLUMNS = ("path", "label", "speaker", "gender", "corpus")
# data/ravdess/label_map.json of github.com/emo-box/EmoBox, verbatim.
RAVDESS_LABEL_MAP = {"Angry": "Angry", "Surprised": "Surprise", "Sad": "Sad", "Disgust": "Disgust",
                     "Happy": "Happy", "Calm": "Calm", "Neutral": "Neutral", "Fearful": "Fear"}
RAVDESS_EMOTIONS = {"01": "Neutral", "02": "Calm", "03": "Happy", "04": "Sad", "05": "Angry",
                    "06": "Fearful", "07": "Disgust", "08": "Surprised"}


def write_manifest(path: Path, rows: list[dict]) -> Path:
    """`rows` as CSV (columns of the first row) or JSONL, by the file's extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        if path.suffix == ".csv":
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        else:
            f.writelines(json.dumps(row) + "\n" for row in rows)
    return path


def touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def write_emobox(emobox: Path, corpus: str, rows: list[tuple], test_folds: dict[int, list[str]],
                 label_map: dict[str, str]) -> Path:
    """An EmoBox checkout with `rows` (key, wav, emo, speaker or None) in data/<corpus>/, in the
    published format: fold_K/<corpus>_{train,test}_fold_K.jsonl, data.seg.wrd.stm (the speakers)
    and label_map.json; the audio, empty, under downloads/."""
    folder = emobox / "data" / corpus
    folder.mkdir(parents=True)

    def line(key, wav, emo, _):
        return json.dumps({"key": key, "dataset": corpus, "wav": wav, "type": "raw",
                           "sample_rate": 48000, "num_frame": 179379.0, "task": "category",
                           "length": 3.7370625, "emo": emo, "channel": 1}) + "\n"

    for fold, test_keys in test_folds.items():
        (folder / f"fold_{fold}").mkdir()
        for part, keep in (("test", True), ("train", False)):
            with open(folder / f"fold_{fold}" / f"{corpus}_{part}_fold_{fold}.jsonl", "w") as f:
                f.writelines(line(*row) for row in rows if (row[0] in test_keys) == keep)
    with open(folder / "data.seg.wrd.stm", "w") as f:
        f.writelines(f"{key} 1 {spk} 0 3.7 <id={key},lang=en,spk={spk},emotion={emo}> {emo}\n"
                     for key, _, emo, spk in rows if spk is not None)
    (folder / "label_map.json").write_text(json.dumps(label_map, indent=4))
    touch(emobox, *(wav for _, wav, _, _ in rows))
    return folder


def emobox_ravdess_rows(actors, takes=("03-01-06-01-02-01", "03-01-08-02-02-01")) -> list[tuple]:
    """EmoBox's RAVDESS rows: key ravdess-<name>, wav under downloads/ravdess/audio/...."""
    rows = []
    for actor in actors:
        for take in takes:
            name = f"{take}-{actor}"
            wav = f"downloads/ravdess/audio/Audio_Speech_Actors_01-24/Actor_{actor}/{name}.wav"
            rows.append((f"ravdess-{name}", wav, RAVDESS_EMOTIONS[take[6:8]], actor))
    return rows


def test_missing_manifest_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere.csv"):
        corpora.read("manifest", str(tmp_path / "nowhere.csv"))


@pytest.mark.parametrize("extension", [".csv", ".jsonl"])
def test_manifest_of_ravdess_is_the_native_reader_from_any_folder(tiny_corpus, tmp_path,
                                                                  monkeypatch, extension):
    native = corpora.read("ravdess", str(tiny_corpus))
    manifest = tmp_path / "lists" / f"ravdess{extension}"
    write_manifest(manifest, [
        {"path": os.path.relpath(u.path, manifest.parent), "label": u.label, "speaker": u.speaker,
         "gender": u.gender, "corpus": u.corpus} for u in native])
    monkeypatch.chdir(tmp_path)
    assert corpora.read("manifest", f"lists/ravdess{extension}") == native
    monkeypatch.chdir(tiny_corpus)
    assert corpora.read("manifest", str(manifest)) == native


def test_spellings_genders_default_corpus_absolute_paths_and_folds(tmp_path):
    touch(tmp_path, "a.wav", "b.wav", "c.flac", "d.wav", "sub/e.wav")
    rows = [
        {"path": "a.wav", "label": "ANG", "speaker": "s1", "gender": "F", "fold": "1"},
        {"path": "b.wav", "label": "Happiness", "speaker": "s1", "gender": "female", "fold": "1"},
        {"path": "c.flac", "label": " fear ", "speaker": "s2", "gender": "m", "fold": "2"},
        {"path": str(tmp_path / "d.wav"), "label": "sur", "speaker": "s2", "gender": "",
         "fold": "2"},
        {"path": "./sub/../sub/e.wav", "label": "exc", "speaker": "s3", "gender": "M",
         "fold": ""},
    ]
    utterances = corpora.read("manifest", str(write_manifest(tmp_path / "m.csv", rows)))
    assert [(os.path.relpath(u.path, tmp_path), u.label, u.speaker_key, u.gender, u.fold)
            for u in utterances] == [
        ("a.wav", "angry", "manifest/s1", "female", "1"),
        ("b.wav", "happy", "manifest/s1", "female", "1"),
        ("c.flac", "fearful", "manifest/s2", "male", "2"),
        ("d.wav", "surprised", "manifest/s2", None, "2"),
        ("sub/e.wav", "excited", "manifest/s3", "male", None),
    ]


def test_unknown_labels_and_missing_files_are_skipped_with_their_lines(tmp_path, caplog):
    touch(tmp_path, "a.wav", "b.wav", "c.wav")
    manifest = write_manifest(tmp_path / "m.jsonl", [
        {"path": "a.wav", "label": "neu", "speaker": 1},
        {"path": "b.wav", "label": "contempt", "speaker": 1},
        {"path": "c.wav", "label": "contempt", "speaker": 2},
        {"path": "gone.wav", "label": "sad", "speaker": 2},
    ])
    with caplog.at_level(logging.WARNING):
        utterances = corpora.read("manifest", str(manifest))
    assert [(os.path.basename(u.path), u.label, u.speaker) for u in utterances] == [
        ("a.wav", "neutral", "1")]
    assert "2 row(s) labelled 'contempt'" in caplog.text and "m.jsonl:2; " in caplog.text
    assert "1 row(s) whose audio file does not exist" in caplog.text
    assert f"m.jsonl:4: {tmp_path / 'gone.wav'}" in caplog.text


@pytest.mark.parametrize("name, content, error", [
    ("m.csv", "path,label\na.wav,sad\n", r"m.csv: no column speaker \(its header: path, label\)"),
    ("m.csv", "path,label,speaker\na.wav,sad,01\nb.wav,sad\n", r"m.csv:3: empty speaker"),
    ("m.csv", "path,label,speaker\na.wav,sad,01\n./a.wav,sad,01\n",
     r"m.csv:3: .*a.wav is listed twice \(also on .*m.csv:2\)"),
    ("m.jsonl", '{"path": "a.wav", "label": "sad", "speaker": "01"}\n{"path": "b.wav"}\n',
     r"m.jsonl:2: no label, speaker key"),
    ("m.jsonl", '{"key": "k", "dataset": "ravdess", "wav": "a.wav", "emo": "Sad"}\n',
     r"EmoBox fold list: set data.root to its corpus folder"),
    ("m.jsonl", "{not json\n", r"m.jsonl:1: not JSON"),
    ("m.csv", "path,label,speaker\nb.wav,contempt,01\nc.wav,sad,01\n",
     (r"no usable utterance among 2 row\(s\) \(1 with an unknown label, 1 with a missing "
      r"audio file; relative paths resolve against ")),
    ("m.txt", "a.wav sad 01\n", r"give a .csv or .jsonl file, or an EmoBox corpus folder"),
])
def test_manifest_that_cannot_be_read_is_a_data_error(tmp_path, name, content, error):
    touch(tmp_path, "a.wav", "b.wav")
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=error):
        corpora.read("manifest", str(tmp_path / name))


def test_emobox_ravdess_folder_has_emobox_folds(tmp_path):
    actors = [f"{a:02d}" for a in range(1, 25)]
    rows = emobox_ravdess_rows(actors)
    test_folds = {k: [key for key, _, _, actor in rows if actor in fold]
                  for k, fold in EMOBOX_RAVDESS_FOLDS.items()}
    folder = write_emobox(tmp_path / "EmoBox", "ravdess", rows, test_folds, RAVDESS_LABEL_MAP)
    utterances = corpora.read("manifest", str(folder))
    assert len(utterances) == 48
    assert {u.corpus for u in utterances} == {"ravdess"}
    assert {u.label for u in utterances} == {"fearful", "surprised"}
    assert utterances[0].path == str(tmp_path / "EmoBox" / rows[0][1])
    runs = protocols.runs(utterances, "manifest", protocols.Options())
    assert runs == [str(k) for k in range(1, 7)]
    for k, fold_actors in EMOBOX_RAVDESS_FOLDS.items():
        split = protocols.make_split(utterances, f"manifest:{k}")
        assert {u.speaker_key for u in split.test} == {f"ravdess/{a}" for a in fold_actors}
        assert {u.fold for u in split.test} == {str(k)}
        emobox = protocols.make_split(utterances, f"emobox:{k}")
        assert (split.train, split.val, split.test) == (emobox.train, emobox.val, emobox.test)


def test_cross_validate_reads_an_emobox_folder_as_configured(tmp_path):
    rows = emobox_ravdess_rows(["01", "02", "03", "04"], takes=("03-01-05-01-01-01",))
    folder = write_emobox(tmp_path / "EmoBox", "ravdess", rows,
                          {1: [rows[0][0], rows[1][0]], 2: [rows[2][0]]}, RAVDESS_LABEL_MAP)
    config = tiny_config.get_config()
    config.data.corpus, config.data.root, config.data.split = "manifest", str(folder), "manifest"
    config.data.val_speakers = 0
    protocols.check_config(config)
    load.check_config(config)
    utterances = load.read_utterances(config)
    assert protocols.runs(utterances, "manifest", protocols.Options.of(config)) == ["1", "2"]
    split = protocols.make_split(utterances, "manifest:2", val_speakers=0)
    assert [u.speaker for u in split.test] == ["03"]
    assert sorted(u.speaker for u in split.train) == ["01", "02", "04"]  # 04: in no test list


def test_emobox_label_codes_unknown_speakers_and_shared_speakers(tmp_path, caplog):
    """SAVEE-style codes go through label_map.json; a key without a speaker in the stm is
    skipped; folds that share speakers (as EmoBox's EMO-DB folds do) are refused clearly."""
    rows = [("savee-DC-sa01", "downloads/savee/DC_sa01.wav", "sa", "DC"),
            ("savee-DC-su01", "downloads/savee/DC_su01.wav", "su", "DC"),
            ("savee-JE-sa01", "downloads/savee/JE_sa01.wav", "sa", "JE"),
            ("savee-JE-n01", "downloads/savee/JE_n01.wav", "n", None)]
    label_map = {"a": "Angry", "d": "Disgust", "f": "Fear", "h": "Happy", "n": "Neutral",
                 "sa": "Sad", "su": "Surprise"}
    folder = write_emobox(tmp_path / "EmoBox", "savee", rows,
                          {1: ["savee-DC-sa01", "savee-JE-sa01"], 2: ["savee-DC-su01"]},
                          label_map)
    with caplog.at_level(logging.WARNING):
        utterances = corpora.read("manifest", str(folder))
    assert [(u.label, u.speaker, u.fold) for u in utterances] == [
        ("sad", "DC", "1"), ("surprised", "DC", "2"), ("sad", "JE", "1")]
    assert "1 utterance(s) that data.seg.wrd.stm gives no speaker" in caplog.text
    assert "savee_train_fold_1.jsonl:2" in caplog.text  # JE_n01, second line of fold 1's train
    with pytest.raises(ValueError, match=r"manifest:2': fold 2 is not speaker-independent: "
                                         r"savee/DC also in fold 1"):
        protocols.make_split(utterances, "manifest:2", val_speakers=0)


def test_fold_column_protocol_orders_folds_and_needs_them():
    def utterance(speaker, fold):
        return Utterance(f"/{speaker}_{fold}.wav", "sad", speaker, "c", fold=fold)

    utterances = [utterance("a", "10"), utterance("b", "2"), utterance("c", "x"),
                  utterance("d", None), utterance("e", "2")]
    assert protocols.runs(utterances, "manifest", protocols.Options()) == ["2", "10", "x"]
    split = protocols.make_split(utterances, "manifest:2", val_speakers=1)
    assert sorted(u.speaker for u in split.test) == ["b", "e"]
    assert protocols.run_name("manifest", "2", 0) == "manifest2_seed0"
    with pytest.raises(ValueError, match="fold must be one of: 2, 10, x"):
        protocols.make_split(utterances, "manifest:3")
    with pytest.raises(ValueError, match="c/d also in no fold"):
        protocols.make_split(utterances + [utterance("d", "x")], "manifest:x")
    with pytest.raises(ValueError, match="needs folds: a fold column"):
        protocols.runs([utterance("a", None)], "manifest", protocols.Options())


def test_real_ravdess_actor_in_emobox_layout(tmp_path):
    """EmoBox's layout over a real RAVDESS copy: its audio folder linked under downloads/."""
    if not (SHARED_RAVDESS / "Actor_01").is_dir():
        pytest.skip(f"real RAVDESS not found at {SHARED_RAVDESS}")
    native = corpora.read("ravdess", str(SHARED_RAVDESS / "Actor_01"))
    audio = tmp_path / "EmoBox" / "downloads" / "ravdess" / "audio"
    audio.mkdir(parents=True)
    (audio / "Audio_Speech_Actors_01-24").symlink_to(SHARED_RAVDESS)
    folder = tmp_path / "EmoBox" / "data" / "ravdess"
    (folder / "fold_1").mkdir(parents=True)
    with open(folder / "fold_1" / "ravdess_test_fold_1.jsonl", "w") as f:
        for u in native:
            name = os.path.basename(u.path)
            f.write(json.dumps({"key": f"ravdess-{name[:-4]}", "dataset": "ravdess",
                                "wav": f"downloads/ravdess/audio/Audio_Speech_Actors_01-24/"
                                       f"Actor_01/{name}",
                                "emo": RAVDESS_EMOTIONS[name[6:8]]}) + "\n")
    (folder / "data.seg.wrd.stm").write_text(
        "".join(f"ravdess-{os.path.basename(u.path)[:-4]} 1 01 0 3.0 <> x\n" for u in native))
    (folder / "label_map.json").write_text(json.dumps(RAVDESS_LABEL_MAP))
    via_emobox = corpora.read("manifest", str(folder))
    assert [(os.path.basename(u.path), u.label, u.speaker_key) for u in via_emobox] == [
        (os.path.basename(u.path), u.label, u.speaker_key) for u in native]
    assert {u.fold for u in via_emobox} == {"1"}
