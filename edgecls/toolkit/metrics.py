"""Classification metrics from labels and probabilities, in plain numpy."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return np.bincount(
        y_true * num_classes + y_pred, minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)


def classification_report(y_true, probs, class_names, loss: float | None = None) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages.

    >>> r = classification_report(np.array([0, 1]), np.array([[.9, .1], [.4, .6]]), ["a", "b"])
    >>> r["accuracy"], r["per_class"]["b"]["f1"]
    (1.0, 1.0)
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(probs).argmax(axis=1)
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    weights = support / max(support.sum(), 1)
    report = {
        "accuracy": float(tp.sum() / max(len(y_true), 1)),
        "samples": int(len(y_true)),
        "per_class": {
            name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for name, p, r, f, s in zip(class_names, precision, recall, f1, support)
        },
        "macro_avg": {"precision": float(precision.mean()), "recall": float(recall.mean()),
                      "f1": float(f1.mean())},
        "weighted_avg": {"precision": float(weights @ precision), "recall": float(weights @ recall),
                         "f1": float(weights @ f1)},
        "confusion_matrix": cm.tolist(),
    }
    if loss is not None:
        report["loss"] = float(loss)
    return report


def cross_entropy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy of integer labels under predicted probabilities."""
    p = np.clip(np.asarray(probs, dtype=np.float64)[np.arange(len(y_true)), y_true], 1e-7, 1.0)
    return float(-np.log(p).mean())


def format_report(report: dict) -> str:
    """The per-class table as text, like scikit-learn's classification_report."""
    width = max(12, *(len(n) for n in report["per_class"]))
    lines = [f"{'':>{width}}  precision  recall  f1-score  support"]
    for name, m in report["per_class"].items():
        lines.append(f"{name:>{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  "
                     f"{m['f1']:8.4f}  {m['support']:7d}")
    for key in ("macro_avg", "weighted_avg"):
        m = report[key]
        lines.append(f"{key.replace('_', ' '):>{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  "
                     f"{m['f1']:8.4f}  {report['samples']:7d}")
    lines.append(f"{'accuracy':>{width}}  {report['accuracy']:.4f} on {report['samples']} images")
    return "\n".join(lines)
