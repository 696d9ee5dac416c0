"""Batches for ``model.fit``: a Keras ``PyDataset``, so it works on every backend."""

from __future__ import annotations

import math

import numpy as np

from edgecls.toolkit.augment import Augmentation


def make_batches(x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0, drop_remainder=False):
    """Return a ``keras.utils.PyDataset`` over uint8 images (in memory or memory-mapped) and one-hot labels.

    Shuffling and augmentation are seeded per epoch (``seed + epoch``), so a resumed run
    sees the same batches it would have seen without the interruption. ``drop_remainder``
    leaves out the last, smaller batch (data-parallel runs split every batch evenly).
    """
    import keras

    class ArrayBatches(keras.utils.PyDataset):
        def __init__(self):
            super().__init__()
            self.epoch = 0
            self.order = np.arange(len(x))
            self.onehot = np.eye(num_classes, dtype="float32")
            self.on_epoch_end()

        def __len__(self):
            return len(x) // batch_size if drop_remainder and len(x) >= batch_size else math.ceil(len(x) / batch_size)

        def __getitem__(self, i):
            idx = np.sort(self.order[i * batch_size : (i + 1) * batch_size])  # sorted: sequential reads
            images = x[idx]
            if augment is not None:
                rng = np.random.default_rng((seed, self.epoch, i))
                images = augment(images, rng)
            return images, self.onehot[y[idx]]

        def on_epoch_end(self):
            if shuffle:
                self.order = np.random.default_rng((seed, self.epoch)).permutation(len(x))
            self.epoch += 1

    return ArrayBatches()


__all__ = ["make_batches", "Augmentation"]
