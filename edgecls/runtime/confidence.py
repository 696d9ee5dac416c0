"""How far to trust an answer: calibration error, and the ``unknown`` decision an artifact carries.

Pure numpy, used by training and export (to fit and report) and by the runtime (to read an
artifact's ``unknown`` output back as a distance). An artifact exported with an unknown class
answers C + 1 probabilities: the C calibrated class probabilities times ``1 - u`` and ``u``
itself, where ``u = sigmoid(slope * (d - threshold))`` and ``d`` is the image's distance to the
classes it knows, half-relative to the data as a whole (:func:`relative_distance`, ``beta = 0.5``). ``unknown`` is the top-1 answer when the
image is farther from every class than the known images of the validation split mostly are.

>>> round(ece(np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([0, 1]), bins=15), 4)
0.35
>>> probs = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]])        # two classes and unknown
>>> known_probabilities(probs).round(3).tolist(), accepted(probs).tolist()
([[0.778, 0.222], [0.5, 0.5]], [True, False])
"""

from __future__ import annotations

import numpy as np

UNKNOWN = "unknown"
ECE_BINS = 15


def _binned(probs: np.ndarray, labels: np.ndarray, bins: int):
    """Each answer's confidence, whether it is right, and its bin among ``bins`` equal-width ones (right-closed)."""
    confidence = probs.max(axis=1)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    return confidence, probs.argmax(axis=1) == labels, which, edges


