"""Export: TFLite and ONNX artifacts with embedded metadata, verified against the original.

Needs the ``[train]`` extra (TensorFlow, onnx). Example::

    from edgecls.export import export_model
    export_model("runs/mini", int8=True)      # writes runs/mini/export/
"""

from edgecls.export.exporter import FORMATS, export_model

__all__ = ["export_model", "FORMATS"]
