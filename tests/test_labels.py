"""Task maps: class order, merges (excited -> happy, calm -> neutral) and dropped labels."""

import pytest

from jax_ser.data import labels
from jax_ser.data.corpora import Utterance


def utterances(*names):
    return [Utterance(f"/{i}.wav", name, "s", "c") for i, name in enumerate(names)]


def test_every_task_maps_vocabulary_to_vocabulary():
    for mapping in labels.TASKS.values():
        assert set(mapping) <= set(labels.VOCABULARY)
        assert set(mapping.values()) <= set(labels.VOCABULARY)


@pytest.mark.parametrize("task,classes", [
    ("ravdess8", labels.VOCABULARY[:8]),
    ("ravdess7", ("neutral", "happy", "sad", "angry", "fearful", "disgust", "surprised")),
    ("iemocap4", ("neutral", "happy", "sad", "angry")),
    ("emodb7", ("neutral", "happy", "sad", "angry", "fearful", "disgust", "boredom")),
    ("crema6", ("neutral", "happy", "sad", "angry", "fearful", "disgust")),
])
def test_task_classes_in_vocabulary_order(task, classes):
    assert labels.task_classes(task) == classes


def test_iemocap4_merges_excited_and_drops_the_rest():
    mapped = labels.apply_task(
        utterances("excited", "frustrated", "neutral", "other", "happy", "surprised", "angry"),
        "iemocap4")
    assert [(u.path, u.label) for u in mapped] == [
        ("/0.wav", "happy"), ("/2.wav", "neutral"), ("/4.wav", "happy"), ("/6.wav", "angry")]


def test_ravdess7_merges_calm_into_neutral():
    mapped = labels.apply_task(utterances("calm", "neutral", "surprised", "boredom"), "ravdess7")
    assert [u.label for u in mapped] == ["neutral", "neutral", "surprised"]
    assert [u.label for u in labels.apply_task(utterances("calm"), "ravdess8")] == ["calm"]


def test_unknown_task_lists_known_ones():
    with pytest.raises(ValueError, match="unknown task 'iemocap5'.*ravdess8, ravdess7, iemocap4"):
        labels.task_classes("iemocap5")
    with pytest.raises(ValueError, match="unknown task"):
        labels.apply_task([], "nope")


def test_task_kept_to_listed_classes():
    assert labels.task_classes("ravdess8:sad,neutral,angry") == ("neutral", "sad", "angry")
    mapped = labels.apply_task(utterances("calm", "neutral", "happy", "sad"),
                               "ravdess7:neutral,sad")
    assert [(u.path, u.label) for u in mapped] == [
        ("/0.wav", "neutral"), ("/1.wav", "neutral"), ("/3.wav", "sad")]
    with pytest.raises(ValueError, match="not: calm"):
        labels.task_classes("ravdess7:neutral,calm")
    with pytest.raises(ValueError, match="two or more"):
        labels.task_classes("ravdess8:sad")
