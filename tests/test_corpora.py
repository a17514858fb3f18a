"""Corpus readers on small trees named like each original release, oddities included."""

import collections
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from jax_ser.data import corpora
from jax_ser.data.corpora import Utterance

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def touch(root: Path, *names: str) -> None:
    """Empty files: readers parse names only, no audio is decoded."""
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()


def summary(utterances: list[Utterance]) -> list[tuple]:
    return [(os.path.basename(u.path), u.label, u.speaker, u.gender, u.session)
            for u in utterances]


def test_audio_files_accepts_every_extension_in_any_case_sorted(tmp_path):
    touch(tmp_path, "b/x.WAV", "a/y.flac", "a/z.Aiff", "c.aif", "d.ogg", "e.mp3",
          "notes.txt", "a/._y.flac", "f.wav.bak")
    found = [os.path.relpath(p, tmp_path) for p in corpora.audio_files(str(tmp_path))]
    assert found == ["a/y.flac", "a/z.Aiff", "b/x.WAV", "c.aif", "d.ogg", "e.mp3"]
    assert all(os.path.isabs(p) for p in corpora.audio_files(str(tmp_path)))


def test_unknown_corpus_lists_known_ones(tmp_path):
    with pytest.raises(ValueError, match="unknown corpus 'ravdes'.*crema_d.*ravdess"):
        corpora.read("ravdes", str(tmp_path))


@pytest.mark.parametrize("name", [n for n in corpora.names() if n != "synthetic"])
def test_missing_root_is_named(tmp_path, name):
    missing = str(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="nowhere"):
        corpora.read(name, missing)


def test_ravdess_speech_only_with_warnings_for_bad_names(tmp_path, caplog):
    touch(tmp_path,
          "Actor_01/03-01-01-01-01-01-01.wav",
          "Actor_01/03-01-02-02-01-02-01.flac",
          "Actor_01/03-02-03-01-01-01-01.wav",  # song
          "Actor_01/01-01-03-01-01-01-01.wav",  # audio-video modality
          "Actor_12/03-01-08-02-02-01-12.AIFF",
          "Actor_12/03-01-09-01-01-01-12.wav",  # no emotion 09
          "Actor_12/readme.wav",
          "Actor_12/notes.txt")
    # A real stereo file: the reader must not care about the content.
    (tmp_path / "Actor_24").mkdir()
    sf.write(tmp_path / "Actor_24/03-01-05-02-01-01-24.wav", np.zeros((160, 2)), 16000)
    with caplog.at_level(logging.WARNING):
        utterances = corpora.read("ravdess", str(tmp_path))
    assert summary(utterances) == [
        ("03-01-01-01-01-01-01.wav", "neutral", "01", "male", None),
        ("03-01-02-02-01-02-01.flac", "calm", "01", "male", None),
        ("03-01-08-02-02-01-12.AIFF", "surprised", "12", "female", None),
        ("03-01-05-02-01-01-24.wav", "angry", "24", "female", None),
    ]
    assert {u.corpus for u in utterances} == {"ravdess"}
    assert [u.speaker_key for u in utterances][-1] == "ravdess/24"
    warned = caplog.text
    assert "03-01-09-01-01-01-12.wav" in warned and "readme.wav" in warned
    assert "03-02-03" not in warned and "01-01-03" not in warned


def test_crema_d_with_and_without_demographics(tmp_path, caplog):
    touch(tmp_path,
          "AudioWAV/1001_DFA_ANG_XX.wav",
          "AudioWAV/1001_IEO_HAP_HI.wav",
          "AudioWAV/1002_TIE_SAD_LO.wav",
          "AudioWAV/1091_WSI_NEU_MD.wav",
          "AudioWAV/1091_WSI_XYZ_MD.wav",
          "AudioMP3/1001_DFA_ANG_XX.mp3")  # same recording in the full release: not read twice
    utterances = corpora.read("crema_d", str(tmp_path))
    assert summary(utterances) == [
        ("1001_DFA_ANG_XX.wav", "angry", "1001", None, None),
        ("1001_IEO_HAP_HI.wav", "happy", "1001", None, None),
        ("1002_TIE_SAD_LO.wav", "sad", "1002", None, None),
        ("1091_WSI_NEU_MD.wav", "neutral", "1091", None, None),
    ]
    assert "1091_WSI_XYZ_MD.wav" in caplog.text
    (tmp_path / "VideoDemographics.csv").write_text(
        "ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
        "1002,21,Female,Caucasian,Not Hispanic\n")
    genders = [u.gender for u in corpora.read("crema_d", str(tmp_path))]
    assert genders == ["male", "male", "female", None]


