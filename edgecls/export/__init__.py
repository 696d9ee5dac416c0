"""Export: TFLite and ONNX artifacts with embedded metadata, verified against the original.

Needs the ``[train]`` extra (TensorFlow, onnx). Example::

    from edgecls.export import export_model
    export_model("runs/mini", int8=True)      # writes runs/mini/export/

To add a format: one entry in :mod:`edgecls.export.artifacts` and its conversion in
:func:`edgecls.export.exporter._convert`.
"""

from edgecls.export.artifacts import ARTIFACTS

__all__ = ["ARTIFACTS", "build", "export_model", "prepare", "publish", "verify"]


def __getattr__(name: str):
    """The exporter's steps, loaded on first use: reading the format table (the CLI's --formats choices)
    imports nothing heavy."""
    if name in __all__:
        from edgecls.export import exporter

        return getattr(exporter, name)
    raise AttributeError(f"module 'edgecls.export' has no attribute {name!r}")
