"""The :class:`Classifier`: one exported artifact, ready for frames.

Example::

    from edgecls.runtime import Classifier
    clf = Classifier("model_int8.tflite")            # or .onnx; backend chosen from the file
    clf.classify(frame_bgr, top_k=3)                 # [("Sneaker", 0.97), ("Sandal", 0.02), ...]
    clf.classify_batch([frame1, frame2])             # one list per frame
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError, clean_text
from edgecls.runtime import postprocess
from edgecls.runtime.backends import open_backend
from edgecls.runtime.metadata import RESIZE_MODES, artifact_kind
from edgecls.runtime.confidence import UNKNOWN
from edgecls.runtime.preprocess import to_model_input


class Classifier:
    """A TFLite or ONNX image classifier that takes OpenCV frames.

    Labels, input size, colour order and resize mode come from the metadata that
    ``edgecls export`` embeds; for other models pass ``labels=`` and ``input_size=``
    ((height, width) or (height, width, channels)). ``resize`` overrides the mode
    (``stretch``, ``crop`` or ``pad``). ``threads`` sets TFLite/ONNX Runtime CPU threads;
    ``device`` is ``auto`` (the best available), ``cpu`` or ``gpu`` (refused without one);
    ``providers`` names ONNX Runtime execution providers outright.
    """

    def __init__(self, path: str | os.PathLike, *, labels: list[str] | None = None,
                 input_size: tuple[int, ...] | None = None, resize: str | None = None,
                 threads: int | None = None, providers: list[str] | None = None, device: str = "auto",
                 warmup: bool = True):
        self.path = Path(path)
        if not self.path.is_file():
            raise EdgeclsError(f"model file not found: {clean_text(self.path)}")
        self.kind = artifact_kind(self.path)
        self.backend = open_backend(str(self.path), self.kind, threads, providers, device)
        self.metadata = self.backend.metadata or {}
        self._set_input(self.backend.input_shape, self.metadata.get("input", {}), input_size)
        self.resize = resize or self.metadata.get("input", {}).get("resize", "stretch")
        if self.resize not in RESIZE_MODES:
            raise EdgeclsError(f"unknown resize mode {self.resize!r}: use {', '.join(RESIZE_MODES)}")
        self.labels = [clean_text(label, 200) for label in (labels or self.metadata.get("labels") or [])]
        classes = self.backend.num_classes
        if self.labels and classes and len(self.labels) != classes:
            raise EdgeclsError(f"{len(self.labels)} labels for a model with {classes} classes")
        if warmup:
            self.predict(np.zeros((1, self.height, self.width, self.channels), np.uint8))

    def _set_input(self, shape: tuple, meta_in: dict, input_size) -> None:
        """Input size, channels and colour: from the metadata, checked against the model's tensor."""
        if len(shape) != 4:
            raise EdgeclsError(f"{self.path}: input shape {shape} is not an image batch (N, H, W, C)")
        self.nchw = shape[1] in (1, 3) and shape[3] not in (1, 3)
        model_h, model_w, model_c = (shape[2], shape[3], shape[1]) if self.nchw else shape[1:]
        if input_size:
            model_h, model_w = input_size[:2]
            model_c = input_size[2] if len(input_size) > 2 else model_c
        self.height = int(meta_in.get("height", model_h))
        self.width = int(meta_in.get("width", model_w))
        self.channels = int(meta_in.get("channels", model_c))
        if min(self.height, self.width) <= 0 or self.channels not in (1, 3):
            raise EdgeclsError(f"{self.path}: cannot tell the input image size from shape {shape}; "
                               f"pass input_size=(H, W, C)")
        declared = (self.height, self.width, self.channels)
        if any(m > 0 and m != d for m, d in zip((model_h, model_w, model_c), declared)):
            raise EdgeclsError(f"{self.path}: metadata says {declared[0]}x{declared[1]}x{declared[2]} input but the "
                               f"model's tensor is {model_h}x{model_w}x{model_c}")
        self.color = meta_in.get("color", "GRAY" if self.channels == 1 else "RGB")

    def __repr__(self) -> str:
        return (f"Classifier({str(self.path)!r}, {self.kind}, {self.height}x{self.width}x{self.channels} "
                f"{self.color}, {len(self.labels)} labels, on {self.backend.device})")

    @property
    def unknown(self) -> dict | None:
        """The file's unknown class as its metadata describes it (threshold, slope ...), when its last label
        is ``unknown``; None for a file without one."""
        if self.labels and self.labels[-1] == UNKNOWN and self.backend.num_classes == len(self.labels):
            return (self.metadata or {}).get("unknown") or {}
        return None

    @property
    def supports_batch(self) -> bool:
        return self.backend.dynamic_batch

    def preprocess(self, frame: np.ndarray, source: str = "BGR") -> np.ndarray:
        """A frame (BGR/BGRA/GRAY, any size) as the model's (H, W, C) uint8 pixels."""
        return to_model_input(frame, self.height, self.width, self.color, self.resize, source)

    def predict(self, pixels: np.ndarray, chunk: int = 256) -> np.ndarray:
        """Probabilities (N, classes) for preprocessed uint8 pixels (N, H, W, C).

        Runs ``chunk`` images at a time, so a large (or memory-mapped) array is never copied whole.
        Gray pixels (C = 1) given to an RGB model are taken as three equal channels.
        """
        pixels = np.asarray(pixels)
        if pixels.dtype != np.uint8:
            raise EdgeclsError(f"expected uint8 pixels 0..255 (the model scales them itself), got {pixels.dtype}")
        if pixels.ndim == 3:
            pixels = pixels[None]
        gray_for_rgb = pixels.ndim == 4 and pixels.shape[-1] == 1 and self.channels == 3
        if pixels.shape[1:] != (self.height, self.width, 1 if gray_for_rgb else self.channels):
            raise EdgeclsError(f"expected pixels shaped (N, {self.height}, {self.width}, {self.channels}), "
                               f"got {pixels.shape}")
        if len(pixels) > chunk:
            return np.concatenate([self.predict(pixels[i : i + chunk], chunk) for i in range(0, len(pixels), chunk)])
        if gray_for_rgb:  # three equal channels, one chunk at a time
            pixels = np.repeat(pixels, 3, axis=-1)
        if self.nchw:
            pixels = pixels.transpose(0, 3, 1, 2)
        return self.backend.run(np.ascontiguousarray(pixels))

    def top_k(self, probs: np.ndarray, k: int = 1) -> list[tuple[str, float]]:
        """The k best (label, score) pairs of one probability vector (ties: the lower index, as argmax)."""
        return postprocess.top_k(probs, k, self.labels)

    def classify(self, frame: np.ndarray, top_k: int = 1) -> list[tuple[str, float]]:
        """Classify one OpenCV frame; scores are probabilities."""
        return self.top_k(self.predict(self.preprocess(frame))[0], top_k)

    def classify_batch(self, frames, top_k: int = 1) -> list[list[tuple[str, float]]]:
        """Classify several frames in one call (one batch where the model allows it)."""
        pixels = np.stack([self.preprocess(f) for f in frames])
        return [self.top_k(p, top_k) for p in self.predict(pixels)]
