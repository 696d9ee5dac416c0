"""Int8 that repairs itself: when an int8 artifact misses the parity gate, try fixes in order and
keep the first that passes on the validation split; the file kept is then measured once on the
test split like every other file, so its reported agreement is not the best of several tries on
the same images (and it fails there if it only passed on val).

1. Calibration: four times the calibration images; for ONNX also entropy and percentile
   calibration (TFLite's converter offers one method).
2. Selective float fallback: the K layers that add the most int8 error stay float, K = 1, 2, 4, 8
   (TFLite: each layer quantized alone, ranked by the agreement it costs, or past
   SENSITIVITY_LAYERS by QuantizationDebugger's error in quantization steps; ``denylisted_nodes``;
   ONNX: onnxruntime's per-node comparison of the QDQ graph with the float one,
   ``quantize_static(nodes_to_exclude=...)``).
3. TFLite only: 16x8, int16 activations and int8 weights.

Each attempt is one progress line and one entry of the artifact's ``attempts`` in parity.json:
what was tried, agreement with its 95% lower bound, accuracy delta, size and 1-thread latency
beside the float file's. When none passes, the full-int8 file stays, failing, as it was.
"""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from edgecls import console

FALLBACK_STEPS = (1, 2, 4, 8)
CALIB_FACTOR = 4
SENSITIVITY_LAYERS = 48  # up to this many quantized layers, each one's cost is measured alone


@dataclass(frozen=True)
class Attempt:
    name: str                          # printed, and recorded in parity.json
    build: Callable[[Path], dict]      # writes the artifact file; returns what its metadata adds


def tflite_attempts(saved_model: Path, calib, more_calib, io_dtype: str,
                    agreement: Callable[[bytes], float]) -> Iterator[Attempt]:
    """The TFLite fixes in order; the layer ranking is computed only when reached.

    Layers are ranked by what int8 costs each one alone (``agreement`` of a candidate with the
    float model on held-out images, see :func:`edgecls.export.tflite.layer_sensitivity`); past
    SENSITIVITY_LAYERS layers, by the debugger's error in quantization steps.
    """
    from edgecls.export import tflite

    yield Attempt(f"calibration x{CALIB_FACTOR} ({len(more_calib)} images)", lambda path: _write(
        path, tflite.convert(saved_model, "int8", calib=more_calib, io_dtype=io_dtype),
        {"dtype": io_dtype, "calibration_images": len(more_calib)}))
    ranked = [row["layer"] for row in tflite.layer_errors(saved_model, calib, io_dtype) if row["rmse_over_scale"] > 0]
    if 1 < len(ranked) <= SENSITIVITY_LAYERS:
        ranked = [row["layer"] for row in tflite.layer_sensitivity(saved_model, calib, ranked, agreement, io_dtype)]
    for k in FALLBACK_STEPS[: _steps(len(ranked))]:
        layers = ranked[:k]
        yield Attempt(f"float fallback of {k} layer{'s' * (k > 1)}", lambda path, layers=layers: _write(
            path, tflite.convert_with_float_layers(saved_model, calib, layers, io_dtype),
            {"dtype": "float32", "float_layers": layers}))
    yield Attempt("16x8 (int16 activations, int8 weights)", lambda path: _write(
        path, tflite.convert(saved_model, "int16x8", calib=calib), {"dtype": "float32", "quantization": "int16x8"}))


def onnx_attempts(fp32: Path, calib, more_calib) -> Iterator[Attempt]:
    """The ONNX fixes in order; the per-node comparison is computed only when reached."""
    from edgecls.export import onnx_export

    yield Attempt(f"calibration x{CALIB_FACTOR} ({len(more_calib)} images)",
                  lambda path: _quantize(fp32, path, more_calib, "minmax", []))
    for method in ("entropy", "percentile"):
        yield Attempt(f"{method} calibration", lambda path, method=method: _quantize(fp32, path, calib, method, []))
    probe = fp32.with_name("repair.int8.onnx")
    onnx_export.quantize_int8(fp32, probe, calib)
    ranked = [row for row in onnx_export.node_errors(fp32, probe, calib) if row["drop_db"] > 0]
    probe.unlink()
    for k in FALLBACK_STEPS[: _steps(len(ranked))]:
        nodes = [name for row in ranked[:k] for name in row["nodes"]]
        yield Attempt(f"float fallback of {k} node{'s' * (k > 1)}", lambda path, nodes=nodes: _quantize(
            fp32, path, calib, "minmax", nodes))


