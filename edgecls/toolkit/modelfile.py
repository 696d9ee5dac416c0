"""Open a saved ``.keras`` model, or say in one line why it cannot be opened.

Example::

    from edgecls.toolkit.modelfile import load_model
    model = load_model("runs/mini/model.keras")
"""

from __future__ import annotations

from pathlib import Path

from edgecls.errors import EdgeclsError


def load_model(path: str | Path):
    """The Keras model in ``path`` (not compiled: every caller predicts or re-compiles)."""
    import keras

    p = Path(path)
    if not p.is_file():
        raise EdgeclsError(f"model file not found: {p}")
    try:
        return keras.models.load_model(p, compile=False)
    except Exception as exc:
        raise EdgeclsError(f"cannot load {p} as a Keras model: {str(exc).splitlines()[0][:200]}") from None
