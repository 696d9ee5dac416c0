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

import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgecls import console, fileio
from edgecls.errors import EdgeclsError, clean_text
from edgecls.runtime.preprocess import to_model_input
from edgecls.runtime.sources import IMAGE_SUFFIXES, list_images, load_image
from edgecls.toolkit.data.dataset import Dataset, build_dataset
from edgecls.toolkit.data.split import hash_split

SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
               "dev": "val", "test": "test", "testing": "test", "eval": "test"}
CACHE_VERSION = 3
FLAT_NAME = re.compile(r"^(?P<label>.+?)[._](?P<n>\d+)$")


def _class_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _looks_like_splits(folders: list[Path]) -> bool:
    """Top-level folders that each hold sub-folders, the same names in each (Training/cat, Testing/cat)."""
    inner = [{d.name.lower() for d in _class_dirs(f)} for f in folders]
    return len(folders) > 1 and all(inner) and bool(set.intersection(*inner)) and not any(
        list_images_flat(f) for f in folders)


def list_images_flat(folder: Path) -> list[Path]:
    """The image files directly inside ``folder`` (not in its sub-folders)."""
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]


def _class_items(root: Path, folders: list[Path]) -> list[tuple[Path, str]]:
    """``(file, class)`` of every class folder; a folder that adds nothing, or overlaps another, is an error."""
    real = {c: c.resolve() for c in folders}
    for c, r in real.items():
        if r == root.resolve() or root.resolve().is_relative_to(r) or any(
                o != c and (r == ro or r.is_relative_to(ro)) for o, ro in real.items()):
            raise EdgeclsError(f"class folder {clean_text(c)} links to {clean_text(r)}, which overlaps the dataset: "
                               "its images would get two labels")
    items = []
    for c in folders:
        files = list_images(c)
        if not files:
            others = sorted({p.suffix.lower() or p.name for p in c.rglob("*") if p.is_file()})[:5]
            seen = f" (found only {', '.join(others)})" if others else " (it is empty)"
            raise EdgeclsError(f"class folder {clean_text(c)} has no JPEG, PNG, BMP, WebP or TIFF image{seen}")
        items += [(f, c.name) for f in files]
    return items


def scan_folder(root: Path) -> tuple[dict[str, list[tuple[Path, str]]], str]:
    """Return ``{split: [(path, label), ...]}`` and the layout name; split "all" when not given."""
    if not root.is_dir():
        raise EdgeclsError(f"not a folder: {root}")
    subdirs = {p.name.lower(): p for p in _class_dirs(root)}
    named = {SPLIT_NAMES[name] for name in subdirs if name in SPLIT_NAMES}
    if "train" in named and len(named) > 1 and all(name in SPLIT_NAMES for name in subdirs):
        splits = {SPLIT_NAMES[name]: _class_items(root, _class_dirs(path))
                  for name, path in subdirs.items() if name in SPLIT_NAMES}
        splits, layout = splits, "train/val/test folders"
    elif subdirs and (named or _looks_like_splits(list(subdirs.values()))):
        raise EdgeclsError(f"{root} looks like split folders ({', '.join(sorted(p.name for p in subdirs.values()))}), "
                           "not class folders: name them train/val/test (or training/validation/testing), or "
                           "point --data at the folder that holds the class folders")
    elif subdirs:
        splits, layout = {"all": _class_items(root, _class_dirs(root))}, "one folder per class"
    else:
        items = [(f, m["label"]) for f in list_images(root) if (m := FLAT_NAME.match(f.stem))]
        if not items:
            raise EdgeclsError(f"{root}: no dataset here: expected the four IDX files, class sub-folders of images, "
                               f"or image files named <label>.<n>.jpg")
        splits, layout = {"all": items}, "flat <label>.<n> files"
    names = sorted({label for items in splits.values() for _, label in items})
    fileio.check_class_names(names, str(root))
    if len(names) < 2:
        raise EdgeclsError(f"{root}: found {len(names)} class ({', '.join(names)}); a classifier needs at least 2")
    return splits, layout


