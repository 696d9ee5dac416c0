"""Keras model -> SavedModel -> TFLite: fp32, fp16, dynamic-range and full-integer int8.

The float variants keep the model's uint8 input (a CAST inside). Full-int8 converts a
float-input twin of the model so the input tensor itself is quantized (scale 1: raw
pixels, uint8 or int8 with zero point -128) and no float op is left in the graph.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.export.calibration import span_pixel_range

VARIANTS = ("fp32", "fp16", "dynamic", "int8", "int16x8")


def float_input_twin(model):
    """The same model, its very layers reused, taking float32 raw pixels instead of uint8.

    Reusing the layers (not rebuilding them from their config) also carries a SavedModel's
    ``TFSMLayer``, which Keras refuses to deserialize in safe mode.
    """
    import keras

    inp = keras.Input(model.input_shape[1:], dtype="float32", name="pixels")
    return keras.models.clone_model(model, input_tensors=inp, clone_function=lambda layer: layer)


LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, OpenCV's RGB2GRAY weights


def rgb_input_twin(model):
    """A GRAY model behind a float RGB input, the luma weights folded in front as a frozen 1x1 convolution.

    MediaPipe Tasks, like most camera pipelines, hands a classifier 3 channels; a gray image
    (three equal channels) reaches the model unchanged, since the weights sum to 1.
    """
    import keras

    inner = float_input_twin(model)
    inputs = keras.Input((*model.input_shape[1:3], 3), dtype="float32", name="pixels")
    luma = keras.layers.Conv2D(1, 1, use_bias=False, trainable=False, name="luma")
    x = luma(inputs)
    luma.set_weights([np.array(LUMA, np.float32).reshape(1, 1, 3, 1)])
    return keras.Model(inputs, inner(x), name=f"{model.name}_rgb")


def write_saved_model(model, directory: Path) -> Path:
    model.export(str(directory), format="tf_saved_model", verbose=False)
    return directory


def _representative(calib: np.ndarray | None, limit: int | None = None):
    """The converter's representative dataset: raw float pixels, one image a batch."""
    if calib is None or len(calib) == 0:
        raise EdgeclsError("int8 export needs calibration images and the calibration set is empty")
    images = span_pixel_range(calib[:limit])

    def representative() -> Iterable[list[np.ndarray]]:
        for image in images:
            yield [image[None].astype(np.float32)]

    return representative


def _converter(saved_model: Path, variant: str, calib: np.ndarray | None, io_dtype: str):
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if variant == "fp32":
        return conv
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "int8":
        conv.representative_dataset = _representative(calib)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = {"uint8": tf.uint8, "int8": tf.int8}[io_dtype]
        conv.inference_output_type = conv.inference_input_type
    elif variant == "int16x8":  # float input and output: the 16x8 kernels take no uint8
        conv.representative_dataset = _representative(calib)
        conv.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    return conv


def convert(saved_model: Path, variant: str, *, calib: np.ndarray | None = None, io_dtype: str = "uint8") -> bytes:
    """Convert a SavedModel to TFLite bytes (``variant`` in :data:`VARIANTS`)."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown TFLite variant {variant}")
    return bytes(_converter(saved_model, variant, calib, io_dtype).convert())


def embed_metadata(data: bytes, entries: dict[str, bytes]) -> bytes:
    """Return the flatbuffer with each payload of ``entries`` stored as the model metadata entry of its name.

    One unpack and one repack of the whole model, however many entries.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(data, 0)
    model.metadata = [m for m in (model.metadata or []) if (m.name.decode() if isinstance(m.name, bytes) else m.name)
                      not in entries]
    for name, payload in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(payload, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    builder = flatbuffers.Builder(len(data) + sum(map(len, entries.values())) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def input_is_float(data: bytes) -> bool:
    """True when the model's (first) input tensor is float32, as in the fp32, fp16 and dynamic files."""
    from ai_edge_litert import schema_py_generated as schema

    model = schema.Model.GetRootAs(data, 0)
    graph = model.Subgraphs(0)
    return graph.Tensors(graph.Inputs(0)).Type() == schema.TensorType.FLOAT32


def _debugger(saved_model: Path, calib: np.ndarray, io_dtype: str, denylist: list[str] | None = None,
              ops: list[str] | None = None):
    """TFLite's QuantizationDebugger on the int8 conversion; ``denylist`` tensors' ops, and every op
    of the kinds in ``ops`` (``CONV_2D``, ``MUL``), stay float."""
    import tensorflow as tf

    conv = _converter(saved_model, "int8", calib, io_dtype)
    options = None
    if denylist or ops:
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
        options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylist or []) or None,
                                                                denylisted_ops=list(ops or []) or None)
    return tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=_representative(calib, 64),
                                                     debug_options=options)


