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

from edgecls.runtime.confidence import UNKNOWN


def top_k(probs: np.ndarray, k: int, labels: list[str], mask: np.ndarray | None = None) -> list[tuple[str, float]]:
    """The ``k`` best (label, score) pairs, best first; ties go to the lower index, as ``argmax``.

    A class with no label is named by its index; with ``mask`` (see :func:`class_mask`) only the classes
    it keeps are ranked.

    >>> top_k(np.array([0.2, 0.5, 0.3]), 2, ["a", "b"])
    [('b', 0.5), ('2', 0.3)]
    >>> top_k(np.array([0.2, 0.5, 0.3]), 2, ["a", "b", "c"], mask=np.array([True, False, True]))
    [('c', 0.3), ('a', 0.2)]
    """
    probs = np.asarray(probs)
    order = [i for i in map(int, np.argsort(-probs, kind="stable")) if mask is None or mask[i]][:k]
    return [(labels[i] if i < len(labels) else str(i), float(probs[i])) for i in order]


def class_mask(labels: list[str], classes: list[str] | None = None, exclude: list[str] | None = None) -> np.ndarray | None:
    """Which classes an answer may name: only ``classes`` (and ``unknown``, which says none of them fits),
    or all but ``exclude`` (MediaPipe Tasks' category allowlist and denylist); None for all.

    >>> class_mask(["cat", "dog", "unknown"], classes=["dog"]).tolist()
    [False, True, True]
    >>> class_mask(["cat", "dog"], exclude=["cat"]).tolist()
    [False, True]
    """
    if not classes and not exclude:
        return None
    from edgecls.errors import EdgeclsError, clean_text

    named = list(classes or []) + list(exclude or [])
    missing = [name for name in named if name not in labels]
    if missing:
        raise EdgeclsError(f"{'--classes' if classes else '--exclude'}: {clean_text(', '.join(missing))} not among "
                           f"the model's classes ({clean_text(', '.join(labels[:12]))}{' ...' if len(labels) > 12 else ''})")
    if classes:
        return np.array([name in classes or name == UNKNOWN for name in labels])
    return np.array([name not in exclude for name in labels])


class Smoother:
    """The mean of the last ``frames`` score vectors (1: no smoothing), so a label does not flicker.

    Smoothing holds within one stream of consecutive frames: :meth:`reset` at every new file
    or reconnect, so one picture's scores never leak into the next.

    >>> s = Smoother(3)
    >>> _ = s.update(np.array([1.0, 0.0])); s.reset()
    >>> s.update(np.array([0.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    def __init__(self, frames: int = 1):
        if frames < 1:
            raise ValueError(f"frames must be at least 1, got {frames}")
        self.history: collections.deque = collections.deque(maxlen=frames)

    def reset(self) -> None:
        self.history.clear()

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
