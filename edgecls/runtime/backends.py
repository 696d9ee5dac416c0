"""Inference backends: LiteRT (TFLite) and ONNX Runtime, behind one small interface.

A backend takes a batch of raw uint8 pixels (NHWC) and returns float32 probabilities.
Quantized inputs and outputs are handled here, from the tensors' own scale/zero-point,
so callers never see int8.
"""

from __future__ import annotations

import contextlib
import io
import os

import numpy as np

from edgecls import console, limits
from edgecls.errors import EdgeclsError, first_line
from edgecls.runtime import devices
from edgecls.runtime.metadata import KEY, parse_metadata, tflite_metadata_entry


def quantize_input(pixels: np.ndarray, dtype, scale: float, zero_point: int) -> np.ndarray:
    """Raw pixel values to what the input tensor holds (real value = scale * (q - zero_point))."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return pixels.astype(dtype)
    if not scale or (scale == 1.0 and zero_point == 0 and pixels.dtype == dtype):  # raw pixels, as they are
        return pixels.astype(dtype, copy=False)
    info = np.iinfo(dtype)
    q = np.round(pixels.astype(np.float32) / scale + zero_point)
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize_output(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if values.dtype.kind == "f" or not scale:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * np.float32(scale)


class TFLiteBackend:
    """LiteRT interpreter with XNNPACK, ``threads`` CPU threads; the file is read once."""

    name = "tflite"

    def __init__(self, path: str, threads: int | None = None, device: str = "auto"):
        from ai_edge_litert.interpreter import Interpreter

        self.path = path
        devices.tflite_device(device, path)  # refuses --device gpu
        data = _read_model_bytes(path)
        try:
            self.metadata = parse_metadata(tflite_metadata_entry(data), path)
            with console.native_stderr():
                self.interpreter = Interpreter(model_content=data, num_threads=threads or os.cpu_count())
            inp = self.interpreter.get_input_details()
            out = self.interpreter.get_output_details()
        except EdgeclsError:
            raise
        except Exception as exc:  # a malformed flatbuffer: ValueError, RuntimeError, IndexError, bad UTF-8 names
            raise EdgeclsError(f"{path}: corrupt or truncated TFLite model ({first_line(exc, 160)})") from exc
        if len(inp) != 1 or len(out) != 1:
            raise EdgeclsError(f"{path}: expected one input and one output, got {len(inp)} and {len(out)}")
        self.input, self.output = inp[0], out[0]
        self.input_shape = tuple(int(d) for d in self.input["shape_signature"])
        self.input_dtype = np.dtype(self.input["dtype"])
        self.batch_size = None
        self.dynamic_batch = self.input_shape[0] == -1
        self.num_classes = int(self.output["shape_signature"][-1])

    @property
    def device(self) -> str:
        """Where the file runs, as applied: XNNPACK only when the interpreter's plan holds its delegate node
        (a 16x8 file, whose int16 activations XNNPACK does not take, runs on LiteRT's own kernels)."""
        if self.batch_size is None:
            self._resize(1)
        ops = {op["op_name"] for op in self.interpreter._get_ops_details()}
        return devices.tflite_device("auto", self.path) if "DELEGATE" in ops else "CPU (LiteRT kernels, no delegate)"

    def _resize(self, n: int) -> None:
        if n != self.batch_size:
            shape = list(self.input["shape"])
            shape[0] = n
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            with console.native_stderr():  # the XNNPACK delegate announces itself here
                self.interpreter.allocate_tensors()
            self.batch_size = n

    def run(self, pixels: np.ndarray) -> np.ndarray:
        if not self.dynamic_batch and len(pixels) != self.input_shape[0]:
            return np.concatenate([self.run(pixels[i : i + 1]) for i in range(len(pixels))])
        try:
            self._resize(len(pixels))
            scale, zero = self.input["quantization"]
            self.interpreter.set_tensor(self.input["index"], quantize_input(pixels, self.input_dtype, scale, zero))
            self.interpreter.invoke()
            scale, zero = self.output["quantization"]
            return dequantize_output(self.interpreter.get_tensor(self.output["index"]), scale, zero)
        except (RuntimeError, ValueError) as exc:  # a damaged model fails here, not when it is opened
            raise EdgeclsError(f"{self.path}: the model fails to run ({first_line(exc, 160)})") from exc

    def describe(self) -> dict:
        try:
            ops = self.interpreter._get_ops_details()
        except Exception as exc:  # a damaged graph that still loads
            raise EdgeclsError(f"{self.path}: cannot list the model's operators ({first_line(exc, 160)})") from exc
        return {"inputs": [_tensor_info(self.input)], "outputs": [_tensor_info(self.output)],
                "ops": len(ops), "op_types": sorted({op["op_name"] for op in ops})}


def _tensor_info(d: dict) -> dict:
    scale, zero = d["quantization"]
    return {"name": d["name"], "shape": [int(v) for v in d["shape_signature"]],
            "dtype": np.dtype(d["dtype"]).name, "scale": float(scale), "zero_point": int(zero)}


ONNX_DTYPES = {"tensor(uint8)": np.uint8, "tensor(int8)": np.int8, "tensor(float)": np.float32,
               "tensor(float16)": np.float16}


class OnnxBackend:
    """ONNX Runtime session; ``threads`` intra-op threads."""

    name = "onnx"

    def __init__(self, path: str, threads: int | None = None, providers: list[str] | None = None,
                 device: str = "auto"):
        ort = devices.onnxruntime()
        self.path = path
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        try:  # onnxruntime prints an "EP Error" banner to stdout before its provider fallback: not ours to show
            with contextlib.redirect_stdout(io.StringIO()), console.native_stderr():
                self.session = ort.InferenceSession(_read_model_bytes(path), opts,
                                                    providers=devices.onnx_providers(device, providers))
            raw = self.session.get_modelmeta().custom_metadata_map.get(KEY)
        except EdgeclsError:
            raise
        except Exception as exc:
            raise EdgeclsError(f"{path}: corrupt or truncated ONNX model ({first_line(exc, 160)})") from exc
        self.metadata = parse_metadata(raw, path)
        used = self.session.get_providers()
        devices.check_gpu(device, used, path)
        self.device = used[0]
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgeclsError(f"{path}: expected one input and one output, got {len(inputs)} and {len(outputs)}")
        self.input, self.output = inputs[0], outputs[0]
        if self.input.type not in ONNX_DTYPES:
            raise EdgeclsError(f"{path}: input type {self.input.type} is not an image tensor")
        self.input_dtype = np.dtype(ONNX_DTYPES[self.input.type])
        self.input_shape = tuple(d if isinstance(d, int) else -1 for d in self.input.shape)
        self.dynamic_batch = self.input_shape[0] == -1
        last = self.output.shape[-1] if self.output.shape else None
        self.num_classes = last if isinstance(last, int) and last > 0 else 0

    def run(self, pixels: np.ndarray) -> np.ndarray:
        if not self.dynamic_batch and len(pixels) != self.input_shape[0]:
            return np.concatenate([self.run(pixels[i : i + 1]) for i in range(len(pixels))])
        feed = quantize_input(pixels, self.input_dtype, 0.0, 0)
        try:
            out = self.session.run([self.output.name], {self.input.name: feed})[0]
        except Exception as exc:  # onnxruntime's own exception types (Fail, InvalidArgument ...)
            raise EdgeclsError(f"{self.path}: the model fails to run ({first_line(exc, 160)})") from exc
        return np.asarray(out, dtype=np.float32)

    def describe(self) -> dict:
        def info(t):
            return {"name": t.name, "shape": [d if isinstance(d, int) else -1 for d in t.shape], "dtype": t.type}

        return {"inputs": [info(self.input)], "outputs": [info(self.output)],
                "providers": self.session.get_providers()}


def _read_model_bytes(path) -> bytes:
    """The whole model file, once; a file over the unpack limit is refused before reading."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limits.max_unpacked_bytes():
                raise EdgeclsError(f"{path}: {size / 2**20:,.0f} MB, over the model size limit of "
                                   f"{limits.max_unpacked_bytes() >> 20} MB (EDGECLS_MAX_UNPACKED_MB)")
            return f.read()
    except OSError as exc:
        raise EdgeclsError(f"cannot read model {path}: {exc.strerror}") from exc


def open_backend(path: str, kind: str, threads: int | None = None, providers: list[str] | None = None,
                 device: str = "auto"):
    """The backend for ``kind`` ("tflite" or "onnx") on ``device`` (see :mod:`edgecls.runtime.devices`)."""
    if kind == "tflite":
        return TFLiteBackend(path, threads, device)
    return OnnxBackend(path, threads, providers, device)
