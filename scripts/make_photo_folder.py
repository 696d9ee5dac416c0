"""Make an offline folder dataset of real photos: Fashion-MNIST product photos as JPEG files.

    python scripts/make_photo_folder.py DEST [--classes Sneaker,Sandal,Bag] [--per-class 300] [--size 96]
        [--layout classes|flat|split] [--start 0]

Each image is a real Fashion-MNIST photo upscaled (bicubic) to SIZE and saved as an RGB
JPEG, one sub-folder per class (or flat `label.N.jpg` names, the Kaggle dogs-vs-cats
layout, or train/val/test folders). ``--start N`` skips each class's first N images, so a
second folder made with it holds none of the first one's photos. Used for the
folder-dataset figures and demos.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from edgecls.toolkit.data import load_dataset


def make(dest: Path, classes: list[str], per_class: int, size: int, layout: str, data: str, start: int = 0) -> int:
    ds = load_dataset(data)
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    written = 0
    for name in classes:
        c = ds.class_names.index(name)
        label = name.lower().replace("/", "-").replace(" ", "-")
        for n, i in enumerate(np.flatnonzero(y == c)[start : start + per_class]):
            image = cv2.resize(x[i], (size, size), interpolation=cv2.INTER_CUBIC)
            image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
            if layout == "flat":
                path = dest / f"{label}.{n}.jpg"
            elif layout == "split":
                part = "train" if n % 10 < 7 else ("val" if n % 10 < 8 else "test")
                path = dest / part / label / f"{n}.jpg"
            else:
                path = dest / label / f"{n}.jpg"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image, [cv2.IMWRITE_JPEG_QUALITY, 92])
            written += 1
    return written


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dest", type=Path)
    p.add_argument("--classes", default="Sneaker,Sandal,Ankle boot")
    p.add_argument("--per-class", type=int, default=300)
    p.add_argument("--size", type=int, default=96)
    p.add_argument("--layout", choices=["classes", "flat", "split"], default="classes")
    p.add_argument("--data", default="fashion-mnist-mini")
    p.add_argument("--start", type=int, default=0, help="skip each class's first N images")
    a = p.parse_args()
    n = make(a.dest, a.classes.split(","), a.per_class, a.size, a.layout, a.data, a.start)
    print(f"wrote {n} JPEG files to {a.dest}")
