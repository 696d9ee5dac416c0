"""Write a short 640x476 video of real Fashion-MNIST test images (the quickstart's camera stand-in).

    python scripts/make_demo_video.py runs/quickstart/demo.avi [frames]
"""

import sys
from pathlib import Path

import cv2
import numpy as np

from edgecls.toolkit.data import load_dataset


def main(path: str, frames: int = 100) -> None:
    ds = load_dataset("fashion-mnist-mini")
    rng = np.random.default_rng(0)
    side, width = 28 * 17, 640
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"FFV1"), 10, (width, side))
    for image in ds.x_test[:frames]:
        frame = rng.integers(0, 256, (side, width, 3), dtype=np.uint8)
        big = cv2.resize(image[..., 0], (side, side), interpolation=cv2.INTER_NEAREST)
        left = (width - side) // 2
        frame[:, left : left + side] = big[..., None]
        writer.write(frame)
    writer.release()
    print(f"wrote {path}: {frames} frames, labels {[ds.class_names[y] for y in ds.y_test[:5]]}...")


if __name__ == "__main__":
    Path(sys.argv[1]).parent.mkdir(parents=True, exist_ok=True)
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100)
