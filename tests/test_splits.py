"""Speaker-independent splits: fold layout, validation speakers, each spec form, and the guard."""

import collections
import logging

import pytest

from jax_ser import errors
from jax_ser.data.corpora import Utterance
from jax_ser.protocols import Split, check_speaker_independent, make_split
from jax_ser.protocols.emobox import EMOBOX_RAVDESS_FOLDS
from jax_ser.protocols.fold import speaker_folds

EMOTIONS = ("neutral", "calm", "happy", "sad", "angry", "fearful", "disgust", "surprised")


def ravdess_like(actors=range(1, 21), per_label=1):
    """Every actor says every emotion `per_label` times; odd actors are male, as in RAVDESS."""
    return [Utterance(f"/r/{a:02d}_{e}_{i}.wav", e, f"{a:02d}", "ravdess",
                      "male" if a % 2 else "female")
            for a in actors for e in EMOTIONS for i in range(per_label)]


def iemocap_like():
    return [Utterance(f"/i/Ses0{s}{g}_{e}.wav", e, f"Ses0{s}{g}", "iemocap",
                      {"F": "female", "M": "male"}[g], str(s))
            for s in range(1, 6) for g in "FM" for e in ("neutral", "happy", "sad", "angry")]


def speakers(utterances):
    return sorted({u.speaker for u in utterances})


def assert_partition(split, utterances):
    parts = split.train + split.val + split.test
    assert sorted(u.path for u in parts) == sorted(u.path for u in utterances)
    check_speaker_independent(split)


def test_folds_partition_speakers_in_natural_order():
    utterances = ravdess_like()
    folds = speaker_folds(utterances, 4)
    assert len(folds) == 5
    assert folds[1] == ["ravdess/05", "ravdess/06", "ravdess/07", "ravdess/08"]
    assert sum(folds, []) == [f"ravdess/{a:02d}" for a in range(1, 21)]


def test_folds_numeric_aware_and_remainder_joins_last():
    utterances = [Utterance(f"/{s}.wav", "happy", s, "x") for s in ("10", "2", "1", "9", "11", "3")]
    utterances += [Utterance("/a.wav", "happy", "1", "a")]
    folds = speaker_folds(utterances, 2)
    assert folds == [["a/1", "x/1"], ["x/2", "x/3"], ["x/9", "x/10", "x/11"]]
    assert speaker_folds(utterances, 10) == [["a/1", "x/1", "x/2", "x/3", "x/9", "x/10", "x/11"]]


def test_fold_1_on_ravdess_tests_actors_05_to_08_and_validates_on_19_20():
    utterances = ravdess_like()
    split = make_split(utterances, "fold:1")
    assert speakers(split.test) == ["05", "06", "07", "08"]
    assert speakers(split.val) == ["19", "20"]
    assert collections.Counter(u.gender for u in split.val) == {"male": 8, "female": 8}
    assert len(split.train) == 14 * 8
    assert split.speaker_independent and split.name == "fold:1"
    assert_partition(split, utterances)


@pytest.mark.parametrize("k", range(5))
def test_every_fold_is_speaker_disjoint(k):
    utterances = ravdess_like()
    split = make_split(utterances, f"fold:{k}", val_speakers=3)
    assert len(speakers(split.test)) == 4 and len(speakers(split.val)) == 3
    assert_partition(split, utterances)


def test_val_speakers_alternate_genders_from_the_end():
    genders = {1: "male", 2: "male", 3: "male", 4: "female", 5: "female", 6: "female"}
    utterances = [Utterance(f"/{a}.wav", "sad", f"{a:02d}", "c", g) for a, g in genders.items()]
    split = make_split(utterances, "final", val_speakers=2)
    assert speakers(split.val) == ["03", "06"]
    assert speakers(make_split(utterances, "final", val_speakers=4).val) == ["02", "03", "05", "06"]
    assert speakers(make_split(utterances, "final", val_speakers=5).val) == [
        "02", "03", "04", "05", "06"]


def test_val_speakers_fill_from_the_other_gender_when_one_runs_out():
    genders = {1: "female", 2: "male", 3: "male", 4: "male", 5: "male", 6: "male"}
    utterances = [Utterance(f"/{a}.wav", "sad", f"{a:02d}", "c", g) for a, g in genders.items()]
    assert speakers(make_split(utterances, "final", val_speakers=3).val) == ["01", "05", "06"]


