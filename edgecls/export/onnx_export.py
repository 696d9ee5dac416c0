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


CALIBRATION_METHODS = ("minmax", "entropy", "percentile")


def _reader(input_name: str, images: np.ndarray):
    """onnxruntime's calibration reader over ``images``, one a batch."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.items = iter(images[i : i + 1] for i in range(len(images)))

        def get_next(self):
            batch = next(self.items, None)
            return None if batch is None else {input_name: batch}

    return Reader()


def _prepared(fp32_path: Path, out_path: Path) -> tuple[Path, str]:
    """The float model after onnxruntime's pre-processing (what gets quantized) and its input's name."""
    from edgecls.runtime.devices import onnxruntime

    ort = onnxruntime()  # one line naming the extra when neither onnxruntime package is installed
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out_path.with_name(out_path.stem + ".prep.onnx")
    quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    name = ort.InferenceSession(str(prepared), providers=["CPUExecutionProvider"]).get_inputs()[0].name
    return prepared, name


def quantize_int8(fp32_path: Path, out_path: Path, calib: np.ndarray, method: str = "minmax",
                  exclude: list[str] | tuple = ()) -> Path:
    """Static QDQ quantization: int8 weights (per channel) and int8 activations.

    ``method`` is the activation calibration (``CALIBRATION_METHODS``); the nodes named in
    ``exclude`` stay float (the repair's selective fallback, see :mod:`edgecls.export.repair`).
    """
    prepared, name = _prepared(fp32_path, out_path)
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    calibrate = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
                 "percentile": CalibrationMethod.Percentile}[method]
    try:
        quantize_static(str(prepared), str(out_path), _reader(name, span_pixel_range(calib)),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, calibrate_method=calibrate, nodes_to_exclude=list(exclude))
    finally:
        prepared.unlink(missing_ok=True)
    return out_path


SQNR_CAP_DB = 60.0  # a graph input (raw uint8 pixels) is exact; its "SQNR" is taken as this


def node_errors(fp32_path: Path, int8_path: Path, calib: np.ndarray) -> list[dict]:
    """The float graph's nodes, worst first, by the int8 error each adds: onnxruntime's own per-node
    comparison of the QDQ graph with the float one (``qdq_loss_debug``).

    At each tensor the int8 graph's signal-to-quantization-noise ratio against the float graph
    (dB, higher is better) includes every error upstream; a node's own share is how far its
    output's SQNR falls below its best input's. Each row also names the Conv/Gemm/MatMul that
    feeds the node, so a fused Conv+ReLU stays float as a pair.
    """
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                         create_activation_matching,
                                                         modify_model_output_intermediate_tensors)

    prepared, name = _prepared(fp32_path, int8_path.with_name("errors.onnx"))
    images = span_pixel_range(calib[:32])
    activations = {}
    try:
        for kind, path in (("float", prepared), ("qdq", int8_path)):
            augmented = int8_path.with_name(f"{kind}.augmented.onnx")
            modify_model_output_intermediate_tensors(str(path), str(augmented))
            activations[kind] = collect_activations(str(augmented), _reader(name, images))
            augmented.unlink()
        graph = onnx.load(str(prepared)).graph
    finally:
        prepared.unlink(missing_ok=True)
    errors = compute_activation_error(create_activation_matching(activations["qdq"], activations["float"]))
    sqnr = {t: min(float(e["xmodel_err"]), SQNR_CAP_DB) for t, e in errors.items() if "xmodel_err" in e}
    producer = {out: node for node in graph.node for out in node.output}
    constants = {t.name for t in graph.initializer}

    def upstream(tensor: str) -> float:
        """The SQNR reaching ``tensor``: measured, else that of the node feeding it (a fused Conv's output)."""
        if tensor in sqnr:
            return sqnr[tensor]
        if tensor not in producer:
            return SQNR_CAP_DB  # a graph input: raw pixels, exact
        return max((upstream(t) for t in producer[tensor].input if t not in constants), default=SQNR_CAP_DB)

    rows = []
    for node in graph.node:
        out = next((t for t in node.output if t in sqnr), None)
        if out is None:
            continue
        inputs = [t for t in node.input if t not in constants]
        feeders = [producer[t] for t in inputs if t in producer and t not in sqnr]
        best_in = max((upstream(t) for t in inputs), default=SQNR_CAP_DB)
        rows.append({"node": node.name, "op": node.op_type, "nodes": [node.name, *(f.name for f in feeders)],
                     "sqnr_db": round(sqnr[out], 2), "drop_db": round(best_in - sqnr[out], 2)})
    return sorted(rows, key=lambda r: -r["drop_db"])


def embed_metadata(path: Path, key: str, meta: dict) -> None:
    """Store ``meta`` as JSON in the ONNX model's ``metadata_props`` under ``key``."""
    import onnx

    model = onnx.load(str(path))
    props = [p for p in model.metadata_props if p.key != key]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    model.metadata_props.add(key=key, value=json.dumps(meta))
    onnx.save(model, str(path))
