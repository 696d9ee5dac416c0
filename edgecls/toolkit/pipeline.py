"""Batches for ``model.fit``: Keras ``PyDataset``s, so they work on every backend.

A batch is a pure function of (seed, epoch, index): the order of epoch ``e`` is the seeded
permutation ``(seed, e)`` and its augmentation draws from ``(seed, e, i)``. Nothing depends
on when Keras calls ``on_epoch_end`` or how far its loader reads ahead, so a run resumed
after epoch ``k`` sees exactly the batches an uninterrupted run sees, and ``workers``
threads can make the next batches while the train step runs on this one (:class:`Prefetcher`;
OpenCV and numpy release the GIL while they work).

>>> import numpy as np
>>> plan = make_batches(np.zeros((10, 4, 4, 1), np.uint8), np.arange(10) % 2, 2, 4, shuffle=True)
>>> plan.steps, len(plan.dataset(start_epoch=3, epochs=2))
(3, 6)
"""

from __future__ import annotations

import math
import os

import numpy as np


PREFETCH_BYTES = 256 << 20  # batches made ahead of the train step, at most (and at least 1 batch)


class BatchPlan:
    """Every batch of every epoch of one split; ``dataset()`` gives Keras a window of epochs."""

    def __init__(self, x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0,
                 drop_remainder=False, workers=1):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.augment, self.seed, self.workers = shuffle, augment, seed, workers
        self.onehot = np.eye(num_classes, dtype="float32")
        n = len(x)
        self.steps = n // batch_size if drop_remainder and n >= batch_size else math.ceil(n / batch_size)

    def __len__(self) -> int:
        return self.steps

    def batch(self, epoch: int, i: int):
        """Images and one-hot labels of batch ``i`` of epoch ``epoch`` (0-based)."""
        order = np.random.default_rng((self.seed, epoch)).permutation(len(self.x)) if self.shuffle else None
        idx = np.arange(i * self.batch_size, min((i + 1) * self.batch_size, len(self.x)))
        if order is not None:
            idx = np.sort(order[idx])  # sorted: sequential reads from a memory-mapped folder cache
        images = self.x[idx]
        if self.augment is not None:
            images = self.augment(images, np.random.default_rng((self.seed, epoch, i)))
        return images, self.onehot[self.y[idx]]

    def dataset(self, start_epoch: int = 0, epochs: int = 1):
        """A PyDataset of epochs ``start_epoch .. start_epoch + epochs - 1``, one after the other.

        Train with ``model.fit(..., steps_per_epoch=plan.steps, shuffle=False)``: Keras then reads
        it straight through, and item ``j`` is batch ``j % steps`` of epoch ``start_epoch + j // steps``.
        Keras' own worker threads are not used: its enqueuer restarts at every epoch it sees and
        would serve a window's first batches again; :class:`Prefetcher` keeps the stream whole.
        """
        import keras

        plan = self
        batch_bytes = max(1, self.x[:1].nbytes * self.batch_size)
        ahead = Prefetcher(lambda j: plan.batch(start_epoch + j // plan.steps, j % plan.steps), plan.steps * epochs,
                           self.workers, depth=max(1, min(2 * self.workers, PREFETCH_BYTES // batch_bytes)))

        class EpochWindow(keras.utils.PyDataset):
            def __init__(self):
                super().__init__(workers=1)

            def __len__(self):
                return ahead.length

            def __getitem__(self, j):
                return ahead[j]

        return EpochWindow()


class Prefetcher:
    """Item ``j`` of ``make``, with items ``j+1 .. j+depth`` being made by a thread pool meanwhile.

    ``make`` must be a pure function of ``j``: then any order of reads (Keras reads the first
    items twice) gives the same items, and a thread made them or the caller did.

    >>> ahead = Prefetcher(lambda j: j * j, 5, workers=2, depth=2)
    >>> [ahead[j] for j in (0, 1, 0, 1, 2, 3, 4)]
    [0, 1, 0, 1, 4, 9, 16]
    """

    def __init__(self, make, length: int, workers: int, depth: int):
        from concurrent.futures import ThreadPoolExecutor

        self.make, self.length, self.depth = make, length, depth
        self.pool = ThreadPoolExecutor(workers, thread_name_prefix="edgecls-batches") if workers > 1 else None
        self.pending: dict = {}

    def __getitem__(self, j: int):
        if self.pool is None:
            return self.make(j)
        for k in range(j, min(j + self.depth + 1, self.length)):
            if k not in self.pending:
                self.pending[k] = self.pool.submit(self.make, k)
        for k in [k for k in self.pending if k < j]:
            self.pending.pop(k).cancel()
        item = self.pending.pop(j).result()
        if j == self.length - 1:  # the last item: nothing more to make
            self.pool.shutdown(wait=False, cancel_futures=True)
            self.pool, self.pending = None, {}
        return item


def make_batches(x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0,
                 drop_remainder=False, workers=1) -> BatchPlan:
    """The batches of uint8 images (in memory or memory-mapped) with one-hot labels.

    ``drop_remainder`` leaves out the last, smaller batch (data-parallel runs split every
    batch evenly); ``workers`` threads prepare batches ahead of the train step.
    """
    return BatchPlan(x, y, num_classes, batch_size, shuffle=shuffle, augment=augment, seed=seed,
                     drop_remainder=drop_remainder, workers=workers)


def default_workers() -> int:
    """Threads that prepare batches: every core the process may use, at least 2, at most 8."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(2, min(8, cores))


__all__ = ["BatchPlan", "make_batches", "default_workers"]
