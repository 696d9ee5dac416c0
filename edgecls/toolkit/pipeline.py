"""Batches for ``model.fit``: a Keras ``PyDataset``, so it works on every backend."""

from __future__ import annotations

import math

import numpy as np

from edgecls.toolkit.augment import Augmentation


def make_batches(x, y, num_classes, batch_size, *, shuffle=False, augment=None, seed=0):
    """Return a ``keras.utils.PyDataset`` over in-memory uint8 images and one-hot labels.

    Shuffling and augmentation are seeded per epoch (``seed + epoch``), so a resumed run
    sees the same batches it would have seen without the interruption.
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
            return math.ceil(len(x) / batch_size)

        def __getitem__(self, i):
            idx = self.order[i * batch_size : (i + 1) * batch_size]
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
