"""Open a saved ``.keras`` (or legacy full-model ``.h5``) model, or say in one line why it cannot be opened.

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
    if is_saved_model(p):
        return _load_saved_model(p)
    if not p.is_file():
        raise EdgeclsError(f"model file not found: {p}")
    if p.suffix == ".keras":
        limits.check_zip(p, "Keras model")
    try:
        return keras.models.load_model(p, compile=compile)
    except Exception as exc:
        if "No model config found" in str(exc):
            raise EdgeclsError(f"{p} holds weights only, no model: build the model in Python, load_weights() "
                               "into it and save it whole with model.save('my_model.keras')") from exc
        raise EdgeclsError(f"cannot load {p} as a Keras model: {first_line(exc)}") from exc


def is_saved_model(path: str | Path) -> bool:
    """A TensorFlow SavedModel folder (what ``model.save("dir")`` wrote in TF 2.x, or ``model.export``)."""
    return Path(path).is_dir() and (Path(path) / "saved_model.pb").is_file()


def _load_saved_model(path: Path):
    """A SavedModel's serving signature as a Keras model with one input and one output."""
    import keras

    try:
        layer = keras.layers.TFSMLayer(str(path), call_endpoint="serving_default")  # loads the SavedModel once
        signature = layer.call_endpoint_fn
    except Exception as exc:
        raise EdgeclsError(f"cannot load {path} as a SavedModel with a serving_default signature: "
                           f"{first_line(exc)}") from exc
    inputs = list(signature.structured_input_signature[1].values())
    outputs = signature.structured_outputs
    if len(inputs) != 1 or len(outputs) != 1:
        raise EdgeclsError(f"{path}: expected one input and one output, the serving signature has "
                           f"{len(inputs)} and {len(outputs)}")
    x = keras.Input(tuple(inputs[0].shape[1:]), dtype=inputs[0].dtype.name, name="input")
    out = layer(x)
    return keras.Model(x, next(iter(out.values())) if isinstance(out, dict) else out, name=path.name)