def test_tess_surprise_oa_prefix_mixed_case_and_folder_fallback(tmp_path, caplog):
    touch(tmp_path,
          "OAF_angry/OAF_back_angry.wav",
          "OAF_Pleasant_surprise/OAF_back_ps.wav",
          "OAF_neutral/OA_bite_neutral.wav",
          "YAF_sad/YAF_germ_Sad.wav",
          "YAF_fear/YAF_dog_fear.flac",
          "YAF_happy/YAF_kite.wav",  # no emotion field: taken from the folder
          "misc/some_file.wav")
    utterances = corpora.read("tess", str(tmp_path))
    assert summary(utterances) == [
        ("OAF_back_ps.wav", "surprised", "OAF", "female", None),
        ("OAF_back_angry.wav", "angry", "OAF", "female", None),
        ("OA_bite_neutral.wav", "neutral", "OAF", "female", None),
        ("YAF_dog_fear.flac", "fearful", "YAF", "female", None),
        ("YAF_kite.wav", "happy", "YAF", "female", None),
        ("YAF_germ_Sad.wav", "sad", "YAF", "female", None),
    ]
    assert "some_file.wav" in caplog.text


def test_savee_original_and_flattened_layouts(tmp_path, caplog):
    touch(tmp_path / "orig",
          "AudioData/DC/a01.wav", "AudioData/JE/sa15.wav", "AudioData/JK/n30.wav",
          "AudioData/KL/su03.wav", "AudioData/XX/a01.wav")
    touch(tmp_path / "flat", "ALL/DC_h05.wav", "ALL/JE_f12.wav", "ALL/KL_d01.wav")
    original = corpora.read("savee", str(tmp_path / "orig"))
    assert [(u.speaker, u.label) for u in original] == [
        ("DC", "angry"), ("JE", "sad"), ("JK", "neutral"), ("KL", "surprised")]
    assert "XX/a01.wav" in caplog.text
    flat = corpora.read("savee", str(tmp_path / "flat"))
    assert [(u.speaker, u.label) for u in flat] == [
        ("DC", "happy"), ("JE", "fearful"), ("KL", "disgust")]
    assert {u.gender for u in original + flat} == {"male"}


def test_emodb_letters_and_genders(tmp_path, caplog):
    touch(tmp_path, "wav/03a01Fa.wav", "wav/08b10Tc.wav", "wav/16a07Lb.wav", "wav/11a02Wd.wav",
          "wav/09b03Ea.wav", "wav/13a05Aa.wav", "wav/15b01Nb.wav", "wav/03a01Xa.wav")
    utterances = corpora.read("emodb", str(tmp_path))
    assert [(u.speaker, u.label, u.gender) for u in utterances] == [
        ("03", "happy", "male"), ("08", "sad", "female"), ("09", "disgust", "female"),
        ("11", "angry", "male"), ("13", "fearful", "female"), ("15", "neutral", "male"),
        ("16", "boredom", "female")]
    assert "03a01Xa.wav" in caplog.text


