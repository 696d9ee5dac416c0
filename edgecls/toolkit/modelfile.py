"""Open a saved ``.keras`` model, or say in one line why it cannot be opened.

Example::

    from edgecls.toolkit.modelfile import load_model
    model = load_model("runs/mini/model.keras")
"""

from __future__ import annotations

from pathlib import Path

from edgecls import limits
from edgecls.errors import EdgeclsError, first_line


def load_model(path: str | Path, compile: bool = False):
    """The Keras model in ``path`` (by default not compiled: most callers predict or re-compile).

    A ``.keras`` file is a zip: its declared sizes are checked against the unpack limit
    before Keras opens it (:mod:`edgecls.limits`). Keras' ``safe_mode`` stays on, so a
    Lambda layer's code is never run.
    """
    import keras

    p = Path(path)
    if not p.is_file():
        raise EdgeclsError(f"model file not found: {p}")
    if p.suffix == ".keras":
        limits.check_zip(p, "Keras model")
    try:
        return keras.models.load_model(p, compile=compile)
    except Exception as exc:
        raise EdgeclsError(f"cannot load {p} as a Keras model: {first_line(exc)}") from exc
