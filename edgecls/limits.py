"""Bounds on what edgecls will decode from an untrusted file, checked before decoding.

A few megabytes of PNG can declare 30000x30000 pixels (2.7 GB decoded); a zip can declare
gigabytes of zeros. Every reader checks the declared size here first and refuses in one
line that says how to raise the limit.

=================  ==========  ===========================================
limit              default     raise it with
=================  ==========  ===========================================
image pixels       50 MP       ``--max-pixels`` / ``EDGECLS_MAX_PIXELS``
unpacked archive   1 GiB       ``EDGECLS_MAX_UNPACKED_MB`` (.keras, .npz, IDX)
model metadata     1 MiB       (fixed: real metadata is a few KB)
model input side   8192 px     (fixed)
=================  ==========  ===========================================

>>> image_size_from_header(b"\\x89PNG\\r\\n\\x1a\\n\\x00\\x00\\x00\\rIHDR\\x00\\x00\\x75\\x30\\x00\\x00\\x75\\x30")
(30000, 30000)
"""

from __future__ import annotations

import os
import struct
import zipfile
from pathlib import Path

from edgecls.errors import EdgeclsError

DEFAULT_MAX_PIXELS = 50_000_000
DEFAULT_MAX_UNPACKED_MB = 1024
MAX_METADATA_BYTES = 1 << 20
MAX_INPUT_SIDE = 8192
MAX_LABELS = 100_000


def max_pixels() -> int:
    return int(os.environ.get("EDGECLS_MAX_PIXELS") or DEFAULT_MAX_PIXELS)


def set_max_pixels(n: int) -> None:
    """Raise or lower the image pixel limit for this process and its children.

    OpenCV reads its own limit once, when it is imported: this must come first to raise it (the
    CLI imports OpenCV only after its options are read); lowering works at any time, since every
    header is checked here before OpenCV sees the file.
    """
    import sys

    if "cv2" in sys.modules and n > int(os.environ.get("OPENCV_IO_MAX_IMAGE_PIXELS", 0)):
        raise EdgeclsError("max_pixels: OpenCV is already imported with a lower limit; set it before importing "
                           "OpenCV (or set EDGECLS_MAX_PIXELS in the environment)")
    os.environ["EDGECLS_MAX_PIXELS"] = str(int(n))
    os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(int(n))


def max_unpacked_bytes() -> int:
    return int(os.environ.get("EDGECLS_MAX_UNPACKED_MB") or DEFAULT_MAX_UNPACKED_MB) << 20


# OpenCV's own backstop for formats whose header is not read here, the same limit (read when OpenCV is imported).
os.environ["OPENCV_IO_MAX_IMAGE_PIXELS"] = str(max_pixels())


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(head):
        if head[i] != 0xFF:
            return None
        marker = head[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        length = struct.unpack(">H", head[i + 2 : i + 4])[0]
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            h, w = struct.unpack(">HH", head[i + 5 : i + 9])
            return w, h
        i += 2 + length
    return None


def _tiff_size(head: bytes) -> tuple[int, int] | None:
    order = "<" if head[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", head[4:8])
    if offset + 2 > len(head):
        return None
    (count,) = struct.unpack(order + "H", head[offset : offset + 2])
    size = {}
    for k in range(count):
        entry = head[offset + 2 + 12 * k : offset + 14 + 12 * k]
        if len(entry) < 12:
            break
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag in (256, 257):
            size[tag] = struct.unpack(order + ("H" if kind == 3 else "I"), entry[8 : 10 if kind == 3 else 12])[0]
    return (size[256], size[257]) if len(size) == 2 else None


def image_size_from_header(head: bytes) -> tuple[int, int] | None:
    """(width, height) declared by a PNG, JPEG, BMP, WebP or TIFF header; None if unknown."""
    try:
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            return struct.unpack(">II", head[16:24])
        if head[:2] == b"\xff\xd8":
            return _jpeg_size(head)
        if head[:2] == b"BM":
            w, h = struct.unpack("<ii", head[18:26])
            return abs(w), abs(h)
        if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
            chunk = head[12:16]
            if chunk == b"VP8X":
                return 1 + int.from_bytes(head[24:27], "little"), 1 + int.from_bytes(head[27:30], "little")
            if chunk == b"VP8L":
                bits = int.from_bytes(head[21:25], "little")
                return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
            if chunk == b"VP8 ":
                w, h = struct.unpack("<HH", head[26:30])
                return w & 0x3FFF, h & 0x3FFF
        if head[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff_size(head)
    except struct.error:
        return None
    return None


def check_image_file(path: Path, head: bytes) -> None:
    """Refuse an image whose header declares more pixels than :func:`max_pixels`."""
    size = image_size_from_header(head)
    if size and size[0] * size[1] > max_pixels():
        raise EdgeclsError(f"{path}: declares {size[0]}x{size[1]} pixels, over the limit of "
                           f"{max_pixels() / 1e6:g} MP (raise it with --max-pixels)")


def check_zip(path: Path, what: str) -> None:
    """Refuse a zip (``.keras``, ``.npz``) whose members declare more than the unpack limit."""
    try:
        with zipfile.ZipFile(path) as z:
            declared = sum(info.file_size for info in z.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise EdgeclsError(f"{path}: not a readable {what} (corrupt or truncated zip: {exc})") from exc
    if declared > max_unpacked_bytes():
        raise EdgeclsError(f"{path}: unpacks to {declared:,} bytes, {declared - max_unpacked_bytes():,} bytes over "
                           f"the limit of {max_unpacked_bytes() >> 20} MB (raise it with EDGECLS_MAX_UNPACKED_MB)")
