"""Read and write IDX files, the format of MNIST and Fashion-MNIST (gzip or plain).

Example::

    images = read_idx("train-images-idx3-ubyte.gz")   # (60000, 28, 28) uint8
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from edgecls import limits
from edgecls.errors import EdgeclsError, first_line

_UBYTE = 0x08


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Return the uint8 array stored in an IDX file; raise EdgeclsError if it is not one.

    The header is read first and its declared size checked against the unpack limit
    (:mod:`edgecls.limits`) before any data is decompressed, so a small gzip that declares
    gigabytes is refused in one line; the data is then read straight into its array.
    """
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as f:
            return _read_idx_stream(path, f)
    except (OSError, EOFError, zlib.error) as exc:
        if isinstance(exc, EdgeclsError):
            raise
        raise EdgeclsError(f"cannot read {path} as IDX: {first_line(exc)}") from exc


def _read_idx_stream(path: Path, f) -> np.ndarray:
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] != _UBYTE or not 1 <= magic[3] <= 4:
        raise EdgeclsError(
            f"{path}: not an unsigned-byte IDX file (magic {magic.hex() or 'missing'}, expected 0000080N)"
        )
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise EdgeclsError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    count = math.prod(shape)
    if count > limits.max_unpacked_bytes():
        raise EdgeclsError(f"{path}: IDX header declares {shape} ({count:,} bytes), "
                           f"{count - limits.max_unpacked_bytes():,} bytes over the limit of "
                           f"{limits.max_unpacked_bytes() >> 20} MB (raise it with EDGECLS_MAX_UNPACKED_MB)")
    out = np.empty(count, np.uint8)
    got = f.readinto(memoryview(out)) if count else 0
    extra = len(f.read(1))
    if got != count or extra:
        held = f"{got} bytes" if got != count else "more bytes"
        raise EdgeclsError(f"{path}: IDX header says {shape} ({count} bytes) but the file holds {held}")
    return out.reshape(shape)


def write_idx(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write a uint8 array as IDX; gzip it when the name ends in ``.gz``."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, _UBYTE, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    data = header + array.tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    Path(path).write_bytes(data)
