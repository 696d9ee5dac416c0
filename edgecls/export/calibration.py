"""Calibration images for int8: whatever the user's pictures, the raw-pixel input covers 0..255.

Both converters set the input tensor's quantization from the smallest and largest value they
see in the calibration set. Calibrated on dim photos (brightest pixel 149) the uint8 input
got scale 0.584, and every brighter camera pixel was clipped. One pixel at 0 and one at 255
in the first image pin the input range to exactly 0..255 (scale 1, zero point 0 for uint8,
-128 for int8), and change the ranges of the layers after it by no more than one pixel can.

>>> import numpy as np
>>> x = span_pixel_range(np.full((2, 4, 4, 1), 90, np.uint8))
>>> int(x.min()), int(x.max()), int((x != 90).sum())
(0, 255, 2)
"""

from __future__ import annotations

import numpy as np


def span_pixel_range(images: np.ndarray) -> np.ndarray:
    """A copy of ``images`` (N, H, W, C uint8) whose first image holds a 0 and a 255 pixel."""
    out = np.array(images, dtype=np.uint8, copy=True)
    if len(out) and out.shape[2] >= 2:
        out[0, 0, 0, :] = 0
        out[0, 0, 1, :] = 255
    return out
