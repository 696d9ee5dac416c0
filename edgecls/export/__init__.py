"""Export: TFLite and ONNX artifacts with embedded metadata, verified against the original.

Needs the ``[train]`` extra (TensorFlow, onnx). Example::

    from edgecls.export import export_model
    export_model("runs/mini", int8=True)      # writes runs/mini/export/

To add a format: one entry in :mod:`edgecls.export.artifacts` and its conversion in
:func:`edgecls.export.exporter._convert`.
"""

from edgecls.export.artifacts import ARTIFACTS
from edgecls.export.exporter import build, export_model, prepare, publish, verify

__all__ = ["ARTIFACTS", "build", "export_model", "prepare", "publish", "verify"]
