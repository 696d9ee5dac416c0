"""Seeded, stratified splits: the same seed always gives the same split."""

from __future__ import annotations

import numpy as np


def stratified_split(labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split indices of ``labels`` into (keep, held_out), ``fraction`` of every class held out.

    Each class with at least two samples gives at least one to each side. Indices are
    returned sorted so that the order of the data does not depend on the seed.

    >>> keep, held = stratified_split(np.array([0, 0, 1, 1, 1, 1]), 0.5, seed=0)
    >>> len(keep), len(held)
    (3, 3)
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    keep, held = [], []
    for cls in np.unique(labels):
        idx = np.flatnonzero(labels == cls)
        rng.shuffle(idx)
        n = int(round(len(idx) * fraction))
        if fraction > 0 and len(idx) >= 2:
            n = min(max(n, 1), len(idx) - 1)
        held.append(idx[:n])
        keep.append(idx[n:])
    return np.sort(np.concatenate(keep)), np.sort(np.concatenate(held))


def stratified_sample(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Return about ``n`` indices with every class represented in proportion (sorted)."""
    if n >= len(labels):
        return np.arange(len(labels))
    _, held = stratified_split(labels, n / len(labels), seed)
    return held
