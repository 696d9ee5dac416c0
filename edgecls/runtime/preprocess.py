"""From any OpenCV frame to the exact uint8 pixels a model was trained on.

Frames come as OpenCV gives them: BGR, BGRA or single-channel, any size. The model wants
HxWxC uint8 in its own colour order (``GRAY`` or ``RGB``). Resizing is the only
resampling step and follows the model's ``resize`` mode; no float maths happens here,
so there is nothing to drift from training (image folders are decoded by this very code).
A shrink is one exact area average (OpenCV's INTER_AREA: every pixel of the view, rounded once).
An RGB model's frame is resized before its channels are swapped, so the swap touches the small
image only; a GRAY model's frame is converted first, so the average reads one channel and the
luminance is rounded per source pixel, not again after the average.

Example::

    pixels = to_model_input(frame_bgr, height=28, width=28, color="GRAY")   # (28, 28, 1) uint8
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecls.errors import EdgeclsError


def convert_color(image: np.ndarray, color: str, source: str = "BGR") -> np.ndarray:
    """Convert a GRAY/BGR/BGRA (or RGB/RGBA with ``source="RGB"``) image to ``GRAY`` or ``RGB``."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 2:
        return image[:, :, None] if color == "GRAY" else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise EdgeclsError(f"expected a GRAY, BGR or BGRA image, got shape {image.shape}")
    rgb_source = source == "RGB"
    if image.shape[2] == 4:
        code = {("GRAY", False): cv2.COLOR_BGRA2GRAY, ("GRAY", True): cv2.COLOR_RGBA2GRAY,
                ("RGB", False): cv2.COLOR_BGRA2RGB, ("RGB", True): cv2.COLOR_RGBA2RGB}[color, rgb_source]
    else:
        code = {("GRAY", False): cv2.COLOR_BGR2GRAY, ("GRAY", True): cv2.COLOR_RGB2GRAY,
                ("RGB", False): cv2.COLOR_BGR2RGB, ("RGB", True): None}[color, rgb_source]
    out = image if code is None else cv2.cvtColor(image, code)
    return out[:, :, None] if out.ndim == 2 else out


def center_crop(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """The largest centred region with the aspect of (height, width), as a view (no copy).

    The same scene gives the same region at every camera resolution, as any other runtime
    reading ``resize: crop`` from the metadata computes it.

    >>> center_crop(np.zeros((480, 640)), 28, 28).shape
    (480, 480)
    >>> center_crop(np.zeros((1080, 1920)), 224, 224).shape
    (1080, 1080)
    """
    h, w = image.shape[:2]
    if w * height > h * width:  # wider than the model: keep the full height
        ch, cw = h, max(1, round(h * width / height))
    else:
        ch, cw = max(1, round(w * height / width)), w
    top, left = (h - ch) // 2, (w - cw) // 2
    return image[top : top + ch, left : left + cw]


def resize(image: np.ndarray, height: int, width: int, mode: str = "stretch") -> np.ndarray:
    """Resize to (height, width): ``stretch``, ``crop`` (:func:`center_crop` first) or ``pad``."""
    channels = image.shape[2] if image.ndim == 3 else None
    if mode == "crop":
        image = center_crop(image, height, width)
    elif mode == "pad":
        h, w = image.shape[:2]
        scale = min(height / h, width / w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        inner = resize(image, nh, nw, "stretch")
        out = np.zeros((height, width) + inner.shape[2:], dtype=image.dtype)
        top, left = (height - nh) // 2, (width - nw) // 2
        out[top : top + nh, left : left + nw] = inner
        return out
    elif mode != "stretch":
        raise EdgeclsError(f"unknown resize mode {mode!r}: use stretch, crop or pad")
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] > height or image.shape[1] > width
        image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if channels is not None and image.ndim == 2:
        image = image[:, :, None]
    return image


def to_model_input(frame: np.ndarray, height: int, width: int, color: str, resize_mode: str = "stretch",
                   source: str = "BGR") -> np.ndarray:
    """One frame to an (height, width, C) uint8 array for the model."""
    frame = np.asarray(frame)
    if frame.dtype != np.uint8:
        raise EdgeclsError(f"expected a uint8 image, got {frame.dtype}")
    if resize_mode == "crop":  # a view: resizing then touches only the pixels kept
        frame, resize_mode = center_crop(frame, height, width), "stretch"
    if color == "GRAY":
        return np.ascontiguousarray(resize(convert_color(frame, color, source), height, width, resize_mode))
    return np.ascontiguousarray(convert_color(resize(frame, height, width, resize_mode), color, source))
