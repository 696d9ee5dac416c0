"""Folders of images as datasets: the layouts people actually have.

- ``root/<class>/*.jpg``: one sub-folder per class (split seeded and stratified);
- ``root/{train,val|validation,test}/<class>/*``: a split given by the user, kept as is;
- ``root/<label>.<n>.jpg`` or ``root/<label>_<n>.jpg``: flat, the Kaggle dogs-vs-cats layout.

Images are decoded with OpenCV in parallel threads, converted to the model's channels and
resized once, with the same function the runtime uses on camera frames, so training sees
exactly the pixels the deployed model will. Unreadable files are skipped and listed.

Example::

    ds = load_folder("photos/", image_size=(224, 224), resize="crop")
    print(ds.summary(), len(ds.skipped), "unreadable files skipped")
"""

from __future__ import annotations

import re
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.runtime.preprocess import to_model_input
from edgecls.runtime.sources import list_images, load_image
from edgecls.toolkit.data.dataset import Dataset, build_dataset
from edgecls.toolkit.data.split import stratified_split

SPLIT_NAMES = {"train": "train", "val": "val", "validation": "val", "valid": "val", "test": "test"}
FLAT_NAME = re.compile(r"^(?P<label>.+?)[._](?P<n>\d+)$")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def scan_folder(root: Path) -> tuple[dict[str, list[tuple[Path, str]]], str]:
    """Return ``{split: [(path, label), ...]}`` and the layout name; split "all" when not given."""
    if not root.is_dir():
        raise EdgeclsError(f"not a folder: {root}")
    subdirs = {p.name.lower(): p for p in _class_dirs(root)}
    if "train" in subdirs and any(k in subdirs for k in SPLIT_NAMES if k != "train"):
        splits = {}
        for name, path in subdirs.items():
            if name in SPLIT_NAMES:
                splits[SPLIT_NAMES[name]] = [(f, c.name) for c in _class_dirs(path) for f in list_images(c)]
        return splits, "train/val/test folders"
    if subdirs:
        items = [(f, c.name) for c in _class_dirs(root) for f in list_images(c)]
        return {"all": items}, "one folder per class"
    items = []
    for f in list_images(root):
        match = FLAT_NAME.match(f.stem)
        if match:
            items.append((f, match["label"]))
    if not items:
        raise EdgeclsError(f"{root}: no dataset here: expected the four IDX files, class sub-folders of images, "
                           f"or image files named <label>.<n>.jpg")
    return {"all": items}, "flat <label>.<n> files"


def decode(path: Path, height: int, width: int, color: str, resize: str) -> np.ndarray | None:
    """One file as (height, width, C) uint8 in the model's colour order, or None if unreadable."""
    image = load_image(path)
    return None if image is None else to_model_input(image, height, width, color, resize)


def decode_all(paths: list[Path], height: int, width: int, color: str, resize: str,
               workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Decode in ``workers`` threads (OpenCV releases the GIL); return images and a readable mask."""
    channels = 1 if color == "GRAY" else 3
    out = np.zeros((len(paths), height, width, channels), np.uint8)
    ok = np.zeros(len(paths), bool)

    def one(i):
        image = decode(paths[i], height, width, color, resize)
        if image is not None:
            out[i], ok[i] = image, True

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, range(len(paths))))
    return out, ok


def load_folder(root: str | Path, *, image_size: tuple[int, int] = (224, 224), color: str = "RGB",
                resize: str = "stretch", val_split: float = 0.1, test_split: float = 0.2, seed: int = 0,
                workers: int = 2) -> Dataset:
    """Load a folder dataset (any of the three layouts) into memory, resized once."""
    root = Path(root)
    splits, layout = scan_folder(root)
    class_names = sorted({label for items in splits.values() for _, label in items})
    index = {name: i for i, name in enumerate(class_names)}
    h, w = image_size
    arrays, skipped = {}, []
    for split, items in splits.items():
        paths = [p for p, _ in items]
        x, ok = decode_all(paths, h, w, color, resize, workers)
        skipped += [str(p) for p, good in zip(paths, ok) if not good]
        arrays[split] = (x[ok], np.array([index[l] for (_, l), good in zip(items, ok) if good], np.int64))
    all_x, all_y = arrays.get("train", arrays.get("all"))
    counts = np.bincount(all_y, minlength=len(class_names))
    if (counts == 0).any():
        raise EdgeclsError(f"{root}: class {class_names[int(np.flatnonzero(counts == 0)[0])]!r} has no readable images")
    if skipped:
        print(f"warning: skipped {len(skipped)} unreadable file(s) in {root} (listed in skipped.txt)", file=sys.stderr)
    name = root.resolve().name
    if "all" in arrays:
        keep, test = stratified_split(all_y, test_split, seed)
        train, test_arrays = (all_x[keep], all_y[keep]), (all_x[test], all_y[test])
        ds = build_dataset(name, class_names, train, test_arrays, val_split=val_split, seed=seed, spec=str(root))
    else:
        empty = (np.zeros((0, h, w, all_x.shape[-1]), np.uint8), np.zeros(0, np.int64))
        ds = build_dataset(name, class_names, arrays["train"], arrays.get("test", empty), val=arrays.get("val"),
                           val_split=val_split, seed=seed, spec=str(root))
    ds.split.update(layout=layout, resize=resize, image_size=[h, w])
    ds.skipped = skipped
    return ds
