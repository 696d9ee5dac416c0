"""Latency statistics in bounded memory, for long-running streams."""

from __future__ import annotations

import numpy as np


class Reservoir:
    """Uniform sample of at most ``size`` values (Vitter's algorithm R), for percentiles.

    Memory stays constant however many frames run, so a week-long stream does not grow.
    """

    def __init__(self, size: int = 10_000, seed: int = 0):
        self.values = np.empty(size, dtype=np.float64)
        self.count = 0
        self.total = 0.0
        self.rng = np.random.default_rng(seed)

    def add(self, value: float) -> None:
        if self.count < len(self.values):
            self.values[self.count] = value
        else:
            j = self.rng.integers(0, self.count + 1)
            if j < len(self.values):
                self.values[j] = value
        self.count += 1
        self.total += value

    def percentiles(self, qs=(50, 95, 99)) -> dict[str, float]:
        sample = self.values[: min(self.count, len(self.values))]
        if not len(sample):
            return {f"p{q}": 0.0 for q in qs}
        return {f"p{q}": float(v) for q, v in zip(qs, np.percentile(sample, qs))}

    @property
    def mean(self) -> float:
        return self.total / self.count if self.count else 0.0