def decode_all(paths: list[Path], height: int, width: int, color: str, resize: str, workers: int = 2,
               out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decode ``paths`` in ``workers`` threads (OpenCV releases the GIL) into ``out``.

    ``out`` (default: a new array) may be a disk-backed memmap, so a dataset larger than
    memory is decoded without holding it. Returns the images, a mask of the readable files
    and each file's original (height, width), zero where unreadable.
    """
    channels = 1 if color == "GRAY" else 3
    if out is None:
        out = np.zeros((len(paths), height, width, channels), np.uint8)
    ok = np.zeros(len(paths), bool)
    sizes = np.zeros((len(paths), 2), np.int32)

    def one(i):
        image = load_image(paths[i])
        if image is not None:
            out[i], ok[i], sizes[i] = to_model_input(image, height, width, color, resize), True, image.shape[:2]

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        list(pool.map(one, range(len(paths))))
    return out, ok, sizes


def cache_root() -> Path:
    """Where decoded folders are kept: ``$EDGECLS_CACHE`` or ``~/.cache/edgecls``."""
    return Path(os.environ.get("EDGECLS_CACHE") or Path.home() / ".cache" / "edgecls") / "folders"


def _cache_key(plan: dict[str, list[tuple[Path, int]]], settings: list) -> str:
    """Changes when a file is added, removed, edited or relabelled, or a decode setting changes.

    Each file counts by size, modification time, inode and change time (ctime). ``cp -p``,
    ``rsync -a`` and unpackers set the modification time back, but the kernel sets ctime on
    every write and no tool can set it, so new content under an old name and date is decoded
    afresh. Delete ``cache_root()`` to drop every entry.
    """
    digest = hashlib.sha256(json.dumps([CACHE_VERSION, *settings]).encode())
    for split in sorted(plan):
        for path, label in plan[split]:
            try:
                st = path.stat()
                stamp = (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino)
            except OSError:  # a dangling link or an unreadable entry: decoded as unreadable
                stamp = (-1, -1)
            digest.update(f"{split}\0{path.absolute()}\0{label}\0{stamp}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()[:20]


def _decode_split(directory: Path, split: str, items: list[tuple[Path, int]], root: Path, shape: tuple,
                  color: str, resize: str, workers: int) -> None:
    """Decode one split into ``split.npy`` and compact its readable images to the front."""
    paths = [p for p, _ in items]
    x = np.lib.format.open_memmap(directory / f"{split}.npy", mode="w+", dtype=np.uint8, shape=(len(paths), *shape))
    _, ok, sizes = decode_all(paths, shape[0], shape[1], color, resize, workers, out=x)
    good = np.flatnonzero(ok)
    for j, i in enumerate(good):  # in place: j <= i, so nothing is overwritten before it is read
        if i != j:
            x[j] = x[i]
    x.flush()
    labels = np.array([label for _, label in items], np.int64)
    np.savez(directory / f"{split}.index.npz", count=len(good), y=labels[good], sizes=sizes[good],
             skipped=np.array([clean_text(p) for p, good_file in zip(paths, ok) if not good_file], dtype=str),
             files=np.array([relative_key(paths[i], root) for i in good], dtype=str))


def _open_split(directory: Path, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str], list[str]]:
    index = np.load(directory / f"{split}.index.npz")
    count = int(index["count"])
    x = np.load(directory / f"{split}.npy", mmap_mode="r")[:count]
    return x, index["y"], index["sizes"], index["skipped"].tolist(), index["files"].tolist()


def _split_files(items: list[tuple[Path, int]], root: Path, fraction: float, seed: int, salt: str,
                 earlier: dict[str, bool]) -> tuple[list[tuple[Path, int]], list[tuple[Path, int]]]:
    """``(kept, held)`` files by :func:`~edgecls.toolkit.data.split.hash_split` of their paths inside ``root``."""
    keys = [relative_key(path, root) for path, _ in items]
    kept, held = hash_split(keys, [y for _, y in items], fraction, seed, salt, earlier)
    return [items[i] for i in kept], [items[i] for i in held]


def relative_key(path: Path, root: Path) -> str:
    """A file's name in a split record: its path inside the dataset folder, with ``/``."""
    return path.relative_to(root).as_posix()


def _plan(splits: dict[str, list[tuple[Path, str]]], index: dict[str, int], root: Path, val_split: float,
          test_split: float, seed: int, earlier: dict[str, str]) -> tuple[dict[str, list[tuple[Path, int]]], str]:
    """Files of train / val / test with integer labels: the user's split, else by hash of each path.

    ``earlier`` (file -> split of an earlier run) keeps those files on their side.
    """
    labelled = {name: [(p, index[label]) for p, label in items] for name, items in splits.items()}
    notes = []
    held_before = {key: side == "test" for key, side in earlier.items()}
    if "all" in labelled:
        labelled["train"], labelled["test"] = _split_files(labelled.pop("all"), root, test_split, seed, "test",
                                                           held_before)
    elif not labelled.get("test"):
        labelled["train"], labelled["test"] = _split_files(labelled["train"], root, test_split, seed, "test",
                                                           held_before)
        notes.append(f"no test/ folder: {len(labelled['test'])} test images carved from train/")
    if not labelled.get("val"):
        labelled["train"], labelled["val"] = _split_files(labelled["train"], root, val_split, seed, "val",
                                                          {key: side == "val" for key, side in earlier.items()})
    return labelled, "; ".join(notes)


def load_folder(root: str | Path, *, image_size: tuple[int, int] = (224, 224), color: str = "RGB",
                resize: str = "stretch", val_split: float = 0.1, test_split: float = 0.2, seed: int = 0,
                workers: int = 2, split_record: dict[str, str] | None = None) -> Dataset:
    """Load a folder dataset (any of the three layouts), decoded and resized once.

    The files are split first, then each split is decoded into a disk cache under
    :func:`cache_root` and opened memory-mapped: a dataset larger than RAM trains with
    the OS paging images in as batches need them, and the next run on the same files and
    settings starts at once. ``split_record`` (file -> split, an earlier run's
    :attr:`Dataset.files`) keeps those files on their sides: never a trained-on file in test.
    """
    root = Path(root)
    splits, layout = scan_folder(root)
    given = "all" not in splits
    class_names = sorted({label for items in splits.values() for _, label in items})
    plan, note = _plan(splits, {name: i for i, name in enumerate(class_names)}, root, val_split, test_split, seed,
                       split_record or {})
    if note:
        console.info(note)
    shape = (*image_size, 1 if color == "GRAY" else 3)
    directory = cache_root() / _cache_key(plan, [list(shape), color, resize, val_split, test_split, seed])
    if not (directory / "complete").is_file():
        n = sum(len(items) for items in plan.values())
        console.info(f"decoding {n} images of {root} at {shape[0]}x{shape[1]} into {directory}")
        partial = fileio.make_staging(directory)  # also removes what a killed decode left behind
        try:
            for split, items in plan.items():
                _decode_split(partial, split, items, root, shape, color, resize, workers)
            (partial / "complete").touch()
            fileio.publish_dir(partial, directory)
        except BaseException:
            fileio.discard_staging(partial)
            raise
    arrays, skipped, sizes, files = {}, [], [], {}
    for split in plan:
        x, y, split_sizes, split_skipped, files[split] = _open_split(directory, split)
        arrays[split] = (x, y)
        skipped += split_skipped
        sizes.append(split_sizes)
    counts = np.bincount(arrays["train"][1], minlength=len(class_names))
    if (counts == 0).any():
        empty = class_names[int(np.flatnonzero(counts == 0)[0])]
        raise EdgeclsError(f"{root}: class folder {empty!r} has no readable image in train (unreadable, broken "
                           f"links or not images; see {len(skipped)} skipped file(s))")
    if skipped:
        console.warn(f"skipped {len(skipped)} unreadable file(s) in {root} (listed in skipped.txt in the output folder)")
    ds = build_dataset(root.resolve().name, class_names, arrays["train"], arrays["test"], val=arrays["val"],
                       spec=str(root))
    ds.split = ({"source": "given by the dataset"} if given else
                {"val_split": val_split, "test_split": test_split, "seed": seed,
                 "source": "by a hash of each file's relative path and the split seed"})
    ds.split.update(layout=layout, resize=resize, image_size=list(image_size), cache=str(directory),
                    test_carved=not splits.get("test"))
    if note:
        ds.split["note"] = note
    ds.skipped, ds.files = skipped, files
    ds.source_sizes = np.concatenate(sizes)
    return ds