def test_val_speakers_fall_back_to_last_ones_when_a_gender_is_unknown():
    utterances = [Utterance(f"/{a}.wav", "sad", f"{a:02d}", "c", "male") for a in range(1, 5)]
    utterances += [Utterance("/5.wav", "sad", "05", "c", None)]
    assert speakers(make_split(utterances, "final", val_speakers=2).val) == ["04", "05"]


def test_zero_val_speakers_and_too_many():
    utterances = ravdess_like()
    split = make_split(utterances, "fold:0", val_speakers=0)
    assert split.val == [] and len(speakers(split.train)) == 16
    with pytest.raises(ValueError, match="val_speakers=16 leaves no training speaker"):
        make_split(utterances, "fold:0", val_speakers=16)
    with pytest.raises(ValueError, match="val_speakers must be 0 or more"):
        make_split(utterances, "fold:0", val_speakers=-1)
    unknown_gender = [Utterance("/1.wav", "sad", "1", "c"), Utterance("/2.wav", "sad", "2", "c")]
    assert make_split(unknown_gender, "final", val_speakers=0).val == []


def test_loso_by_key_or_bare_id():
    utterances = ravdess_like()
    split = make_split(utterances, "loso:ravdess/07")
    assert speakers(split.test) == ["07"] and speakers(split.val) == ["19", "20"]
    assert make_split(utterances, "loso:07").test == split.test
    assert_partition(split, utterances)


def test_loso_unknown_or_ambiguous_speaker():
    utterances = ravdess_like(actors=range(1, 4))
    with pytest.raises(ValueError, match="'99' is unknown; valid speakers: ravdess/01, ravdess/02"):
        make_split(utterances, "loso:99")
    both = utterances + [Utterance("/t.wav", "sad", "01", "tess", "female")]
    with pytest.raises(ValueError, match=r"ambiguous \(ravdess/01, tess/01\)"):
        make_split(both, "loso:01")


def test_session_holds_out_one_iemocap_session():
    utterances = iemocap_like()
    split = make_split(utterances, "session:3")
    assert {u.session for u in split.test} == {"3"}
    assert speakers(split.test) == ["Ses03F", "Ses03M"]
    assert speakers(split.val) == ["Ses05F", "Ses05M"]
    assert_partition(split, utterances)
    with pytest.raises(ValueError, match="session must be one of: 1, 2, 3, 4, 5"):
        make_split(utterances, "session:6")
    with pytest.raises(ValueError, match="no utterance has a session"):
        make_split(ravdess_like(), "session:1")


def test_final_trains_on_all_but_validation_speakers():
    utterances = ravdess_like()
    split = make_split(utterances, "final")
    assert split.test == [] and speakers(split.val) == ["19", "20"]
    assert len(speakers(split.train)) == 18
    assert_partition(split, utterances)


def test_random_needs_opt_in():
    with pytest.raises(ValueError, match="data.allow_random_split=True"):
        make_split(ravdess_like(), "random")


def test_random_is_stratified_seeded_and_warns(caplog):
    utterances = ravdess_like(per_label=1)  # 20 per label
    with caplog.at_level(logging.WARNING):
        split = make_split(utterances, "random", allow_random=True, seed=0)
    assert "speaker-dependent" in caplog.text
    assert not split.speaker_independent
    for part, size in ((split.train, 16), (split.val, 2), (split.test, 2)):
        assert collections.Counter(u.label for u in part) == {e: size for e in EMOTIONS}
    assert sorted(u.path for u in split.train + split.val + split.test) == sorted(
        u.path for u in utterances)
    assert make_split(utterances, "random", allow_random=True, seed=0) == split
    assert make_split(utterances, "random", allow_random=True, seed=1).test != split.test
    with pytest.raises(ValueError, match="not speaker-independent"):
        check_speaker_independent(split)


def test_guard_names_shared_speakers():
    a, b, c = (Utterance(f"/{s}.wav", "sad", s, "c") for s in ("01", "02", "03"))
    check_speaker_independent(Split("ok", [a], [b], [c], True))
    with pytest.raises(ValueError, match="c/01 in train\\+test; c/02 in val\\+test"):
        check_speaker_independent(Split("bad", [a], [b], [a, b, c], True))


