"""Classification metrics from labels and probabilities, in plain numpy."""

from __future__ import annotations

import numpy as np

from edgecls.errors import EdgeclsError


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class."""
    return np.bincount(
        y_true * num_classes + y_pred, minlength=num_classes * num_classes
    ).reshape(num_classes, num_classes)


def classification_report(y_true, probs, class_names, loss: float | None = None) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro and weighted averages.

    As scikit-learn does by default, the macro average runs over the classes that occur (in
    the labels or the predictions); a class with neither has no support, its scores are
    ``None`` and it is listed in ``absent_classes`` instead of counting as zero. An empty set
    has no metrics: it is an error, not an accuracy of 0.

    >>> r = classification_report(np.array([0, 1]), np.array([[.9, .1, 0], [.4, .6, 0]]), ["a", "b", "c"])
    >>> r["accuracy"], r["macro_avg"]["f1"], r["absent_classes"], r["per_class"]["c"]["f1"]
    (1.0, 1.0, ['c'], None)
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    if len(y_true) == 0:
        raise EdgeclsError("no images to measure: the split is empty")
    y_pred = np.asarray(probs).argmax(axis=1)
    n = len(class_names)
    cm = confusion_matrix(y_true, y_pred, n)
    tp = np.diag(cm).astype(float)
    support, predicted = cm.sum(axis=1), cm.sum(axis=0)
    present = (support > 0) | (predicted > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(predicted > 0, tp / predicted, 0.0)
        recall = np.where(support > 0, tp / support, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
    weights = support / support.sum()

    def scores(i):
        if not present[i]:
            return {"precision": None, "recall": None, "f1": None, "support": 0}
        return {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                "support": int(support[i])}

    report = {
        "accuracy": float(tp.sum() / len(y_true)),
        "samples": int(len(y_true)),
        "per_class": {name: scores(i) for i, name in enumerate(class_names)},
        "macro_avg": {"precision": float(precision[present].mean()), "recall": float(recall[present].mean()),
                      "f1": float(f1[present].mean())},
        "weighted_avg": {"precision": float(weights @ precision), "recall": float(weights @ recall),
                         "f1": float(weights @ f1)},
        "absent_classes": [name for name, p in zip(class_names, present) if not p],
        "confusion_matrix": cm.tolist(),
    }
    if loss is not None:
        report["loss"] = float(loss)
    return report


def cross_entropy(y_true: np.ndarray, probs: np.ndarray) -> float:
    """Mean categorical cross-entropy of integer labels under predicted probabilities."""
    p = np.maximum(np.asarray(probs, dtype=np.float64)[np.arange(len(y_true)), y_true], 1e-7)
    return float(-np.log(p).mean())


def format_report(report: dict) -> str:
    """The per-class table as text, like scikit-learn's classification_report."""
    width = max(12, *(len(n) for n in report["per_class"]))
    lines = [f"{'':>{width}}  precision  recall  f1-score  support"]
    for name, m in report["per_class"].items():
        if m["f1"] is None:
            lines.append(f"{name:>{width}}  {'-':>9}  {'-':>6}  {'-':>8}  {0:7d}  (absent)")
            continue
        lines.append(f"{name:>{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  "
                     f"{m['f1']:8.4f}  {m['support']:7d}")
    for key in ("macro_avg", "weighted_avg"):
        m = report[key]
        lines.append(f"{key.replace('_', ' '):>{width}}  {m['precision']:9.4f}  {m['recall']:6.4f}  "
                     f"{m['f1']:8.4f}  {report['samples']:7d}")
    lines.append(f"{'accuracy':>{width}}  {report['accuracy']:.4f} on {report['samples']} images")
    return "\n".join(lines)
