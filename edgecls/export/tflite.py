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

VARIANTS = ("fp32", "fp16", "dynamic", "int8")


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


def _converter(saved_model: Path, variant: str, calib: np.ndarray | None, io_dtype: str):
    import tensorflow as tf

    conv = tf.lite.TFLiteConverter.from_saved_model(str(saved_model))
    if variant == "fp16":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.target_spec.supported_types = [tf.float16]
    elif variant == "dynamic":
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
    elif variant == "int8":
        if calib is None or len(calib) == 0:
            raise EdgeclsError("int8 export needs calibration images and the calibration set is empty")

        images = span_pixel_range(calib)

        def representative() -> Iterable[list[np.ndarray]]:
            for image in images:
                yield [image[None].astype(np.float32)]

        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = {"uint8": tf.uint8, "int8": tf.int8}[io_dtype]
        conv.inference_output_type = conv.inference_input_type
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


def quantization_report(saved_model: Path, calib: np.ndarray, io_dtype: str = "uint8", top: int = 5) -> list[dict]:
    """Layers with the largest int8 error, from TFLite's quantization debugger.

    The error of each quantized tensor is its RMSE against the float model divided by its
    quantization scale: how many quantization steps the int8 model is off by.
    """
    import tensorflow as tf

    conv = _converter(saved_model, "int8", calib, io_dtype)

    images = span_pixel_range(calib[:64])

    def dataset():
        for image in images:
            yield [image[None].astype(np.float32)]

    debugger = tf.lite.experimental.QuantizationDebugger(converter=conv, debug_dataset=dataset)
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
    return sorted(out, key=lambda r: -r["rmse_over_scale"])[:top]