def write_iemocap(root: Path) -> None:
    emo = root / "Session1/dialog/EmoEvaluation"
    emo.mkdir(parents=True)
    (emo / "Ses01F_impro01.txt").write_text(
        "% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n"
        "[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]\n"
        "C-E2:\tNeutral;\t()\n"
        "[10.0100 - 11.3925]\tSes01F_impro01_F001\txxx\t[2.5000, 2.5000, 2.5000]\n"
        "[14.8872 - 18.0175]\tSes01F_impro01_M002\tfru\t[2.5000, 3.5000, 3.5000]\n"
        "[19.2900 - 20.7875]\tSes01F_impro01_M003\texc\t[3.0000, 3.0000, 3.0000]\n")
    (emo / "Categorical").mkdir()
    (emo / "Categorical/Ses01F_impro01_e2_cat.txt").write_text("Ses01F_impro01_F000 :Neutral;\n")
    touch(root / "Session1/sentences/wav/Ses01F_impro01",
          "Ses01F_impro01_F000.wav", "Ses01F_impro01_F001.wav", "Ses01F_impro01_M002.wav")
    emo = root / "Session2/dialog/EmoEvaluation"
    emo.mkdir(parents=True)
    (emo / "Ses02M_script01_1.txt").write_text(
        "[1.0 - 2.0]\tSes02M_script01_1_F005\tang\t[1.5000, 4.0000, 4.0000]\n")
    touch(root / "Session2/sentences/wav/Ses02M_script01_1", "Ses02M_script01_1_F005.flac")


def test_iemocap_labels_sessions_and_missing_audio(tmp_path, caplog):
    write_iemocap(tmp_path)
    with caplog.at_level(logging.WARNING):
        utterances = corpora.read("iemocap", str(tmp_path))
    assert summary(utterances) == [
        ("Ses01F_impro01_F000.wav", "neutral", "Ses01F", "female", "1"),
        ("Ses01F_impro01_M002.wav", "frustrated", "Ses01M", "male", "1"),
        ("Ses02M_script01_1_F005.flac", "angry", "Ses02F", "female", "2"),
    ]
    assert "Ses01F_impro01_M003" in caplog.text
    assert "F001" not in caplog.text  # xxx is dropped without a warning


def test_iemocap_root_without_sessions(tmp_path):
    with pytest.raises(FileNotFoundError, match="Session1"):
        corpora.read("iemocap", str(tmp_path))


def test_synthetic_reads_a_completed_cache(tmp_path, monkeypatch):
    cache = tmp_path / "synthetic_v1"
    touch(cache, "COMPLETE", "Actor_01/03-01-05-01-01-01-01.wav",
          "Actor_02/03-01-02-01-02-02-02.wav")
    expected = [("angry", "01", "male"), ("calm", "02", "female")]
    utterances = corpora.read("synthetic", str(cache))
    assert [(u.label, u.speaker, u.gender) for u in utterances] == expected
    assert {u.corpus for u in utterances} == {"synthetic"}
    monkeypatch.setenv("JAX_SER_CACHE", str(tmp_path))
    assert corpora.read("synthetic", "") == utterances


def test_real_ravdess_and_tess():
    if not (SHARED_DATA / "ravdess").is_dir() or not (SHARED_DATA / "tess").is_dir():
        pytest.skip(f"real corpora not found under {SHARED_DATA}")
    ravdess = corpora.read("ravdess", str(SHARED_DATA / "ravdess"))
    assert len(ravdess) == 1200
    assert len({u.speaker for u in ravdess}) == 20
    assert collections.Counter(u.gender for u in ravdess) == {"male": 600, "female": 600}
    counts = collections.Counter(u.label for u in ravdess)
    assert counts == {"neutral": 80, **{e: 160 for e in ("calm", "happy", "sad", "angry",
                                                           "fearful", "disgust", "surprised")}}
    tess = corpora.read("tess", str(SHARED_DATA / "tess"))
    assert len(tess) == 2798  # two non-original files were left out of this copy (README)
    assert collections.Counter(u.speaker for u in tess) == {"OAF": 1399, "YAF": 1399}
    assert collections.Counter(u.label for u in tess) == {
        "neutral": 400, "happy": 400, "fearful": 400, "disgust": 400, "surprised": 400,
        "angry": 399, "sad": 399}
