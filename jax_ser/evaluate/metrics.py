"""Classification metrics for emotion recognition, and the confusion-matrix plot.

Speech-emotion papers report weighted accuracy (WA, plain accuracy) beside unweighted accuracy
(UA, mean per-class recall) because the corpora are imbalanced; both are here, with macro F1,
one-vs-rest ROC AUC and two calibration measures (NLL, ECE), with the reliability diagram that
shows the ECE's bins. Values are plain Python types so the report can be written as JSON in the
workdir.
"""

import os

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn import metrics

ECE_BINS = 15


def classification_report(y_true, probs, labels) -> dict:
    """Metrics of predicted class probabilities probs [N, C] against integer targets y_true [N]."""
    y_true = np.asarray(y_true)
    probs = np.asarray(probs)
    if not np.issubdtype(probs.dtype, np.floating):
        probs = probs.astype(np.float64)
    labels = list(labels)
    num_classes = len(labels)
    if y_true.size == 0:
        raise ValueError("classification_report needs at least one example")
    if y_true.ndim != 1 or probs.shape != (y_true.size, num_classes):
        raise ValueError(
            f"expected y_true [N] and probs [N, {num_classes}], "
            f"got {y_true.shape} and {probs.shape}"
        )
    if not np.issubdtype(y_true.dtype, np.integer) or not (
        0 <= y_true.min() and y_true.max() < num_classes
    ):
        raise ValueError(f"y_true must hold class indices in [0, {num_classes})")
    class_ids = list(range(num_classes))
    y_pred = probs.argmax(axis=1)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, y_pred, labels=class_ids, zero_division=0
    )
    return {
        "n": int(y_true.size),
        "wa": float(metrics.accuracy_score(y_true, y_pred)),
        # Mean recall over the classes present in y_true, as balanced_accuracy_score defines it;
        # naming them avoids its warning when a predicted class is absent from y_true.
        "ua": float(
            metrics.recall_score(y_true, y_pred, labels=np.unique(y_true), average="macro")
        ),
        "macro_f1": float(
            metrics.f1_score(y_true, y_pred, labels=class_ids, average="macro", zero_division=0)
        ),
        "per_class": {
            label: {
                "precision": float(precision[c]),
                "recall": float(recall[c]),
                "f1": float(f1[c]),
                "support": int(support[c]),
            }
            for c, label in enumerate(labels)
        },
        "labels": labels,
        "confusion_matrix": metrics.confusion_matrix(y_true, y_pred, labels=class_ids).tolist(),
        "roc_auc": one_vs_rest_auc(y_true, probs),
        # Probabilities read back from predictions_*.jsonl (6 decimals) sum to one only within
        # ~1e-6, which log_loss warns about in float64: renormalised first.
        "nll": float(metrics.log_loss(y_true, y_proba=probs / probs.sum(axis=1, keepdims=True),
                                      labels=class_ids)),
        "ece": expected_calibration_error(y_true, probs),
    }


def one_vs_rest_auc(y_true, probs) -> float | None:
    """Macro ROC AUC over the classes that have both positives and negatives; None if none do.

    sklearn's multi-class roc_auc_score needs every class present, which small test folds break.
    """
    aucs = [
        metrics.roc_auc_score(y_true == c, probs[:, c])
        for c in range(probs.shape[1])
        if 0 < np.sum(y_true == c) < y_true.size
    ]
    return float(np.mean(aucs)) if aucs else None


def expected_calibration_error(y_true, probs, num_bins: int = ECE_BINS) -> float:
    """Support-weighted |accuracy - confidence| over equal-width confidence bins (Guo et al.)."""
    _, accuracy, confidence, counts = reliability_bins(y_true, probs, num_bins)
    used = counts > 0
    return float(np.sum(counts[used] * np.abs(accuracy[used] - confidence[used])) / counts.sum())


def reliability_bins(y_true, probs, num_bins: int = ECE_BINS):
    """Per confidence bin: (lower edges, accuracy, mean confidence, count); NaN in empty bins.

    Bin b holds top-class confidences in (b / num_bins, (b + 1) / num_bins].
    """
    probs = np.asarray(probs)
    confidence = probs.max(axis=1).astype(np.float64)
    correct = probs.argmax(axis=1) == np.asarray(y_true)
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    counts = np.bincount(bins, minlength=num_bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.bincount(bins, correct, minlength=num_bins) / counts
        mean_confidence = np.bincount(bins, confidence, minlength=num_bins) / counts
    return np.arange(num_bins) / num_bins, accuracy, mean_confidence, counts


def plot_reliability_diagram(y_true, probs, path, title=None, calibrated=None,
                             num_bins: int = ECE_BINS) -> None:
    """Saves a PNG: accuracy against confidence per bin (bars; the diagonal is perfect
    calibration) over a histogram of confidences; `calibrated` probabilities, e.g. after
    temperature scaling, are drawn as a second curve."""
    edges, accuracy, _, counts = reliability_bins(y_true, probs, num_bins)
    width = 1.0 / num_bins
    fig = Figure(figsize=(5.0, 6.0))
    FigureCanvasAgg(fig)
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    ece = expected_calibration_error(y_true, probs, num_bins)
    top.bar(edges, np.nan_to_num(accuracy), width=width, align="edge", color="tab:blue",
            edgecolor="black", alpha=0.7, label=f"raw (ECE {ece:.3f})")
    if calibrated is not None:
        _, c_accuracy, c_confidence, _ = reliability_bins(y_true, calibrated, num_bins)
        used = ~np.isnan(c_accuracy)
        c_ece = expected_calibration_error(y_true, calibrated, num_bins)
        top.plot(c_confidence[used], c_accuracy[used], "o-", color="tab:orange",
                 label=f"calibrated (ECE {c_ece:.3f})")
    top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    top.set_xlim(0, 1)
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.legend(loc="upper left")
    if title:
        top.set_title(title)
    bottom.bar(edges, counts, width=width, align="edge", color="tab:blue", edgecolor="black",
               alpha=0.7)
    bottom.set_xlabel("confidence (top-class probability)")
    bottom.set_ylabel("utterances")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=100)


def plot_confusion_matrix(cm, labels, path, title=None) -> None:
    """Saves a PNG with rows coloured by recall (row-normalised) and raw counts in the cells."""
    cm = np.asarray(cm)
    totals = cm.sum(axis=1, keepdims=True)
    rates = np.divide(cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    size = 1.5 + 0.6 * len(labels)
    fig = Figure(figsize=(size + 1.5, size))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, label="fraction of true class")
    ticks = np.arange(len(labels))
    ax.set_xticks(ticks, labels, rotation=45, ha="right")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i, j in np.ndindex(cm.shape):
        color = "white" if rates[i, j] > 0.5 else "black"
        ax.text(j, i, str(cm[i, j]), ha="center", va="center", color=color)
    if title:
        ax.set_title(title)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, format="png", dpi=100)
