"""How much of a model file's work runs in int8: what an "int8" file is inside.

An int8 repair that keeps layers in float can leave a file named ``model_int8.*`` that computes
almost everything in float (its size gives it away: 647 KB against the float file's 643 KB).
The export reports, per artifact, the share of its multiply-adds (convolutions and matrix
products, the work that int8 makes cheaper) that run on int8 inputs, and refuses to publish as
int8 a file where that share is under :data:`INT8_ENOUGH`.

Example::

    share = int8_share(Path("export/model_int8.tflite"))   # 1.0: every conv and dense layer in int8
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

INT8_ENOUGH = 0.5  # under half the multiply-adds in int8, the file is a float model with int8 edges
_TFLITE_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "BATCH_MATMUL", "CONV_3D", "TRANSPOSE_CONV")
_ONNX_MAC_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")
_ONNX_INT8_OPS = ("QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulInteger")


def _macs(output_shape, weight_shape, depthwise: bool = False) -> int:
    """Multiply-adds of one layer: each output value sums ``weight_shape[1:]`` products (one kernel slice,
    a depthwise kernel only its window).

    >>> _macs([1, 7, 7, 96], [96, 3, 3, 48])   # 3x3 conv, 48 -> 96 channels on 7x7
    2032128
    >>> _macs([1, 10], [10, 192])              # dense 192 -> 10
    1920
    """
    out = int(np.prod([max(int(d), 1) for d in output_shape]))
    kernel = [max(int(d), 1) for d in weight_shape[1:]]
    return out * int(np.prod(kernel[:-1] if depthwise else kernel))


def tflite_macs(path: Path) -> tuple[int, int]:
    """``(int8, total)`` multiply-adds of a .tflite file, from its op list and tensor shapes."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    int8 = total = 0
    for op in interpreter._get_ops_details():
        if op["op_name"] not in _TFLITE_MAC_OPS or len(op["inputs"]) < 2 or min(op["inputs"][:2]) < 0:
            continue
        data, weight = (tensors[i] for i in op["inputs"][:2])
        n = _macs(tensors[op["outputs"][0]]["shape"], weight["shape"], op["op_name"] == "DEPTHWISE_CONV_2D")
        total += n
        int8 += n if np.dtype(data["dtype"]).itemsize <= 2 and np.issubdtype(data["dtype"], np.integer) else 0
    return int8, total


def onnx_macs(path: Path) -> tuple[int, int]:
    """``(int8, total)`` multiply-adds of an .onnx file. A QDQ graph (what ONNX Runtime's static
    quantization writes) computes a Conv or MatMul in int8 when both its inputs come out of a
    ``DequantizeLinear``; ONNX Runtime fuses those into integer kernels."""
    import onnx

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in [*graph.value_info, *graph.output, *graph.input]}
    shapes |= {t.name: list(t.dims) for t in graph.initializer}
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    int8 = total = 0
    for node in graph.node:
        if node.op_type not in (*_ONNX_MAC_OPS, *_ONNX_INT8_OPS):
            continue
        weight_at = 3 if node.op_type in ("QLinearConv", "QLinearMatMul") else 1
        output, weight = shapes.get(node.output[0]), shapes.get(node.input[weight_at])
        if not output or not weight:
            continue
        if node.op_type in ("MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"):
            weight = [weight[-1], weight[0]] if not _attribute(node, "transB") else weight  # [out, in]
        n = _macs(output, weight)
        total += n
        if node.op_type in _ONNX_INT8_OPS or {node.input[0], node.input[1]} <= dequantized:
            int8 += n
    return int8, total


def _attribute(node, name: str) -> int:
    return next((a.i for a in node.attribute if a.name == name), 0)


def int8_share(path: Path) -> float | None:
    """The share of ``path``'s multiply-adds that run in int8 (0.0 for a float file), None without any."""
    int8, total = (onnx_macs if Path(path).suffix == ".onnx" else tflite_macs)(Path(path))
    return int8 / total if total else None
