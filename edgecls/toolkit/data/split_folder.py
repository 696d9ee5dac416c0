"""``edgecls data split``: materialise a reproducible train/val/test split of an image folder.

Files are hard-linked (or copied with ``mode="copy"``, or when links are impossible) into
``dest/{train,val,test}/<class>/``; the source is only read, never moved or changed. The
default ratios are the tutorial's 16:4:5.

Example::

    counts = split_folder("PetImages", "pets-split", ratios=(0.64, 0.16, 0.2), seed=0)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.toolkit.data.folder import scan_folder
from edgecls.toolkit.data.split import stratified_split


def split_folder(src: str | Path, dest: str | Path, *, ratios=(0.64, 0.16, 0.2), seed: int = 0,
                 mode: str = "link") -> dict[str, dict[str, int]]:
    """Split ``src`` (class folders or flat ``label.N.ext`` files) into ``dest``; return counts."""
    src, dest = Path(src), Path(dest)
    if len(ratios) != 3 or min(ratios) < 0 or abs(sum(ratios) - 1) > 1e-6 or ratios[0] <= 0:
        raise EdgeclsError(f"--ratios must be three non-negative numbers summing to 1, got {ratios}")
    if mode not in ("link", "copy"):
        raise EdgeclsError(f"mode must be link or copy, got {mode}")
    if dest.exists() and any(dest.iterdir()):
        raise EdgeclsError(f"{dest} exists and is not empty: choose a new destination")
    if dest.resolve().is_relative_to(src.resolve()):
        raise EdgeclsError(f"{dest} is inside {src}: choose a destination outside the source")
    splits, _ = scan_folder(src)
    if set(splits) != {"all"}:
        raise EdgeclsError(f"{src} is already split into {', '.join(sorted(splits))}")
    items = sorted(splits["all"])
    labels = np.array([label for _, label in items])
    _, codes = np.unique(labels, return_inverse=True)
    rest, test = stratified_split(codes, ratios[2], seed)
    val_fraction = ratios[1] / (ratios[0] + ratios[1])
    keep, val = stratified_split(codes[rest], val_fraction, seed + 1)
    parts = {"train": rest[keep], "val": rest[val], "test": test}
    counts: dict[str, dict[str, int]] = {}
    for part, idx in parts.items():
        for i in idx:
            path, label = items[i]
            target = dest / part / label / path.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if mode == "link":
                try:
                    os.link(path, target)
                except OSError:  # another file system, or links not allowed
                    shutil.copy2(path, target)
            else:
                shutil.copy2(path, target)
            counts.setdefault(part, {}).setdefault(label, 0)
            counts[part][label] += 1
    return counts
