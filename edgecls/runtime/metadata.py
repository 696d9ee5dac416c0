"""Metadata embedded in every exported artifact, read without TensorFlow.

Export writes one JSON document under the key ``edgecls``: in a TFLite file as a named
entry of the model's ``metadata`` (a flatbuffer buffer), in an ONNX file as a
``metadata_props`` entry. It says everything the runtime needs to feed the model the
pixels it was trained on, and where the model came from.

Example::

    meta = read_metadata("model_int8.tflite")
    meta["labels"], meta["input"]["height"], meta["input"]["color"]
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from edgecls import limits
from edgecls.errors import EdgeclsError, clean_text, first_line

KEY = "edgecls"
FORMAT = "edgecls/1"
RESIZE_MODES = ("stretch", "crop", "pad")
TFLITE_MAGIC = b"TFL3"


def artifact_kind(path: str | os.PathLike) -> str:
    """``"tflite"`` or ``"onnx"`` from the file's bytes (not its name); EdgeclsError otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise EdgeclsError(f"cannot read model {path}: {exc.strerror}") from exc
    if head[4:8] == TFLITE_MAGIC:
        return "tflite"
    if path.suffix == ".onnx" or head[:1] == b"\x08":  # ONNX protobuf starts with ir_version (field 1)
        return "onnx"
    raise EdgeclsError(f"{path} is neither a TFLite nor an ONNX model")


def tflite_metadata_entry(data: bytes, name: str = KEY) -> bytes | None:
    """The bytes of metadata entry ``name`` in a TFLite flatbuffer, or None.

    Pure Python over the flatbuffer (no interpreter); a malformed buffer raises.
    """
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == name.encode():
            buffer = model.Buffers(entry.Buffer())
            if buffer.DataLength() > limits.MAX_METADATA_BYTES:
                raise EdgeclsError(f"metadata entry {name!r} is {buffer.DataLength():,} bytes, over "
                                   f"{limits.MAX_METADATA_BYTES:,}")
            return buffer.DataAsNumpy().tobytes()
    return None


def _positive(meta_in: dict, key: str, path) -> int:
    value = meta_in.get(key)
    if not isinstance(value, int) or not 1 <= value <= limits.MAX_INPUT_SIDE:
        raise EdgeclsError(f"{path}: metadata input.{key} must be 1..{limits.MAX_INPUT_SIDE}, got {clean_text(value, 40)}")
    return value


def parse_metadata(raw: bytes | str | None, path) -> dict | None:
    """Validate an embedded metadata document; labels come back cleaned of control characters.

    The document is untrusted: sizes are bounded, types checked, and every string that can
    reach a terminal or an overlay is cleaned (:func:`edgecls.errors.clean_text`).
    """
    if raw is None:
        return None
    if len(raw) > limits.MAX_METADATA_BYTES:
        raise EdgeclsError(f"{path}: embedded metadata is {len(raw):,} bytes, over {limits.MAX_METADATA_BYTES:,}")
    try:
        meta = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeclsError(f"{path}: embedded metadata is not JSON ({first_line(exc, 80)})") from exc
    if not isinstance(meta, dict) or not isinstance(meta.get("input"), dict) or not isinstance(meta.get("labels"), list):
        raise EdgeclsError(f"{path}: embedded metadata lacks its input or labels section")
    labels, meta_in = meta["labels"], meta["input"]
    if len(labels) > limits.MAX_LABELS or not all(isinstance(label, str) for label in labels):
        raise EdgeclsError(f"{path}: metadata labels must be at most {limits.MAX_LABELS:,} strings")
    meta["labels"] = [clean_text(label, 200) for label in labels]
    for key in ("height", "width"):
        _positive(meta_in, key, path)
    if meta_in.get("channels") not in (1, 3) or meta_in.get("color") not in ("GRAY", "RGB"):
        raise EdgeclsError(f"{path}: metadata input must have channels 1 or 3 and color GRAY or RGB")
    if meta_in.get("resize", "stretch") not in RESIZE_MODES:
        raise EdgeclsError(f"{path}: metadata resize must be one of {', '.join(RESIZE_MODES)}")
    return meta


def read_metadata(path: str | os.PathLike) -> dict | None:
    """Embedded metadata of a TFLite or ONNX artifact, or None when it has none.

    A TFLite file's metadata is read from its flatbuffer alone (no interpreter is built); an
    ONNX file's through ONNX Runtime, which owns that format.
    """
    if artifact_kind(path) == "onnx":
        from edgecls.runtime.backends import open_backend

        return open_backend(path, "onnx").metadata
    try:
        raw = tflite_metadata_entry(Path(path).read_bytes())
    except EdgeclsError:
        raise
    except Exception as exc:  # a malformed flatbuffer
        raise EdgeclsError(f"{path}: corrupt or truncated TFLite model ({first_line(exc, 160)})") from exc
    return parse_metadata(raw, path)


def make_metadata(*, labels, height, width, channels, color, resize="stretch", dtype="uint8",
                  **provenance) -> dict:
    """Build the metadata document; ``provenance`` adds source hash, dataset, accuracy..."""
    if color not in ("GRAY", "RGB"):
        raise ValueError(f"color must be GRAY or RGB, got {color}")
    if resize not in RESIZE_MODES:
        raise ValueError(f"resize must be one of {RESIZE_MODES}, got {resize}")
    return {"format": FORMAT, "labels": list(labels),
            "input": {"height": int(height), "width": int(width), "channels": int(channels),
                      "color": color, "dtype": dtype, "resize": resize},
            **provenance}
