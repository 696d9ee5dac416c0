"""Keras model -> ONNX (Keras' own exporter) and ONNX Runtime static int8 quantization.

``tf2onnx.convert.from_keras`` fails on Keras 3 models, so the fp32 file comes from
``model.export(format="onnx")``; int8 is ONNX Runtime's QDQ static quantization with
per-channel weights, calibrated on the same images as TFLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from edgecls.export.calibration import span_pixel_range

OPSET = 18


def export_fp32(model, path: Path, opset: int = OPSET) -> Path:
    """Write the fp32 ONNX model (uint8 NHWC input, dynamic batch)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        model.export(str(path), format="onnx", verbose=False, opset_version=opset)
    _freeze_normalization_inputs(model, path)
    return path


def _freeze_normalization_inputs(model, path: Path) -> None:
    """Turn Normalization statistics that Keras' exporter left as graph inputs into constants.

    Keras 3.15's ONNX export leaves a ``Normalization`` layer's mean and variance (e.g. inside
    keras.applications EfficientNet) as extra graph inputs named ``<layer>/Sub/y:0`` and
    ``<layer>/Sqrt/x:0``; ONNX Runtime then asks for them at every call.
    """
    import keras
    import onnx
    from onnx import numpy_helper

    proto = onnx.load(str(path))
    known = {i.name for i in proto.graph.initializer}
    dangling = [i for i in list(proto.graph.input)[1:] if i.name not in known]
    if not dangling:
        return
    layers = {}

    def collect(m):
        for layer in m.layers:
            layers[layer.name] = layer
            if isinstance(layer, keras.Model):
                collect(layer)

    collect(model)
    for value in dangling:
        scope = value.name.split("/")
        layer = next((layers[n.removesuffix("_1")] for n in reversed(scope) if n.removesuffix("_1") in layers), None)
        if not isinstance(layer, keras.layers.Normalization) or not value.name.endswith(("Sub/y:0", "Sqrt/x:0")):
            raise ValueError(f"ONNX export left an unresolved graph input {value.name}")
        stat = layer.mean if value.name.endswith("Sub/y:0") else layer.variance
        array = np.asarray(keras.ops.convert_to_numpy(stat), dtype=np.float32)
        if value.name.endswith("Sub/y:0"):
            array = -array  # exported as x + y with y = -mean
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if dims and all(dims):
            array = array.reshape(dims)
        proto.graph.initializer.append(numpy_helper.from_array(array, value.name))
        proto.graph.input.remove(value)
    onnx.save(proto, str(path))


def quantize_int8(fp32_path: Path, out_path: Path, calib: np.ndarray) -> Path:
    """Static QDQ quantization: int8 weights (per channel) and int8 activations."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    import onnxruntime as ort

    input_name = ort.InferenceSession(str(fp32_path), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    images = span_pixel_range(calib)

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(images[i : i + 1] for i in range(len(images)))

        def get_next(self):
            batch = next(self.items, None)
            return None if batch is None else {input_name: batch}

    prepared = out_path.with_name(out_path.stem + ".prep.onnx")
    try:
        quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(out_path), Reader(), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QInt8, weight_type=QuantType.QInt8)
    finally:
        prepared.unlink(missing_ok=True)
    return out_path


def embed_metadata(path: Path, key: str, meta: dict) -> None:
    """Store ``meta`` as JSON in the ONNX model's ``metadata_props`` under ``key``."""
    import onnx

    model = onnx.load(str(path))
    props = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    model.metadata_props.add(key=key, value=json.dumps(meta))
    onnx.save(model, str(path))
