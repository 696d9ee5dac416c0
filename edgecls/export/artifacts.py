"""The one table of export formats: adding a format is one entry here plus its builder.

Export, bench, the results scripts and the tests all read this table; no other module
spells an artifact's file name.

>>> ARTIFACTS["tflite-int8"].filename
'model_int8.tflite'
>>> [a.name for a in default_formats(int8=False)]
['tflite-fp32', 'tflite-fp16', 'tflite-dynamic', 'onnx-fp32']
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Artifact:
    name: str            # what --formats takes
    filename: str        # inside the export folder
    backend: str         # the runtime that opens it: tflite or onnx
    quantization: str    # fp32, fp16, dynamic or int8
    clients: tuple[str, ...]  # where it has been opened (see README, "Clients")

    @property
    def int8(self) -> bool:
        return self.quantization == "int8"


ARTIFACTS: dict[str, Artifact] = {a.name: a for a in (
    Artifact("tflite-fp32", "model_fp32.tflite", "tflite", "fp32", ("edgecls", "LiteRT")),
    Artifact("tflite-fp16", "model_fp16.tflite", "tflite", "fp16", ("edgecls", "LiteRT")),
    Artifact("tflite-dynamic", "model_dynamic.tflite", "tflite", "dynamic", ("edgecls", "LiteRT")),
    Artifact("tflite-int8", "model_int8.tflite", "tflite", "int8", ("edgecls", "LiteRT", "MediaPipe Tasks")),
    Artifact("onnx-fp32", "model_fp32.onnx", "onnx", "fp32", ("edgecls", "ONNX Runtime", "OpenCV DNN")),
    Artifact("onnx-int8", "model_int8.onnx", "onnx", "int8", ("edgecls", "ONNX Runtime")),
)}
FILENAMES = [a.filename for a in ARTIFACTS.values()]


def default_formats(int8: bool) -> list[Artifact]:
    """Every float format, and the int8 ones when asked for."""
    return [a for a in ARTIFACTS.values() if int8 or not a.int8]


def by_filename(filename: str) -> Artifact | None:
    return next((a for a in ARTIFACTS.values() if a.filename == filename), None)
