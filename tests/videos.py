"""Real video files for the runtime tests, built from real Fashion-MNIST test images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

SCALE = 17                     # 28 * 17 = 476: the image fills the frame's centre square exactly
FRAME_H, FRAME_W = 28 * SCALE, 640


def frame_from(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A 640x476 BGR frame: the image upscaled in the centre, random noise either side."""
    frame = rng.integers(0, 256, (FRAME_H, FRAME_W, 3), dtype=np.uint8)
    big = cv2.resize(image, (FRAME_H, FRAME_H), interpolation=cv2.INTER_NEAREST)
    left = (FRAME_W - FRAME_H) // 2
    frame[:, left : left + FRAME_H] = big[..., None] if big.ndim == 2 else big
    return frame


def write_video(path: Path, images: np.ndarray, fps: float = 15.0, lossless: bool = True) -> Path:
    """Write one frame per image with cv2.VideoWriter (FFV1 lossless by default)."""
    fourcc = cv2.VideoWriter_fourcc(*("FFV1" if lossless else "MJPG"))
    writer = cv2.VideoWriter(str(path), fourcc, fps, (FRAME_W, FRAME_H))
    rng = np.random.default_rng(0)
    for image in images:
        writer.write(frame_from(image[..., 0] if image.ndim == 3 else image, rng))
    writer.release()
    return path
