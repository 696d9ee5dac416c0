"""Seeded, stratified splits: the same seed always gives the same split.

Arrays (the built-in datasets) are split by a seeded shuffle of each class; files (image
folders) by a hash of each file's path inside its folder, so a file's side never depends on
where the folder lies or on the order files are listed.
"""

from __future__ import annotations

import hashlib
import math

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


def _unit(seed: int, salt: str, key: str) -> float:
    """A number in [0, 1) fixed by ``key`` (a path inside the folder), the seed and the salt alone."""
    digest = hashlib.blake2b(f"{seed}\0{salt}\0{key}".encode("utf-8", "surrogateescape"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def quota(n: int, fraction: float) -> int:
    """How many of a class's ``n`` files are held out: ``n * fraction`` rounded half up, at least one on
    each side for two or more files.

    >>> [quota(n, 0.2) for n in (1, 2, 5, 12, 60)]
    [0, 1, 1, 2, 12]
    """
    if fraction <= 0 or n < 2:
        return 0
    return min(max(math.floor(n * fraction + 0.5), 1), n - 1)


def hash_split(keys: list[str], labels: list, fraction: float, seed: int, salt: str,
               earlier: dict[str, bool] | None = None) -> tuple[list[int], list[int]]:
    """Indices ``(kept, held)`` of ``keys``: in each class, the :func:`quota` of files first in hash order.

    The order depends on each key and the seed alone, so every class gets its exact share and
    adding or removing a file moves at most one other file of its class across the line.
    ``earlier`` (key -> held in an earlier split, e.g. the run an ``--init`` model came from)
    makes it exact: files held there come first and files kept there are never held, so a file
    trained on is never tested on.

    >>> keys = [f"{c}/{i}.png" for c in "ab" for i in range(10)]
    >>> kept, held = hash_split(keys, [k[0] for k in keys], 0.2, seed=0, salt="test")
    >>> len(kept), len(held), sorted(keys[i][0] for i in held)
    (16, 4, ['a', 'a', 'b', 'b'])
    >>> again = hash_split(keys, [k[0] for k in keys], 0.2, 0, "test", earlier={keys[i]: False for i in held})
    >>> set(again[1]) & set(held)
    set()
    """
    earlier = earlier or {}
    held: list[int] = []
    for label in sorted(set(labels), key=str):
        members = [i for i, y in enumerate(labels) if y == label]
        candidates = [i for i in members if earlier.get(keys[i]) is not False]
        candidates.sort(key=lambda i: (not earlier.get(keys[i], False), _unit(seed, salt, keys[i])))
        held += candidates[:quota(len(members), fraction)]
    chosen = set(held)
    return [i for i in range(len(keys)) if i not in chosen], sorted(held)
