"""``edgecls data split``: materialise a reproducible train/val/test split of an image folder.

Files are hard-linked (or copied with ``mode="copy"``, or when links are impossible) into
``dest/{train,val,test}/<class>/<path inside the class folder>``: keeping the relative path
keeps names unique (``cat/a/1.png`` and ``cat/b/1.png`` both survive). The split is built
in a staging folder beside ``dest`` and published with one rename, every file is created
new (never opened where a file already is, so nothing is written through a link into the
source), and the result is counted against the input before it is published. The default
ratios are the tutorial's 16:4:5.

Example::

    counts = split_folder("PetImages", "pets-split", ratios=(0.64, 0.16, 0.2), seed=0)
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import numpy as np

from edgecls import console, fileio
from edgecls.errors import EdgeclsError, clean_text
from edgecls.toolkit.data.folder import relative_key, scan_folder
from edgecls.toolkit.data.split import hash_split

_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES}


def _place(path: Path, target: Path, mode: str) -> None:
    """Link or copy ``path`` to the new name ``target`` (which must not exist)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(path, target)
            return
        except OSError as exc:
            if exc.errno not in _NO_LINK:
                raise
    with open(path, "rb") as src, open(target, "xb") as dst:  # "x": never an existing file or link
        shutil.copyfileobj(src, dst, 1 << 20)
    shutil.copystat(path, target)


def _relative(path: Path, root: Path, label: str) -> Path:
    class_dir = root / label
    return path.relative_to(class_dir) if path.is_relative_to(class_dir) else path.relative_to(root)


def _check_paths(src: Path, dest: Path, mode: str) -> None:
    if mode not in ("link", "copy"):
        raise EdgeclsError(f"mode must be link or copy, got {mode}")
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise EdgeclsError(f"{dest} exists and is not an empty folder: choose a new destination")
    fileio.check_io({"SRC": src}, {"DEST": dest})


def plan_split(items: list[tuple[Path, str]], root: Path, ratios, seed: int) -> dict[str, np.ndarray]:
    """Indices of ``items`` per split: each class's exact share, by a hash of each file's path inside
    ``root`` (as ``train`` splits a folder), so a file added later moves at most one other of its class."""
    keys, labels = [relative_key(path, root) for path, _ in items], [label for _, label in items]
    rest, test = hash_split(keys, labels, ratios[2], seed, "test")
    keep, val = hash_split([keys[i] for i in rest], [labels[i] for i in rest],
                           ratios[1] / (ratios[0] + ratios[1]), seed, "val")
    rest = np.array(rest, int)
    return {"train": rest[keep], "val": rest[val], "test": np.array(test, int)}


def split_folder(src: str | Path, dest: str | Path, *, ratios=(0.64, 0.16, 0.2), seed: int = 0,
                 mode: str = "link") -> dict[str, dict[str, int]]:
    """Split ``src`` (class folders or flat ``label.N.ext`` files) into ``dest``; return counts."""
    src, dest = Path(src), Path(dest)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6 or ratios[0] <= 0:
        raise EdgeclsError(f"ratios must be three non-negative numbers summing to 1, got {ratios}")
    _check_paths(src, dest, mode)
    splits, _ = scan_folder(src)
    if set(splits) != {"all"}:
        raise EdgeclsError(f"{src} is already split into {', '.join(sorted(splits))}")
    items = sorted(splits["all"])
    staging = fileio.make_staging(dest)
    counts: dict[str, dict[str, int]] = {}
    missing = []
    try:
        for part, idx in plan_split(items, src, ratios, seed).items():
            for i in idx:
                path, label = items[i]
                try:
                    _place(path, staging / part / label / _relative(path, src, label), mode)
                except FileNotFoundError:  # a dangling link in the source
                    missing.append(path)
                    continue
                counts.setdefault(part, {}).setdefault(label, 0)
                counts[part][label] += 1
        written = sum(1 for p in staging.rglob("*") if p.is_file())
        if written != len(items) - len(missing):
            raise EdgeclsError(f"split wrote {written} files for {len(items) - len(missing)} inputs; nothing published")
        fileio.publish_dir(staging, dest)
    except BaseException:
        fileio.discard_staging(staging)
        raise
    if missing:
        console.warn(f"{len(missing)} broken link(s) in {src} left out, e.g. {clean_text(missing[0])}")
    return counts
