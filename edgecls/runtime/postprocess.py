"""From a model's scores to the answer a user sees: the top k labels, smoothed over frames, with a threshold.

Pure numpy, no model: what the runner does to every frame's probabilities.

>>> smoother = Smoother(2)
>>> _ = smoother.update(np.array([0.9, 0.1]))
>>> scores = smoother.update(np.array([0.1, 0.9]))
>>> answer(top_k(scores, 2, ["cat", "dog"]), threshold=0.6)
[('unknown', 0.5), ('dog', 0.5)]
"""

from __future__ import annotations

import collections

import numpy as np

UNKNOWN = "unknown"


def top_k(probs: np.ndarray, k: int, labels: list[str]) -> list[tuple[str, float]]:
    """The ``k`` best (label, score) pairs, best first; ties go to the lower index, as ``argmax``.

    A class with no label is named by its index.

    >>> top_k(np.array([0.2, 0.5, 0.3]), 2, ["a", "b"])
    [('b', 0.5), ('2', 0.3)]
    """
    order = np.argsort(-np.asarray(probs), kind="stable")[:k]
    return [(labels[i] if i < len(labels) else str(i), float(probs[i])) for i in map(int, order)]


class Smoother:
    """The mean of the last ``frames`` score vectors (1: no smoothing), so a label does not flicker."""

    def __init__(self, frames: int = 1):
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        self.history: collections.deque = collections.deque(maxlen=frames)

    def update(self, probs: np.ndarray) -> np.ndarray:
        self.history.append(np.asarray(probs))
        return np.mean(self.history, axis=0)


def answer(top: list[tuple[str, float]], threshold: float = 0.0) -> list[tuple[str, float]]:
    """``top`` with its first label replaced by ``unknown`` when its score is below ``threshold``.

    >>> answer([("cat", 0.4), ("dog", 0.3)], threshold=0.5)
    [('unknown', 0.4), ('dog', 0.3)]
    """
    if top and top[0][1] < threshold:
        return [(UNKNOWN, top[0][1]), *top[1:]]
    return list(top)