def _steps(available: int) -> int:
    """How many of FALLBACK_STEPS fit in ``available`` layers (the last step may take them all)."""
    return sum(1 for k in FALLBACK_STEPS if k < available) + (available > 0)


def _write(path: Path, data: bytes, meta: dict) -> dict:
    path.write_bytes(data)
    return meta


def _quantize(fp32: Path, path: Path, calib, method: str, nodes: list[str]) -> dict:
    from edgecls.export import onnx_export

    onnx_export.quantize_int8(fp32, path, calib, method=method, exclude=nodes)
    return {"calibration_images": len(calib), "calibration_method": method, "float_layers": nodes}


def repair(path: Path, first: dict, attempts: Iterator[Attempt], finish: Callable[[Path, dict], None],
           measure: Callable[[Path], dict], fp32_ms: float | None = None) -> dict:
    """Try ``attempts`` on the failing artifact at ``path`` until one passes ``measure``'s gate.

    ``first`` is the full-int8 file's parity row, recorded as attempt "full int8". ``finish``
    embeds the metadata into a candidate; ``measure`` returns its parity row with ``passed`` and
    ``latency_ms``; ``fp32_ms`` is the float file's 1-thread p50, said beside each attempt's (a
    repair slower than fp32 is no answer, and the line says so). Returns what the artifact's row
    gains: the passing attempt's parity, ``repair`` (its name), ``float_layers`` and every
    ``attempts`` entry.
    """
    original = path.with_name(path.name + ".full-int8")
    shutil.copyfile(path, original)
    tried = [_record("full int8", first, path, fp32_ms, {})]
    try:
        while True:
            with _quiet():  # converters and calibrators talk on stdout and stderr
                attempt = next(attempts, None)
                if attempt is None:
                    break
                extra = attempt.build(path)
                finish(path, extra)
            row = measure(path)
            tried.append(_record(attempt.name, row, path, fp32_ms, extra))
            if row["passed"]:
                return {**row, "repair": attempt.name, "float_layers": extra.get("float_layers", []),
                        "attempts": tried, "fp32_latency_ms": fp32_ms}
        shutil.copyfile(original, path)
        return {"repair": None, "attempts": tried, "fp32_latency_ms": fp32_ms}
    finally:
        original.unlink(missing_ok=True)


@contextlib.contextmanager
def _quiet():
    with console.native_stderr(), contextlib.redirect_stdout(io.StringIO()):
        yield


def _record(name: str, row: dict, path: Path, fp32_ms: float | None, extra: dict) -> dict:
    """One attempt as parity.json keeps it, said in one progress line."""
    slower = fp32_ms is not None and row["latency_ms"]["p50"] > fp32_ms
    console.info(f"  {path.name}: {name}: agreement {row['agreement']:.4f} (95% lower bound {row['agreement_low95']:.4f}) "
                 f"on {row.get('split', 'test')}, "
                 f"{'passes' if row['passed'] else 'fails'}; {row['latency_ms']['p50']:.3f} ms a frame"
                 + (f" vs fp32 {fp32_ms:.3f} ms{': SLOWER than fp32' if slower else ''}" if fp32_ms else ""))
    keys = ("agreement", "agreement_low95", "accuracy_delta_points", "passed", "latency_ms", "split")
    return {"attempt": name, "size_bytes": path.stat().st_size, **{k: row[k] for k in keys if k in row},
            "slower_than_fp32": slower, "float_layers": extra.get("float_layers", [])}
