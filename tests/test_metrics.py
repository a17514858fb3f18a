"""Metrics against hand-worked values, edge cases of small folds, and the confusion-matrix PNG."""

import json
import warnings

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from jax_ser.evaluate import metrics

LABELS = ["angry", "happy", "sad"]
# Confusion matrix (rows true): [[2, 1, 0], [0, 1, 1], [0, 0, 1]].
Y_TRUE = [0, 0, 0, 1, 1, 2]
PROBS = [
    [0.75, 0.15, 0.10],  # correct, confidence 0.75
    [0.55, 0.35, 0.10],  # correct, 0.55
    [0.30, 0.62, 0.08],  # wrong, 0.62
    [0.20, 0.70, 0.10],  # correct, 0.70
    [0.10, 0.42, 0.48],  # wrong, 0.48
    [0.05, 0.10, 0.85],  # correct, 0.85
]


@pytest.fixture(scope="module")
def report():
    return metrics.classification_report(np.array(Y_TRUE), np.array(PROBS), LABELS)


def test_hand_worked_accuracies(report):
    assert report["n"] == 6
    assert report["wa"] == pytest.approx(4 / 6)
    assert report["ua"] == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    # F1 per class: precision 1, 1/2, 1/2 and recall 2/3, 1/2, 1.
    assert report["macro_f1"] == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
    assert report["confusion_matrix"] == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert report["labels"] == LABELS
    assert report["per_class"]["happy"] == pytest.approx(
        {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2}
    )
    assert report["per_class"]["angry"]["precision"] == 1.0
    assert report["per_class"]["sad"]["support"] == 1


def test_hand_worked_probabilistic_metrics(report):
    # One-vs-rest AUC: angry and sad separate perfectly; happy ranks 7 of 8 pairs right.
    assert report["roc_auc"] == pytest.approx((1.0 + 7 / 8 + 1.0) / 3)
    p_true = [0.75, 0.55, 0.30, 0.70, 0.42, 0.85]
    assert report["nll"] == pytest.approx(-np.mean(np.log(p_true)))
    # Each confidence falls in its own 1/15-wide bin, so ECE is the mean |correct - confidence|.
    gaps = [0.25, 0.45, 0.62, 0.30, 0.48, 0.15]
    assert report["ece"] == pytest.approx(np.mean(gaps))


def test_ece_averages_within_a_bin():
    probs = np.array([[0.9, 0.1]] * 4)
    report = metrics.classification_report(np.array([0, 0, 0, 1]), probs, ["a", "b"])
    assert report["ece"] == pytest.approx(abs(0.75 - 0.9))


def test_ua_differs_from_wa_on_imbalanced_data():
    y_true = np.array([0] * 9 + [1])
    probs = np.tile([0.8, 0.2], (10, 1))
    report = metrics.classification_report(y_true, probs, ["neutral", "angry"])
    assert report["wa"] == pytest.approx(0.9)
    assert report["ua"] == pytest.approx(0.5)
    assert report["ua"] == pytest.approx(balanced_accuracy_score(y_true, probs.argmax(1)))


def test_perfect_predictions():
    y_true = np.array([0, 1, 2, 2, 1, 0])
    report = metrics.classification_report(y_true, np.eye(3)[y_true], LABELS)
    for key in ("wa", "ua", "macro_f1", "roc_auc"):
        assert report[key] == 1.0
    assert report["nll"] == pytest.approx(0.0, abs=1e-6)
    assert report["ece"] == pytest.approx(0.0)


def test_missing_class_in_y_true():
    y_true = np.array([0, 1, 2, 2])
    probs = np.eye(4)[[0, 1, 2, 3]] * 0.7 + 0.075
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = metrics.classification_report(y_true, probs, ["a", "b", "c", "d"])
    assert report["ua"] == pytest.approx((1 + 1 + 0.5) / 3)
    with pytest.warns(UserWarning, match="not in y_true"):
        assert report["ua"] == pytest.approx(balanced_accuracy_score(y_true, probs.argmax(1)))
    # Macro F1 counts the absent class as 0 (F1 of a, b, c, d: 1, 1, 2/3, 0).
    assert report["macro_f1"] == pytest.approx((1 + 1 + 2 / 3 + 0) / 4)
    assert report["per_class"]["d"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0}
    # AUC over a, b, c only; c's second positive (0.075) ties both negatives: (2 + 2 * 0.5) / 4.
    assert report["roc_auc"] == pytest.approx((1 + 1 + 0.75) / 3)


def test_single_class_has_no_auc():
    probs = np.tile([0.6, 0.4], (3, 1))
    report = metrics.classification_report(np.zeros(3, int), probs, ["a", "b"])
    assert report["roc_auc"] is None
    assert report["ua"] == 1.0


def test_float32_softmax_probs():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 5)).astype(np.float32)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y_true = rng.integers(0, 5, size=50)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = metrics.classification_report(y_true, probs, list("abcde"))
    assert report["nll"] == pytest.approx(-np.mean(np.log(probs[np.arange(50), y_true])), rel=1e-5)


def test_probabilities_rounded_as_in_predictions_files_score_without_warning():
    """Ensembles and re-evaluation average probabilities read back from predictions_*.jsonl,
    rounded to 6 decimals: their sums miss one by more than log_loss allows in float64."""
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(40, 8))
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 6)
    assert np.abs(probs.sum(axis=1) - 1).max() > 1e-7
    y_true = rng.integers(0, 8, size=40)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = metrics.classification_report(y_true, probs, list("abcdefgh"))
    assert report["nll"] == pytest.approx(-np.mean(np.log(probs[np.arange(40), y_true])),
                                          abs=1e-5)


def test_report_is_json_serialisable(report):
    assert json.loads(json.dumps(report)) == report
    probs = np.tile([0.6, 0.4], (2, 1))
    single = metrics.classification_report(np.zeros(2, int), probs, ["a", "b"])
    assert json.loads(json.dumps(single))["roc_auc"] is None


@pytest.mark.parametrize(
    "y_true, probs",
    [
        (np.zeros(0, int), np.zeros((0, 3))),
        (np.array([0, 1]), np.full((2, 2), 0.5)),
        (np.array([0, 3]), np.full((2, 3), 1 / 3)),
        (np.array([0.0, 1.0]), np.full((2, 3), 1 / 3)),
    ],
    ids=["empty", "wrong-num-classes", "label-out-of-range", "float-labels"],
)
def test_bad_input_raises(y_true, probs):
    with pytest.raises(ValueError):
        metrics.classification_report(y_true, probs, LABELS)


def test_plot_confusion_matrix_writes_png(report, tmp_path):
    path = tmp_path / "plots" / "confusion.png"
    metrics.plot_confusion_matrix(report["confusion_matrix"], LABELS, str(path), title="fold 1")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 5000


def test_plot_handles_empty_rows(tmp_path):
    path = tmp_path / "confusion.png"
    metrics.plot_confusion_matrix(np.array([[3, 1], [0, 0]]), ["a", "b"], str(path))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