@pytest.mark.parametrize("spec,message", [
    ("fold:5", "fold index must be one of 0..4"),
    ("fold:-1", "fold:K holds out the K-th group .* \\(K from 0\\)"),
    ("fold:x", "fold:K holds out"),
    ("bogus", "unknown protocol 'bogus'; known: emobox, final, fold, loso, manifest, "
              "random, session"),
    ("loso:", "loso:SPEAKER holds out one speaker"),
    ("final:1", "final trains on every speaker"),
])
def test_bad_specs(spec, message):
    with pytest.raises(ValueError, match=message):
        make_split(ravdess_like(), spec)


def test_a_single_fold_leaves_nothing_to_train():
    with pytest.raises(ValueError, match="no training utterances"):
        make_split(ravdess_like(actors=range(1, 4)), "fold:0")


def test_emobox_folds_are_speaker_disjoint_and_cover_the_24_actors():
    utterances = ravdess_like(range(1, 25))
    tested = []
    for k in range(1, 7):
        split = make_split(utterances, f"emobox:{k}", val_speakers=2)
        assert speakers(split.test) == sorted(EMOBOX_RAVDESS_FOLDS[k])
        assert len(speakers(split.val)) == 2 and len(speakers(split.train)) == 18
        assert split.speaker_independent and split.name == f"emobox:{k}"
        assert_partition(split, utterances)
        tested += speakers(split.test)
    assert sorted(tested) == [f"{a:02d}" for a in range(1, 25)]  # each actor tested exactly once
    assert speakers(make_split(utterances, "emobox:1").test) == ["01", "11", "20", "21"]


def test_emobox_fold_missing_actors_is_named(caplog):
    utterances = ravdess_like(range(1, 21))  # the development copy: actors 01-20 only
    with pytest.raises(ValueError, match="emobox:6.*actor 22 is not in the data"):
        make_split(utterances, "emobox:6")
    with pytest.raises(ValueError, match="emobox:1.*actor 21 is not"):
        make_split(utterances, "emobox:1")
    with caplog.at_level(logging.WARNING, logger="jax_ser.protocols.emobox"):
        split = make_split(utterances, "emobox:2")  # actors 04 10 12 14 are all there
    assert speakers(split.test) == ["04", "10", "12", "14"]
    assert "21, 22, 23, 24 absent" in caplog.text
    with pytest.raises(ValueError, match="emobox:1 .. emobox:6"):
        make_split(utterances, "emobox:x")
    with pytest.raises(ValueError, match="no RAVDESS actor"):
        make_split(iemocap_like(), "emobox:2")


def test_eval_corpus_scores_one_corpus_and_trains_on_all():
    ravdess = ravdess_like()
    tess = [Utterance(f"/t/{s}_{e}.wav", e, s, "tess", "female")
            for s in ("OAF", "YAF") for e in EMOTIONS if e != "calm"]
    split = make_split(ravdess + tess, "fold:1", eval_corpus="ravdess")
    assert_partition(split, ravdess + tess)
    assert speakers(split.test) == ["05", "06", "07", "08"]
    assert {u.corpus for u in split.test + split.val} == {"ravdess"}
    assert all(u in split.train for u in tess)
    # Folds count the scored corpus's speakers only: 5 RAVDESS folds, not 6 with TESS's two.
    with pytest.raises(ValueError, match="0..4"):
        make_split(ravdess + tess, "fold:5", eval_corpus="ravdess")
    with pytest.raises(ValueError, match="eval corpus 'crema_d' has no utterances"):
        make_split(ravdess + tess, "fold:0", eval_corpus="crema_d")


def test_eval_corpus_must_be_a_corpus_read():
    from jax_ser import config as config_lib
    from tests import tiny_config

    config = tiny_config.get_config()
    config.data.corpus, config.data.root = "ravdess,tess", "/r,/t"
    config.data.eval_corpus = "ravdes"
    with pytest.raises(errors.ConfigError, match="config.data.eval_corpus: 'ravdes'"):
        config_lib.validate(config)
