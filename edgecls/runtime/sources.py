"""Frame sources: camera, video file, RTSP/HTTP stream, image file, folder of images.

Every source has the same small interface, so the classify loop (and a test's fake
camera) does not care where frames come from::

    source.read()  -> frame (BGR uint8) or None at the end
    source.live    -> True for cameras and streams: frames may be dropped, never queued
    source.fps, source.name, source.dropped, source.close()

Live sources are read by a background thread that keeps only the newest frame, so
inference always sees the latest picture and memory never grows.

Example::

    with open_source("video.mp4") as src:
        while (frame := src.read()) is not None:
            ...
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from edgecls.errors import EdgeclsError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class Source:
    live = False
    fps = 0.0
    dropped = 0
    name = ""

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted; hidden entries and symlink loops skipped."""
    found, seen = [], set()
    for root, dirs, files in os.walk(folder, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def load_image(path: Path) -> np.ndarray | None:
    """An image file as OpenCV reads it (BGR, BGRA or GRAY, 8-bit), or None if unreadable."""
    try:
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error:
        return None
    if image is None or image.size == 0:
        return None
    if image.dtype == np.uint16:  # 16-bit PNG/TIFF
        return (image // 257).astype(np.uint8)
    return image if image.dtype == np.uint8 else None


def read_image(path: Path) -> np.ndarray:
    """Like :func:`load_image`, but an unreadable file is an EdgeclsError."""
    image = load_image(path)
    if image is None:
        raise EdgeclsError(f"cannot read image {path} (missing, unreadable or not an image)")
    return image


class ImageSource(Source):
    """One image file or every image of a folder, in sorted order."""

    def __init__(self, path: Path):
        self.name = str(path)
        self.paths = list_images(path) if path.is_dir() else [path]
        if not self.paths:
            raise EdgeclsError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {path}")
        self.index = 0
        self.current: Path | None = None

    def read(self):
        if self.index >= len(self.paths):
            return None
        self.current = self.paths[self.index]
        self.index += 1
        return read_image(self.current)


class VideoSource(Source):
    """A video file: every frame, in order."""

    def __init__(self, path: Path):
        self.name = str(path)
        self.capture = cv2.VideoCapture(str(path))
        ok, first = self.capture.read() if self.capture.isOpened() else (False, None)
        if not ok:
            self.capture.release()
            raise EdgeclsError(f"cannot read video {path} (missing, unreadable or no frames)")
        self.first = first
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)

    def read(self):
        if self.first is not None:
            frame, self.first = self.first, None
            return frame
        ok, frame = self.capture.read()
        return frame if ok else None

    def close(self):
        self.capture.release()


class LatestFrame(Source):
    """A live capture read by a thread that keeps only the newest frame.

    ``opener`` returns an object with OpenCV's ``read()``/``release()``; after a failed
    read it is reopened up to ``retries`` times before the source ends with an error.
    """

    live = True

    def __init__(self, name: str, opener, retries: int = 3, backoff: float = 0.5, fps: float = 0.0):
        self.name, self.opener, self.retries, self.backoff, self.fps = name, opener, retries, backoff, fps
        self.capture = opener()
        self.frame, self.frames_read, self.frames_taken = None, 0, 0
        self.error: str | None = None
        self.ended = False
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name=f"capture {name}", daemon=True)
        self.thread.start()

    def _loop(self):
        failures = 0
        while not self.stopping:
            ok, frame = self.capture.read()
            if not ok:
                failures += 1
                if failures > self.retries:
                    with self.cond:
                        self.error = f"{self.name}: stream dropped and did not come back after {self.retries} retries"
                        self.ended = True
                        self.cond.notify_all()
                    return
                time.sleep(self.backoff * failures)
                self.capture.release()
                self.capture = self.opener()
                continue
            failures = 0
            with self.cond:
                if self.frame is not None:
                    self.dropped += 1  # the previous frame was never taken
                self.frame = frame
                self.frames_read += 1
                self.cond.notify_all()

    def read(self, timeout: float = 10.0):
        with self.cond:
            if not self.cond.wait_for(lambda: self.frame is not None or self.ended, timeout):
                self.error = f"{self.name}: no frame for {timeout:.0f} s"
                return None
            frame, self.frame = self.frame, None
            if frame is None:
                return None
            self.frames_taken += 1
            return frame

    def close(self):
        self.stopping = True
        self.thread.join(timeout=2)
        self.capture.release()


def _quiet_open(target) -> cv2.VideoCapture:
    """Open a capture without OpenCV's multi-line warnings for devices that are not there."""
    logging = cv2.utils.logging
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        return cv2.VideoCapture(target)
    finally:
        logging.setLogLevel(level)


def working_cameras(limit: int = 6) -> list[int]:
    """Camera indices that open, to suggest when the requested one does not."""
    found = []
    for index in range(limit):
        cap = _quiet_open(index)
        if cap.isOpened():
            found.append(index)
        cap.release()
    return found


def open_source(spec: str) -> Source:
    """A camera index (``"0"``), stream URL, video file, image file or folder of images."""
    spec = str(spec)
    if spec.isdigit():
        index = int(spec)
        cap = _quiet_open(index)
        if not cap.isOpened():
            cap.release()
            others = [i for i in working_cameras() if i != index]
            hint = f"cameras that open: {', '.join(map(str, others))}" if others else "no camera opens on this machine"
            raise EdgeclsError(f"camera {index} will not open ({hint})")
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        return LatestFrame(f"camera {index}", lambda c=[cap]: c.pop() if c else cv2.VideoCapture(index), fps=fps)
    if spec.lower().startswith(STREAM_PREFIXES):
        cap = _quiet_open(spec)
        if not cap.isOpened():
            raise EdgeclsError(f"cannot open stream {spec}")
        return LatestFrame(spec, lambda c=[cap]: c.pop() if c else cv2.VideoCapture(spec),
                           fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0))
    path = Path(spec)
    if not path.exists():
        raise EdgeclsError(f"source not found: {spec} (give a camera index, a stream URL, a video, an image or a folder)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoSource(path)
