"""Crop preprocessing: the exact centred crop against the old integer-factor shortcut, in one run.

    python benchmarks/crop_speed.py          # writes benchmarks/results/crop_speed.json

The old shortcut cropped the largest integer multiple of the model size, so the view depended
on the camera's resolution (67% of a 671x671 frame for a 224 model, 100% of a 672x672 one).
``center_crop`` now keeps the full centred region at every resolution; this script measures
what that exactness costs per frame (1 OpenCV thread, p50 of 300 calls, smooth random frames).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import cv2
import numpy as np

from edgecls.runtime.preprocess import to_model_input

RESULTS = Path(__file__).parent / "results"


def old_shortcut(frame: np.ndarray, size: int, color: str) -> np.ndarray:
    """The previous crop: the largest integer multiple of ``size``, then an area resize."""
    h, w = frame.shape[:2]
    k = min(h, w) // size
    side = k * size if k >= 2 else min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    return to_model_input(frame[top : top + side, left : left + side], size, size, color, "stretch")


def p50_us(fn, calls: int = 300) -> float:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times) * 1e6)


def main() -> None:
    cv2.setNumThreads(1)
    rng = np.random.default_rng(0)
    rows = []
    for height, width in ((480, 640), (720, 1280), (1080, 1920)):
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (9, 9), 3)
        for size, color in ((28, "GRAY"), (224, "RGB")):
            exact = p50_us(lambda: to_model_input(frame, size, size, color, "crop"))
            old = p50_us(lambda: old_shortcut(frame, size, color))
            stretch = p50_us(lambda: to_model_input(frame, size, size, color, "stretch"))
            side = min(height, width)
            kept_old = (side // size * size if side // size >= 2 else side) / side
            rows.append({"frame": f"{width}x{height}", "model": f"{size}x{size} {color}", "exact_crop_us": round(exact),
                         "old_shortcut_us": round(old), "stretch_us": round(stretch),
                         "exact_over_old": round(exact / old, 2), "old_view_kept": round(kept_old, 3)})
            print(rows[-1])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "crop_speed.json").write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
