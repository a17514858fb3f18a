"""Classification metrics for emotion recognition, and the confusion-matrix plot.

Speech-emotion papers report weighted accuracy (WA, plain accuracy) beside unweighted accuracy
(UA, mean per-class recall) because the corpora are imbalanced; both are here, with macro F1,
one-vs-rest ROC AUC and two calibration measures (NLL, ECE). Values are plain Python types so the
report can be written as JSON in the workdir.
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
        "nll": float(metrics.log_loss(y_true, y_proba=probs, labels=class_ids)),
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
    confidence = probs.max(axis=1).astype(np.float64)
    correct = probs.argmax(axis=1) == y_true
    # Bin b holds confidences in (b / num_bins, (b + 1) / num_bins].
    bins = np.clip(np.ceil(confidence * num_bins).astype(int) - 1, 0, num_bins - 1)
    ece = 0.0
    for b in np.unique(bins):
        in_bin = bins == b
        ece += in_bin.mean() * abs(correct[in_bin].mean() - confidence[in_bin].mean())
    return float(ece)


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