def ece(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error: the mean gap between confidence and accuracy over ``bins``
    equal-width confidence bins, weighted by how many answers fall in each (Guo et al., 2017)."""
    confidence, correct, which, _ = _binned(probs, labels, bins)
    total = 0.0
    for b in range(bins):
        sel = which == b
        if sel.any():
            total += sel.mean() * abs(float(confidence[sel].mean()) - float(correct[sel].mean()))
    return float(total)


def reliability(probs: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> list[dict]:
    """Per confidence bin: its range, how many answers, their mean confidence and accuracy (a reliability
    diagram's bars)."""
    confidence, correct, which, edges = _binned(probs, labels, bins)
    return [{"low": float(edges[b]), "high": float(edges[b + 1]), "count": int((which == b).sum()),
             "confidence": float(confidence[which == b].mean()) if (which == b).any() else None,
             "accuracy": float(correct[which == b].mean()) if (which == b).any() else None}
            for b in range(bins)]


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the negative log-likelihood of ``softmax(logits / T)`` on ``labels``
    (a golden-section search over log T in [1/20, 20]; the NLL is convex in 1/T).

    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 4000)
    >>> true = rng.normal(size=(4000, 3)) + 2.0 * np.eye(3)[y]
    >>> sampled = np.array([rng.choice(3, p=p) for p in softmax(true)])
    >>> round(fit_temperature(3 * true, sampled), 1)     # logits three times too sharp
    3.0
    """
    logits = np.asarray(logits, np.float64)

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(labels)), labels]))

    lo, hi = np.log(1 / 20), np.log(20)
    ratio = (np.sqrt(5) - 1) / 2
    a, b = hi - ratio * (hi - lo), lo + ratio * (hi - lo)
    fa, fb = nll(a), nll(b)
    for _ in range(80):
        if fa < fb:
            hi, b, fb = b, a, fa
            a = hi - ratio * (hi - lo)
            fa = nll(a)
        else:
            lo, a, fa = a, b, fb
            b = lo + ratio * (hi - lo)
            fb = nll(b)
    return float(np.exp((lo + hi) / 2))


def fit_gaussian(features: np.ndarray, labels: np.ndarray, classes: int, ridge: float = 1e-3):
    """Class means and the shared precision matrix of ``features`` (a class-conditional Gaussian with one
    covariance, Lee et al. 2018): ``(means (C, k), precision (k, k))``. ``ridge`` (relative to the mean
    variance) keeps the covariance invertible when features are collinear."""
    features = np.asarray(features, np.float64)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(classes)])
    centred = features - means[labels]
    cov = centred.T @ centred / len(features)
    cov += ridge * np.trace(cov) / len(cov) * np.eye(len(cov))
    return means, np.linalg.inv(cov)


def min_distance(features: np.ndarray, means: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """For each row of ``features``: the smallest squared Mahalanobis distance to a class mean."""
    features = np.asarray(features, np.float64)
    projected = features @ precision
    squared = (projected * features).sum(axis=1)[:, None] - 2 * projected @ means.T
    return (squared + ((means @ precision) * means).sum(axis=1)[None]).min(axis=1)


def relative_distance(features: np.ndarray, means: np.ndarray, precision: np.ndarray, priors: np.ndarray,
                      beta: float = 1.0) -> np.ndarray:
    """The smallest class distance minus ``beta`` times the distance to one Gaussian of all the training
    features (mean ``priors @ means``, covariance the class covariance plus the scatter of the class
    means). ``beta = 1`` is the relative Mahalanobis distance (Ren et al., 2021): what is as far from the
    data as a whole as from every class is typical, not new. ``beta = 0`` is the plain one."""
    mean0 = priors @ means
    between = ((means - mean0).T * priors) @ (means - mean0)
    precision0 = np.linalg.inv(np.linalg.inv(precision) + between)
    return min_distance(features, means, precision) - beta * min_distance(features, mean0[None], precision0)


def known_probabilities(probs: np.ndarray) -> np.ndarray:
    """The class probabilities of an output with an unknown column last, renormalised over the known ones."""
    known = probs[:, :-1]
    return known / np.maximum(known.sum(axis=1, keepdims=True), 1e-12)


def accepted(probs: np.ndarray) -> np.ndarray:
    """Whether each answer names a known class (unknown, the last column, is not its top-1)."""
    return probs.argmax(axis=1) != probs.shape[1] - 1


def distance(u: float, unknown: dict) -> float | None:
    """The image's distance score, read back from its unknown probability ``u`` and the artifact's ``unknown``
    metadata (``threshold``, ``slope``): above the threshold it is unknown. None where ``u`` saturates at 0
    or 1 (the file then says only which side it is on).

    >>> distance(0.5, {"threshold": 30.0, "slope": 0.5})
    30.0
    """
    threshold, slope = unknown.get("threshold"), unknown.get("slope")  # metadata is untrusted: numbers or nothing
    if not 0.0 < u < 1.0 or not all(isinstance(v, (int, float)) and np.isfinite(v) for v in (threshold, slope)) \
            or not slope:
        return None
    return round(float(threshold + np.log(u / (1.0 - u)) / slope), 4)


def unknown_figures(probs: np.ndarray, labels: np.ndarray, probe_probs: dict[str, np.ndarray]) -> dict:
    """What an artifact with an unknown class does: the share of (known) test images it accepts, its
    accuracy on them, the calibration error of the answers it gives (the known-class probabilities of
    the images it names a class for: an int8 file sure of unknown rounds them all to 0, leaving no
    class probability to score), and the share of each set of frames of nothing that it wrongly names
    as a class (false accepts).

    >>> p = np.array([[0.8, 0.1, 0.1], [0.2, 0.2, 0.6], [0.1, 0.7, 0.2]])  # ECE: one bin, (8/9 + 7/8) / 2 - 1/2
    >>> f = unknown_figures(p, np.array([0, 0, 0]), {"flat": np.array([[0.1, 0.1, 0.8]])})
    >>> f["accepted"], f["accepted_accuracy"], f["ece"], f["false_accepts"]
    (0.6667, 0.5, 0.3819, {'flat': 0.0})
    """
    keep = accepted(probs)
    return {"accepted": round(float(keep.mean()), 4),
            "accepted_accuracy": round(float((probs[keep].argmax(1) == labels[keep]).mean()), 4) if keep.any() else None,
            "ece": round(ece(known_probabilities(probs[keep]), labels[keep]), 4) if keep.any() else None,
            "false_accepts": {name: round(float(accepted(p).mean()), 4) for name, p in probe_probs.items()}}


def format_unknown(rows: list[dict], fitted: dict) -> str:
    """The export's unknown table: per artifact, test images kept and false accepts on each probe set."""
    sets = list(rows[0]["unknown"]["false_accepts"]) if rows and "unknown" in rows[0] else []
    lines = [f"unknown: threshold at {fitted['known_rate']:.0%} of validation images, temperature "
             f"{fitted['temperature']:.3f} (ECE {fitted['ece_before']:.3f} -> {fitted['ece_after']:.3f} on validation)",
             f"{'artifact':<22} {'accepted':>8} {'acc kept':>8} {'ECE':>6}  " + "  ".join(f"{s:>8}" for s in sets)]
    for r in rows:
        u = r.get("unknown")
        if u:
            lines.append(f"{r['artifact']:<22} {u['accepted']:>8.2%} {u['accepted_accuracy'] or 0:>8.2%} "
                         f"{u['ece'] or 0:>6.3f}  " + "  ".join(f"{u['false_accepts'][s]:>8.2%}" for s in sets))
    return "\n".join(lines + ["(false accepts: the share of frames of nothing that an artifact names as a class)"])
