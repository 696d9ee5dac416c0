"""Datasets: built-in names, the embedded sample, IDX folders and ``.npz`` files.

Example::

    from edgecls.toolkit.data import load_dataset
    ds = load_dataset("fashion-mnist-mini")
    print(ds.summary())   # fashion-mnist-mini: 10 classes, 28x28x1 GRAY, train 5400 / val 600 / test 1000
"""

from __future__ import annotations

import os
from pathlib import Path

from edgecls import fileio
from edgecls.errors import EdgeclsError
from edgecls.toolkit.data.builtin import (
    FASHION_CLASSES,
    SAMPLE,
    find_idx_files,
    load_builtin,
    load_idx_folder,
    load_npz,
)
from edgecls.toolkit.data.dataset import Dataset, build_dataset
from edgecls.toolkit.data.split import stratified_sample, stratified_split

__all__ = ["Dataset", "BUILTIN", "check_spec", "load_dataset", "dataset_options", "stratified_split", "stratified_sample"]

BUILTIN = ("fashion-mnist-mini", "fashion-mnist", "mnist", "cifar10")
DEFAULT_VAL_SPLIT = 0.1


def _read_labels_file(folder: Path) -> list[str] | None:
    path = folder / "labels.txt"
    return fileio.read_labels(path) if path.is_file() else None


def check_spec(spec: str) -> str:
    """``spec`` if it names a built-in dataset or a path that exists; else the error naming the choices.

    Needs no Keras, so the CLI checks ``--data`` before loading it.

    >>> check_spec("mnist")
    'mnist'
    """
    if spec not in BUILTIN and not Path(spec).expanduser().exists():
        raise EdgeclsError(f"dataset {spec!r} not found: use one of {', '.join(BUILTIN)}, a .npz file or a folder")
    return spec


def load_dataset(
    spec: str,
    *,
    data_dir: str | os.PathLike | None = None,
    val_split: float | None = None,
    seed: int = 0,
    image_size: int | None = None,
    channels: int = 3,
    resize: str = "stretch",
    split_record: dict[str, str] | None = None,
) -> Dataset:
    """Load a dataset by built-in name or path and split it (seeded, stratified).

    ``spec`` is one of :data:`BUILTIN`, a ``.npz`` file, a folder holding the four
    MNIST-style IDX files (an optional ``labels.txt`` names the classes), or a folder of
    images (see :mod:`edgecls.toolkit.data.folder`), decoded at ``image_size`` with
    ``channels`` (1 or 3) and the ``resize`` mode (stretch, crop, pad); ``split_record``
    (file -> split, from an earlier run) keeps a folder's files on the sides that run gave them.
    """
    val_split = DEFAULT_VAL_SPLIT if val_split is None else val_split
    if not 0.0 < val_split < 0.9:
        raise EdgeclsError(f"--val-split must be between 0 and 0.9, got {val_split}")
    common = dict(val_split=val_split, seed=seed, spec=spec)
    if spec == "fashion-mnist-mini":
        (train, test), extra = load_npz(SAMPLE)
        return build_dataset(spec, FASHION_CLASSES, train, test, **common)
    if spec in BUILTIN:
        (train, test), names = load_builtin(spec, data_dir)
        return build_dataset(spec, names, train, test, **common)
    path = Path(check_spec(spec)).expanduser()
    if path.is_file():
        if path.suffix != ".npz":
            raise EdgeclsError(f"{path}: a dataset file must be .npz (or give a folder)")
        (train, test), extra = load_npz(path)
        names = extra.get("class_names") or _read_labels_file(path.parent)
        return build_dataset(path.stem, names, train, test, val=extra.get("val"), **common)
    if find_idx_files(path):
        train, test = load_idx_folder(path)
        names = _read_labels_file(path)
        if names is None and "fashion" in path.name.lower():
            names = FASHION_CLASSES
        return build_dataset(path.name, names, train, test, **common)
    from edgecls.toolkit.data.folder import load_folder

    size = image_size or 224
    if channels not in (1, 3):
        raise EdgeclsError(f"--channels must be 1 or 3, got {channels}")
    return load_folder(path, image_size=(size, size), color="GRAY" if channels == 1 else "RGB",
                       resize=resize, val_split=val_split, seed=seed, split_record=split_record)


def dataset_options(config: dict) -> dict:
    """The load_dataset() keyword arguments recorded in a run's config.json.

    The split comes from ``split_seed`` where the run recorded one, else from its training seed.

    >>> dataset_options({"seed": 3, "split_seed": 7, "resize": "crop", "channels": None})
    {'resize': 'crop', 'seed': 7}
    """
    keys = ("data_dir", "val_split", "image_size", "channels", "resize")
    options = {k: config[k] for k in keys if config.get(k) is not None}
    seed = config["split_seed"] if config.get("split_seed") is not None else config.get("seed")
    return options | ({"seed": seed} if seed is not None else {})
