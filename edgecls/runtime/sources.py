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

from edgecls import console, limits
from edgecls.errors import EdgeclsError, clean_text

if console.level() != "verbose":  # FFmpeg's own "[http @ 0x...] Connection refused" lines, read on first use
    os.environ.setdefault("OPENCV_FFMPEG_DEBUG", "1")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"}
STREAM_PREFIXES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://")


class Source:
    live = False
    fps = 0.0
    dropped = 0
    name = ""
    segment: object = 0  # changes where consecutive frames stop being one scene (a new file, a reconnect)

    def read(self) -> np.ndarray | None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder``, recursively, sorted; hidden entries skipped.

    Links to folders are not followed (a link back up the tree would loop, and a link to
    another class's folder would label its images twice); links to files are kept.
    """
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [Path(root) / f for f in files if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found)


def load_image(path: Path) -> np.ndarray | None:
    """An image file upright (EXIF orientation applied) as BGR or GRAY 8-bit, or None if unreadable.

    The header is read first, wherever its size sits in the file: an image that declares more
    pixels than the limit (see :mod:`edgecls.limits`) is an EdgeclsError before a byte of it is
    decoded; OpenCV holds the same limit for the formats whose header is not read here.
    """
    try:
        with open(path, "rb") as f:
            if os.fstat(f.fileno()).st_size > 8 * limits.max_pixels() + (1 << 20):
                raise EdgeclsError(f"{path}: file too large for an image of at most {limits.max_pixels() / 1e6:g} MP")
            data = f.read()
    except OSError:
        return None
    limits.check_image_file(path, data)
    try:  # not IMREAD_UNCHANGED: that flag alone skips the EXIF rotation of phone photos
        image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_ANYCOLOR | cv2.IMREAD_ANYDEPTH)
    except cv2.error as exc:
        if "CV_IO_MAX_IMAGE_PIXELS" in str(exc):
            raise EdgeclsError(f"{path}: more pixels than the limit of {limits.max_pixels() / 1e6:g} MP "
                               "(raise it with --max-pixels)") from exc
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
        raise EdgeclsError(f"cannot read image {clean_text(path)} (missing, unreadable or not an image)")
    return image


class ImageSource(Source):
    """One image file or every image of a folder, in sorted order.

    In a folder an unreadable image (corrupt, over the pixel limit, a broken link) is
    skipped and listed in ``unreadable``; the run then ends with an error naming them.
    """

    def __init__(self, path: Path):
        self.name = clean_text(path)
        self.folder = path.is_dir()
        self.paths = list_images(path) if self.folder else [path]
        if not self.paths:
            raise EdgeclsError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {self.name}")
        self.index = 0
        self.current: Path | None = None
        self.segment = None
        self.unreadable: list[str] = []
        self.error: str | None = None

    def read(self):
        while self.index < len(self.paths):
            self.current = self.paths[self.index]
            self.segment = self.index
            self.index += 1
            if not self.folder:
                return read_image(self.current)
            try:
                return read_image(self.current)
            except EdgeclsError:
                self.unreadable.append(clean_text(self.current))
                self.error = (f"{len(self.unreadable)} unreadable image(s) skipped: "
                              f"{', '.join(self.unreadable[:3])}{' ...' if len(self.unreadable) > 3 else ''}")
        return None


class VideoSource(Source):
    """A video of known length (a file, or a file served over HTTP): every frame, once, in order.

    A video that ends before its declared length is an error that says how far it got; it is
    never reopened (a file read again would be classified twice).
    """

    def __init__(self, path: Path | str, capture: cv2.VideoCapture | None = None):
        self.name = clean_text(path)
        self.capture = capture or cv2.VideoCapture(str(path))
        ok, first = self.capture.read() if self.capture.isOpened() else (False, None)
        if not ok:
            self.capture.release()
            raise EdgeclsError(f"cannot read video {self.name} (missing, unreadable or no frames)")
        self.first = first
        self.fps = float(self.capture.get(cv2.CAP_PROP_FPS) or 0.0)
        self.declared = max(int(self.capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0)  # some containers say -1e15
        self.frames = 0
        self.error: str | None = None

    def read(self):
        if self.first is not None:
            frame, self.first = self.first, None
        else:
            ok, frame = self.capture.read()
            if not ok:
                if self.frames + 1 < self.declared:  # one frame of slack: some containers round the count
                    self.error = (f"{self.name}: the video ended early, after {self.frames} of its "
                                  f"{self.declared} frames (truncated or damaged file)")
                return None
        self.frames += 1
        return frame

    def close(self):
        self.capture.release()


class LatestFrame(Source):
    """A live capture (a camera, RTSP, a stream of no known length) read by a thread that keeps
    only the newest frame.

    ``opener`` returns an object with OpenCV's ``read()``/``release()``; after a failed read it
    is reopened, with a growing pause, up to ``retries`` times in a row before the source ends
    with an error. What the frames show never ends a live source (a still scene is still live).
    """

    live = True

    def __init__(self, name: str, opener, retries: int = 3, backoff: float = 0.5, fps: float = 0.0):
        self.name, self.opener, self.retries, self.backoff, self.fps = name, opener, retries, backoff, fps
        self.capture = opener()
        self.frame, self.frames_read, self.frames_taken, self.reconnects = None, 0, 0, 0
        self.error: str | None = None
        self.ended = False
        self.cond = threading.Condition()
        self.stopping = False
        self.thread = threading.Thread(target=self._loop, name=f"capture {name}", daemon=True)
        self.thread.start()

    def _end(self, error: str | None) -> None:
        with self.cond:
            self.error, self.ended = error, True
            self.cond.notify_all()

    def _loop(self):
        failures, reopened = 0, False
        while not self.stopping:
            ok, frame = self.capture.read()
            if not ok:
                failures += 1
                if failures > self.retries:
                    return self._end(f"{self.name}: stream dropped and did not come back after {self.retries} retries")
                time.sleep(self.backoff * failures)
                self.capture.release()
                if self.stopping:
                    return
                self.capture = self.opener()
                reopened = True
                continue
            failures = 0
            with self.cond:
                if reopened:
                    self.reconnects += 1
                    reopened = False
                if self.frame is not None:
                    self.dropped += 1  # the previous frame was never taken
                self.frame = frame
                self.frames_read += 1
                self.cond.notify_all()

    @property
    def segment(self) -> int:
        return self.reconnects

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
        """Stop the reader and release its capture; returns only once the reader can open no other."""
        self.stopping = True
        self.thread.join()
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


def http_length(url: str, timeout: float = 3.0) -> int | None:
    """The ``Content-Length`` an HTTP(S) server declares for ``url`` (a HEAD request), or None: a stream
    with no length (an MJPEG camera's multipart response) or any other protocol or failure."""
    import urllib.request

    if not url.lower().startswith(("http://", "https://")):
        return None
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            multipart = "multipart/" in (response.headers.get("Content-Type") or "")
    except (OSError, ValueError):
        return None
    return int(length) if length and length.isdigit() and int(length) > 0 and not multipart else None


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
            raise EdgeclsError(f"cannot open stream {clean_text(spec)}")
        if int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) > 0 or http_length(spec):  # a file served: read it once
            return VideoSource(spec, cap)
        return LatestFrame(spec, lambda c=[cap]: c.pop() if c else cv2.VideoCapture(spec),
                           fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0))
    path = Path(spec)
    if not path.exists():
        raise EdgeclsError(f"source not found: {spec} (give a camera index, a stream URL, a video, an image or a folder)")
    if path.is_dir() or path.suffix.lower() in IMAGE_SUFFIXES:
        return ImageSource(path)
    return VideoSource(path)
