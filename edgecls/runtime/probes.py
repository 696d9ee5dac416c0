"""Frames of nothing a classifier knows, made on the spot: what a camera sees between the things it
was trained on (a wall, a lens cap, sensor noise, an out-of-focus scene).

Every set is uint8 at the model's size and channels, seeded, so the false accepts an export reports
are the same figures on every machine.

>>> sets = probes(28, 28, 1)
>>> {name: x.shape for name, x in sets.items()}
{'flat': (32, 28, 28, 1), 'noise': (96, 28, 28, 1), 'texture': (96, 28, 28, 1)}
>>> int(sets["flat"][0].min()), int(sets["flat"][-1].max())
(0, 248)
"""

from __future__ import annotations

import cv2
import numpy as np

from edgecls.errors import EdgeclsError, clean_text


def flat(height: int, width: int, channels: int, seed: int = 0) -> np.ndarray:
    """Uniform frames: 32 grey levels, and for colour models 32 random colours more."""
    levels = np.arange(0, 256, 8, dtype=np.uint8)
    values = np.repeat(levels[:, None], channels, axis=1)
    if channels == 3:
        values = np.concatenate([values, np.random.default_rng(seed).integers(0, 256, (32, 3), dtype=np.uint8)])
    return np.broadcast_to(values[:, None, None, :], (len(values), height, width, channels)).copy()


def noise(height: int, width: int, channels: int, seed: int = 0, count: int = 96) -> np.ndarray:
    """Sensor noise: half uniform over 0..255, half Gaussian around a random grey (std 10..60)."""
    rng = np.random.default_rng(seed + 1)
    uniform = rng.integers(0, 256, (count // 2, height, width, channels), dtype=np.uint8)
    centre = rng.uniform(40, 215, (count - count // 2, 1, 1, 1))
    spread = rng.uniform(10, 60, (count - count // 2, 1, 1, 1))
    gaussian = np.clip(rng.normal(centre, spread, (count - count // 2, height, width, channels)), 0, 255)
    return np.concatenate([uniform, gaussian.astype(np.uint8)])


def texture(height: int, width: int, channels: int, seed: int = 0, count: int = 96) -> np.ndarray:
    """Out-of-focus scenes: noise blurred at 1..8 % of the frame's side, stretched to a random contrast."""
    rng = np.random.default_rng(seed + 2)
    out = np.empty((count, height, width, channels), np.uint8)
    side = min(height, width)
    for i in range(count):
        field = cv2.GaussianBlur(rng.normal(size=(height, width, channels)).astype(np.float32), (0, 0),
                                 float(rng.uniform(0.04, 0.25) * side))
        field = field.reshape(height, width, channels)
        low, high = np.sort(rng.uniform(0, 255, 2))
        span = max(float(field.max() - field.min()), 1e-6)
        out[i] = np.clip(low + (field - field.min()) / span * max(high - low, 30.0), 0, 255).astype(np.uint8)
    return out


def probes(height: int, width: int, channels: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Every generated set by name."""
    return {"flat": flat(height, width, channels, seed), "noise": noise(height, width, channels, seed),
            "texture": texture(height, width, channels, seed)}


def from_folder(folder, height: int, width: int, color: str, resize: str, limit: int = 2000) -> np.ndarray:
    """A user's own frames of nothing (``--ood DIR``), fitted to the model as the runtime fits a frame."""
    from pathlib import Path

    from edgecls.runtime.preprocess import to_model_input
    from edgecls.runtime.sources import list_images, read_image

    paths = list_images(Path(folder))[:limit]
    if not paths:
        raise EdgeclsError(f"--ood {clean_text(folder)}: no images there")
    return np.stack([to_model_input(read_image(p), height, width, color, resize) for p in paths])
