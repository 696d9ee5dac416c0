"""Real video files made from dataset images: the stand-in camera for demos, tests and benchmarks.

Each frame is one image upscaled (nearest neighbour, factor 17) into the centre square of a
640x476 BGR frame, with random noise either side. Center-cropped and resized back with
INTER_AREA, the square gives back the original pixels exactly, so predictions on the video
can be compared with predictions on the images.

Example::

    write_video("demo.avi", load_dataset("fashion-mnist-mini").x_test[:100])
"""

from __future__ import annotations

import os

import cv2
import numpy as np

SCALE = 17
FRAME_H, FRAME_W = 28 * SCALE, 640


def frame_from(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 640x476 BGR frame with ``image`` (HxW or HxWx1/3) in its centre square."""
    frame = rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[..., 0]
    big = cv2.resize(image, (FRAME_H, FRAME_H), interpolation=cv2.INTER_NEAREST)
    left = (FRAME_W - FRAME_H) // 2
    frame[:, left : left + FRAME_H] = big[..., None] if big.ndim == 2 else big[..., ::-1]  # RGB -> BGR
    return frame


def write_video(path: str | os.PathLike, images: np.ndarray, fps: float = 15.0, lossless: bool = True) -> str:
    """Write one frame per image with cv2.VideoWriter (FFV1 lossless by default, else MJPG)."""
    fourcc = cv2.VideoWriter_fourcc(*("FFV1" if lossless else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (FRAME_W, FRAME_H))
    rng = np.random.default_rng(0)
    for image in images:
        writer.write(frame_from(image, rng))
    writer.release()
    return str(path)
