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

from edgecls.errors import EdgeclsError

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
        raise EdgeclsError(f"cannot read model {path}: {exc.strerror}") from None
    if head[4:8] == TFLITE_MAGIC:
        return "tflite"
    if path.suffix == ".onnx" or head[:1] == b"\x08":  # ONNX protobuf starts with ir_version (field 1)
        return "onnx"
    raise EdgeclsError(f"{path} is neither a TFLite nor an ONNX model")


def read_tflite_metadata(data: bytes) -> dict | None:
    """The ``edgecls`` entry of a TFLite flatbuffer, or None."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    for i in range(model.MetadataLength()):
        entry = model.Metadata(i)
        if entry.Name() == KEY.encode():
            return json.loads(model.Buffers(entry.Buffer()).DataAsNumpy().tobytes())
    return None


def read_metadata(path: str | os.PathLike) -> dict | None:
    """Embedded metadata of a TFLite or ONNX artifact, or None when it has none."""
    kind = artifact_kind(path)
    try:
        if kind == "tflite":
            return read_tflite_metadata(Path(path).read_bytes())
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        raw = session.get_modelmeta().custom_metadata_map.get(KEY)
        return json.loads(raw) if raw else None
    except EdgeclsError:
        raise
    except Exception as exc:
        raise EdgeclsError(f"{path}: corrupt or truncated {kind} model ({str(exc).splitlines()[0][:160]})") from None


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
