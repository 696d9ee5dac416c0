"""How far an exported artifact is from the original model, on the same labelled images.

The runtime owns it: ``edgecls export`` gates on it where the model was trained, and
``edgecls verify`` on the device itself.
"""

from __future__ import annotations

import math

import numpy as np

from edgecls.errors import EdgeclsError


def compare(reference: np.ndarray, probs: np.ndarray, labels: np.ndarray, class_names: list[str]) -> dict:
    """Accuracy, its delta vs the reference, top-1 agreement, probability differences, worst class.

    ``reference`` and ``probs`` are (N, classes) probabilities of the original model and of
    the artifact on the same N images; ``labels`` are the true classes. No images, no verdict:
    an empty set is an error, never a pass.
    """
    if len(labels) == 0:
        raise EdgeclsError("no labelled images to compare the artifact with the original on")
    pred, ref_pred = probs.argmax(1), reference.argmax(1)
    accuracy = float((pred == labels).mean())
    ref_accuracy = float((ref_pred == labels).mean())
    diff = np.abs(probs.astype(np.float64) - reference.astype(np.float64))
    per_class = {}
    for c, name in enumerate(class_names):
        sel = labels == c
        if sel.any():
            per_class[name] = round(100 * float((pred[sel] == c).mean() - (ref_pred[sel] == c).mean()), 3)
    worst = min(per_class, key=per_class.get)
    return {
        "samples": int(len(labels)),
        "accuracy": accuracy,
        "accuracy_delta_points": round(100 * (accuracy - ref_accuracy), 3),
        "agreement": float((pred == ref_pred).mean()),
        "agreement_low95": wilson_lower(int((pred == ref_pred).sum()), len(labels)),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
        "per_class_delta_points": per_class,
        "worst_class": worst,
        "worst_class_delta_points": per_class[worst],
    }


def wilson_lower(successes: int, n: int, z: float = 1.959964) -> float:
    """The 95% Wilson score lower bound of a proportion: how low agreement may truly be.

    >>> round(wilson_lower(999, 1000), 5), round(wilson_lower(300, 300), 5)
    (0.99436, 0.98736)
    """
    if n <= 0:
        raise EdgeclsError("no images: a proportion needs at least one")
    p = successes / n
    centre = p + z * z / (2 * n)
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - margin) / (1 + z * z / n)


def gate_failures(row: dict, max_drop: float, min_agreement: float, max_class_drop: float | None = None) -> list[str]:
    """Why ``row`` fails the gate (empty when it passes).

    ``max_class_drop`` bounds the worst class too: one class can lose most of its accuracy
    inside a small overall drop.

    >>> gate_failures({"accuracy_delta_points": -0.5, "agreement": 0.995, "worst_class": "Bag",
    ...                "worst_class_delta_points": -8.0}, 1.0, 0.99, max_class_drop=5.0)
    ['class Bag drops 8.0 points > 5.0']
    """
    reasons = []
    drop = -row["accuracy_delta_points"]
    if drop > max_drop:
        reasons.append(f"accuracy drop {drop:.2f} points > {max_drop}")
    if row["agreement"] < min_agreement:
        reasons.append(f"agreement {row['agreement']:.4f} < {min_agreement}")
    worst = row.get("worst_class_delta_points")
    if max_class_drop is not None and worst is not None and -worst > max_class_drop:
        reasons.append(f"class {row['worst_class']} drops {-worst:.1f} points > {max_class_drop}")
    return reasons


def format_table(rows: list[dict]) -> str:
    """The parity table as aligned text; ``int8`` is the share of an int8 file's multiply-adds in int8."""
    head = (f"{'artifact':<20} {'size':>10} {'int8':>5} {'accuracy':>9} {'delta':>7} {'agree':>7} {'>=95%':>7} "
            f"{'max|dp|':>9} {'mean|dp|':>9}  {'worst class':<22} status")
    lines = [head, "-" * len(head)]
    for r in rows:
        worst = f"{r['worst_class']} ({r['worst_class_delta_points']:+.1f})" if r.get("worst_class") else ""
        int8 = f"{r['int8_macs']:.0%}" if r.get("int8_macs") is not None else "-"
        lines.append(
            f"{r['artifact']:<20} {r['size_bytes']:>10,} {int8:>5} {r['accuracy']:>9.4f} {r['accuracy_delta_points']:>+7.2f} "
            f"{r['agreement']:>7.4f} {_low(r):>7} {r['max_abs_diff']:>9.2e} {r['mean_abs_diff']:>9.2e}  {worst:<22} "
            f"{'ok' if r['passed'] else 'FAILED'}")
    return "\n".join(lines)


def _low(row: dict) -> str:
    """The agreement's 95% lower bound as printed (rows from before it was recorded show ``-``)."""
    return f"{row['agreement_low95']:.4f}" if row.get("agreement_low95") is not None else "-"
