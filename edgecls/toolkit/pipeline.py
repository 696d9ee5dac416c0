"""Batches for ``model.fit``: Keras ``PyDataset``s, so they work on every backend.

A batch is a pure function of (seed, epoch, index): the order of epoch ``e`` is the seeded
permutation ``(seed, e)`` and its augmentation draws from ``(seed, e, i)``. Nothing depends
on when Keras calls ``on_epoch_end`` or how far its loader reads ahead, so a run resumed
after epoch ``k`` sees exactly the batches an uninterrupted run sees.

>>> import numpy as np
>>> plan = make_batches(np.zeros((10, 4, 4, 1), np.uint8), np.arange(10) % 2, 2, 4, shuffle=True)
>>> plan.steps, len(plan.dataset(start_epoch=3, epochs=2))
(3, 6)
"""

from __future__ import annotations

import math

import numpy as np

from edgecls.toolkit.augment import Augmentation


class BatchPlan:
    """Every batch of every epoch of one split; ``dataset()`` gives Keras a window of epochs."""

    def __init__(self, x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0,
                 drop_remainder=False):
        self.x, self.y, self.batch_size = x, y, batch_size
        self.shuffle, self.augment, self.seed = shuffle, augment, seed
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
        """
        import keras

        plan = self

        class EpochWindow(keras.utils.PyDataset):
            def __len__(self):
                return plan.steps * epochs

            def __getitem__(self, j):
                return plan.batch(start_epoch + j // plan.steps, j % plan.steps)

        return EpochWindow()


def make_batches(x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0,
                 drop_remainder=False) -> BatchPlan:
    """The batches of uint8 images (in memory or memory-mapped) with one-hot labels.

    ``drop_remainder`` leaves out the last, smaller batch (data-parallel runs split every
    batch evenly).
    """
    return BatchPlan(x, y, num_classes, batch_size, shuffle=shuffle, augment=augment, seed=seed,
                     drop_remainder=drop_remainder)


__all__ = ["BatchPlan", "make_batches", "Augmentation"]