def layer_errors(saved_model: Path, calib: np.ndarray, io_dtype: str = "uint8") -> list[dict]:
    """Every quantized tensor's int8 error, largest first, from TFLite's quantization debugger.

    The error of a tensor is its RMSE against the float model divided by its quantization
    scale: how many quantization steps the int8 model is off by there.
    """
    debugger = _debugger(saved_model, calib, io_dtype)
    debugger.run()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stats.csv"
        with open(path, "w") as f:
            debugger.layer_statistics_dump(f)
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
    out = []
    for row in rows:
        try:
            scale = float(row["scale"])
            error = float(np.sqrt(float(row["mean_squared_error"])) / scale) if scale else 0.0
        except (KeyError, ValueError):
            continue
        out.append({"layer": row.get("tensor_name", ""), "op": row.get("op_name", ""),
                    "rmse_over_scale": round(error, 4)})
    return sorted(out, key=lambda r: -r["rmse_over_scale"])


def layer_name(tensor: str) -> str:
    """The Keras layer a converted tensor comes from: the scope before its op, of its first fused name.

    >>> layer_name("clf_1/efficientnetb0_1/block1a_se_reduce_1/BiasAdd;clf_1/efficientnetb0_1/block1a_se_reduce_1/convolution")
    'block1a_se_reduce_1'
    >>> layer_name("pixels")
    'pixels'
    """
    parts = tensor.split(";")[0].split("/")
    return parts[-2] if len(parts) > 1 else parts[0]


def quantization_report(saved_model: Path, calib: np.ndarray, io_dtype: str = "uint8", top: int = 5) -> list[dict]:
    """The ``top`` layers with the largest int8 error (see :func:`layer_errors`)."""
    return layer_errors(saved_model, calib, io_dtype)[:top]


def convert_with_float_layers(saved_model: Path, calib: np.ndarray, layers: list[str], io_dtype: str = "uint8",
                              ops: list[str] | None = None) -> bytes:
    """Full int8 but for the ops that produce ``layers`` (tensor names) and every op of the kinds in
    ``ops``, which stay float.

    The debugger's converter keeps a float input and output (MediaPipe Tasks takes either).
    """
    return bytes(_debugger(saved_model, calib, io_dtype, denylist=layers, ops=ops).get_nondebug_quantized_model())


def layer_sensitivity(saved_model: Path, calib: np.ndarray, layers: list[str], agreement, io_dtype: str = "uint8"
                      ) -> list[dict]:
    """Each layer quantized alone, every other one float: how much int8 there costs, worst first.

    ``agreement(data)`` scores a candidate .tflite (its top-1 agreement with the float model on
    held-out images). A layer whose int8 alone loses agreement is one to keep in float, even
    where its error measured in quantization steps looks ordinary (cnn4's first convolution).
    """
    scores = []
    for layer in layers:
        data = convert_with_float_layers(saved_model, calib, [other for other in layers if other != layer], io_dtype)
        scores.append({"layer": layer, "agreement_alone": round(float(agreement(data)), 5)})
    return sorted(scores, key=lambda r: r["agreement_alone"])
