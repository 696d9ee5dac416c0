"""The in-memory dataset every edgecls command works on."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.fileio import check_class_names
from edgecls.toolkit.data.split import stratified_split


@dataclass
class Dataset:
    """uint8 NHWC images with integer labels, split into train / val / test.

    ``color`` is ``"GRAY"`` (one channel) or ``"RGB"`` (three, in RGB order). ``spec`` is
    what the user typed, recorded in the run's config so the run can be reproduced.
    """

    name: str
    class_names: list[str]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    spec: str = ""
    split: dict = field(default_factory=dict)
    skipped: list = field(default_factory=list)  # unreadable files of a folder dataset
    source_sizes: np.ndarray | None = None        # folder datasets: (height, width) of each file
    files: dict | None = None                     # folder datasets: {split: [path inside the folder, ...]}

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(n) for n in self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def color(self) -> str:
        return "GRAY" if self.image_shape[-1] == 1 else "RGB"

    def subset(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Return ``(x, y)`` of ``"train"``, ``"val"`` or ``"test"``."""
        if name not in ("train", "val", "test"):
            raise EdgeclsError(f"unknown split {name!r}: use train, val or test")
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def in_label_order(self, labels: list[str]) -> Dataset:
        """The same images with class indices following ``labels`` (a model's output order).

        A folder's classes come in alphabetical order, a model's in the order it was trained
        with; the same names in another order are matched by name, never by position.

        >>> ds = Dataset("d", ["blue", "red"], *[np.zeros((2, 1, 1, 1), np.uint8), np.array([0, 1])] * 3)
        >>> re = ds.in_label_order(["red", "blue"])
        >>> re.class_names, re.y_test.tolist()
        (['red', 'blue'], [1, 0])
        """
        if labels == self.class_names or sorted(labels) != sorted(self.class_names):
            return self
        new_index = np.array([labels.index(name) for name in self.class_names])
        return replace(self, class_names=list(labels), y_train=new_index[self.y_train], y_val=new_index[self.y_val],
                       y_test=new_index[self.y_test])

    def summary(self) -> str:
        h, w, c = self.image_shape
        return (
            f"{self.name}: {self.num_classes} classes, {h}x{w}x{c} {self.color}, "
            f"train {len(self.y_train)} / val {len(self.y_val)} / test {len(self.y_test)}"
        )


def as_images(x: np.ndarray, where: str) -> np.ndarray:
    """Coerce an array to uint8 NHWC, or raise EdgeclsError saying what is wrong."""
    x = np.asarray(x)
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise EdgeclsError(f"{where}: expected images shaped (N, H, W[, 1|3]), got {x.shape}")
    if x.dtype != np.uint8:
        if not np.issubdtype(x.dtype, np.integer) or x.size and (x.min() < 0 or x.max() > 255):
            raise EdgeclsError(f"{where}: expected uint8 pixels 0..255, got {x.dtype}")
        x = x.astype(np.uint8)
    return x


def build_dataset(
    name: str,
    class_names: list[str] | None,
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    *,
    val: tuple[np.ndarray, np.ndarray] | None = None,
    val_split: float = 0.1,
    seed: int = 0,
    spec: str = "",
) -> Dataset:
    """Validate arrays and carve a seeded, stratified validation split out of train.

    The test set is never touched: it is only for the final report, never for model
    selection. A dataset that brings its own ``val`` keeps it.
    """
    parts = {"train": train, "test": test} | ({"val": val} if val is not None else {})
    checked = {}
    for part, (x, y) in parts.items():
        x = as_images(x, f"{name} {part} images")
        y = np.asarray(y).reshape(-1)
        if len(x) != len(y):
            raise EdgeclsError(f"{name} {part}: {len(x)} images but {len(y)} labels")
        if not np.issubdtype(y.dtype, np.integer):
            raise EdgeclsError(f"{name} {part}: labels must be integers, got {y.dtype}")
        checked[part] = (x, y.astype(np.int64))
    x_train, y_train = checked["train"]
    if len(y_train) == 0:
        raise EdgeclsError(f"{name}: the training split is empty")
    shapes = {x.shape[1:] for x, _ in checked.values() if len(x)}
    if len(shapes) > 1:
        raise EdgeclsError(f"{name}: image shapes differ between splits: {sorted(shapes)}")
    n_classes = len(class_names) if class_names else int(y_train.max()) + 1
    class_names = list(class_names) if class_names else [str(i) for i in range(n_classes)]
    check_class_names(class_names, f"{name} class names")
    if n_classes < 2:
        raise EdgeclsError(f"{name}: {n_classes} class; a classifier needs at least 2")
    for part, (_, y) in checked.items():
        if len(y) and (y.min() < 0 or y.max() >= n_classes):
            raise EdgeclsError(
                f"{name} {part}: labels must be in 0..{n_classes - 1}, found {y.min()}..{y.max()}"
            )
    counts = np.bincount(y_train, minlength=n_classes)
    if (counts == 0).any():
        empty = class_names[int(np.flatnonzero(counts == 0)[0])]
        raise EdgeclsError(f"{name}: class {empty!r} has no training samples")
    if val is None:
        keep, held = stratified_split(y_train, val_split, seed)
        x_val, y_val = x_train[held], y_train[held]
        x_train, y_train = x_train[keep], y_train[keep]
        split = {"val_split": val_split, "seed": seed, "source": "carved from train"}
    else:
        x_val, y_val = checked["val"]
        split = {"source": "given by the dataset"}
    x_test, y_test = checked["test"]
    return Dataset(name, class_names, x_train, y_train, x_val, y_val, x_test, y_test, spec, split)
