"""``edgecls export``: every artifact of a trained model, self-describing and verified.

Example::

    from edgecls.export import export_model
    report = export_model("runs/mini", int8=True)
    for row in report["artifacts"]:
        print(row["artifact"], row["accuracy"], row["agreement"], row["passed"])

Artifacts are built in a temporary folder next to the destination; only when every one
is complete and verified do they replace the files of an earlier export.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgecls import __version__, fileio
from edgecls.errors import EdgeclsError, GateError
from edgecls.export import onnx_export, parity, tflite
from edgecls.runtime.metadata import KEY, make_metadata

FORMATS = {
    "tflite-fp32": "model_fp32.tflite",
    "tflite-fp16": "model_fp16.tflite",
    "tflite-dynamic": "model_dynamic.tflite",
    "tflite-int8": "model_int8.tflite",
    "onnx-fp32": "model_fp32.onnx",
    "onnx-int8": "model_int8.onnx",
}
FLOAT_FORMATS = ("tflite-fp32", "tflite-fp16", "tflite-dynamic", "onnx-fp32")
INT8_FORMATS = ("tflite-int8", "onnx-int8")


@dataclass
class Source:
    model_path: Path
    labels: list[str]
    data: str
    options: dict  # load_dataset() keyword arguments (split seed, image size, resize ...)

    @property
    def resize(self) -> str:
        return self.options.get("resize", "stretch")

    def load(self):
        from edgecls.toolkit.data import load_dataset

        return load_dataset(self.data, **self.options)


def resolve_source(source: str, labels_file: str | None, data: str | None) -> Source:
    """A run directory (model.keras + labels.txt + config.json) or a bare .keras file."""
    path = Path(source)
    if path.is_dir():
        model_path, config = path / "model.keras", {}
        if not model_path.is_file():
            raise EdgeclsError(f"{path} has no model.keras: is it a finished `edgecls train` run?")
        if (path / "config.json").is_file():
            config = fileio.read_json(path / "config.json")
        labels_file = labels_file or (str(path / "labels.txt") if (path / "labels.txt").is_file() else None)
    elif path.is_file():
        model_path, config = path, {}
    else:
        raise EdgeclsError(f"not found: {path} (give a run directory or a .keras file)")
    if labels_file is None:
        raise EdgeclsError(f"no labels for {path}: the run has no labels.txt; pass --labels FILE")
    try:
        labels = [line.strip() for line in Path(labels_file).read_text().splitlines() if line.strip()]
    except OSError as exc:
        raise EdgeclsError(f"cannot read labels {labels_file}: {exc.strerror}") from None
    data = data or config.get("data")
    if not data:
        raise EdgeclsError("--data is needed to calibrate and verify a bare .keras model")
    from edgecls.toolkit.data import dataset_options

    options = dataset_options(config)
    if data != config.get("data"):  # another dataset: keep only how images are decoded
        options = {k: v for k, v in options.items() if k in ("image_size", "channels", "resize", "seed")}
    return Source(model_path, labels, data, options)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_model(model, source: Source, ds) -> None:
    import keras

    if len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise EdgeclsError(f"{source.model_path}: expected one image input (N, H, W, C), got {model.input_shape}")
    if tuple(model.input_shape[1:]) != ds.image_shape:
        raise EdgeclsError(f"--data {ds.name} has {ds.image_shape} images but the model takes "
                           f"{tuple(model.input_shape[1:])}")
    classes = model.output_shape[-1]
    if classes != len(source.labels) or classes != ds.num_classes:
        raise EdgeclsError(f"class count mismatch: model {classes}, labels {len(source.labels)}, "
                           f"data {ds.name} {ds.num_classes}")
    custom = [layer.name for layer in model.layers if not type(layer).__module__.startswith("keras.")
              or isinstance(layer, keras.layers.Lambda)]
    if custom:
        raise EdgeclsError(f"unsupported layer(s) for export: {', '.join(custom)} (custom or Lambda layers "
                           "cannot be converted reliably; rebuild them from built-in Keras layers)")


def _build(fmt: str, model, float_twin, tmp: Path, calib: np.ndarray, io_dtype: str) -> Path:
    """Write one artifact into ``tmp``; return its path."""
    out = tmp / FORMATS[fmt]
    if fmt.startswith("tflite"):
        variant = fmt.split("-")[1]
        saved = tmp / ("saved_model_int8" if variant == "int8" else "saved_model")
        if not saved.exists():
            tflite.write_saved_model(float_twin if variant == "int8" else model, saved)
        out.write_bytes(tflite.convert(saved, variant, calib=calib, io_dtype=io_dtype))
    elif fmt == "onnx-fp32" or not (tmp / FORMATS["onnx-fp32"]).exists():
        onnx_export.export_fp32(model, tmp / FORMATS["onnx-fp32"])
    if fmt == "onnx-int8":
        onnx_export.quantize_int8(tmp / FORMATS["onnx-fp32"], out, calib)
    return out


def _embed(path: Path, meta: dict) -> None:
    import json

    if path.suffix == ".tflite":
        path.write_bytes(tflite.embed_metadata(path.read_bytes(), KEY, json.dumps(meta).encode()))
    else:
        onnx_export.embed_metadata(path, KEY, meta)


def export_model(source: str, *, out: str | None = None, formats: list[str] | None = None, int8: bool = False,
                 io_dtype: str = "uint8", calib: int = 500, labels: str | None = None, data: str | None = None,
                 max_drop: float = 1.0, min_agreement: float = 0.99, keep_saved_model: bool = False,
                 threads: int | None = None, echo=print) -> dict:
    """Export, embed metadata, verify against the original; raise GateError if any artifact fails."""
    from edgecls.runtime import Classifier
    from edgecls.toolkit.data import stratified_sample
    from edgecls.toolkit.evaluate import predict
    from edgecls.toolkit.modelfile import load_model
    from edgecls.toolkit.precision import float32_model

    formats = list(formats or (FLOAT_FORMATS + (INT8_FORMATS if int8 else ())))
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise EdgeclsError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(FORMATS)}")
    if io_dtype not in ("uint8", "int8"):
        raise EdgeclsError(f"--io-dtype must be uint8 or int8, got {io_dtype}")
    if calib < 1:
        raise EdgeclsError("--calib must be at least 1: int8 needs calibration images")
    src = resolve_source(source, labels, data)
    dest = Path(out) if out else (src.model_path.parent / "export")
    model = float32_model(load_model(str(src.model_path)))  # no half-precision casts in any artifact
    ds = src.load()
    _check_model(model, src, ds)
    calib_x = ds.x_train[stratified_sample(ds.y_train, calib, src.options.get("seed", 0))]
    x_test, y_test = ds.x_test, ds.y_test
    if len(y_test) == 0:
        raise EdgeclsError(f"{ds.name} has no test images to verify the export on")

    echo(f"original {src.model_path}: predicting {len(y_test)} {ds.name} test images")
    reference = predict(model, x_test)
    original_accuracy = float((reference.argmax(1) == y_test).mean())
    h, w, c = ds.image_shape
    provenance = {"source_sha256": _sha256(src.model_path), "dataset": ds.name,
                  "original_accuracy": round(original_accuracy, 6), "edgecls_version": __version__,
                  "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    dest.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".partial-", dir=dest))
    rows = []
    try:
        float_twin = tflite.float_input_twin(model) if any(f.endswith("int8") for f in formats) else None
        for fmt in formats:
            t0 = time.perf_counter()
            echo(f"building {FORMATS[fmt]} ...")
            try:
                path = _build(fmt, model, float_twin, tmp, calib_x, io_dtype)
            except EdgeclsError:
                raise
            except Exception as exc:
                raise EdgeclsError(f"{FORMATS[fmt]}: conversion failed: {str(exc).strip().splitlines()[-1][:200]}") from None
            quantized = fmt.endswith("int8")
            meta = make_metadata(labels=src.labels, height=h, width=w, channels=c, color=ds.color,
                                 resize=src.resize, dtype=io_dtype if fmt == "tflite-int8" else "uint8",
                                 artifact=fmt, quantization="int8" if quantized else fmt.split("-")[1],
                                 calibration_images=int(len(calib_x)) if quantized else 0, **provenance)
            _embed(path, meta)
            probs = Classifier(path, threads=threads, warmup=False).predict(x_test)
            row = {"artifact": FORMATS[fmt], "format": fmt, "size_bytes": path.stat().st_size,
                   **parity.compare(reference, probs, y_test, src.labels), "build_seconds": round(time.perf_counter() - t0, 2)}
            row["failures"] = parity.gate_failures(row, max_drop, min_agreement)
            row["passed"] = not row["failures"]
            if fmt == "tflite-int8" and not row["passed"]:
                echo("int8 failed the gate: running the quantization debugger ...")
                row["worst_layers"] = tflite.quantization_report(tmp / "saved_model_int8", calib_x, io_dtype)
            rows.append(row)
        # every artifact is complete: now replace the previous export, file by file
        for row in rows:
            os.replace(tmp / row["artifact"], dest / row["artifact"])
        if keep_saved_model:
            for name in ("saved_model", "saved_model_int8"):
                if (tmp / name).exists():
                    shutil.rmtree(dest / name, ignore_errors=True)
                    os.replace(tmp / name, dest / name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    fileio.write_text(dest / "labels.txt", "\n".join(src.labels) + "\n")
    report = {"source": str(src.model_path), **provenance, "test_samples": int(len(y_test)),
              "gate": {"max_drop_points": max_drop, "min_agreement": min_agreement},
              "artifacts": rows}
    fileio.write_json(dest / "parity.json", report)
    echo(f"original accuracy {original_accuracy:.4f} on {len(y_test)} test images")
    echo(parity.format_table(rows))
    failed = [r for r in rows if not r["passed"]]
    if failed:
        parts = []
        for r in failed:
            hint = ""
            if r.get("worst_layers"):
                hint = "; largest int8 error at " + ", ".join(l["layer"] for l in r["worst_layers"][:3])
            parts.append(f"{r['artifact']}: {', '.join(r['failures'])}{hint}")
        raise GateError("parity gate failed: " + "; ".join(parts) +
                        " (try a larger --calib, keep that layer in float, or train longer before quantizing)")
    return report
