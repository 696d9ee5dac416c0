"""Which kind of op does int8 hurt in a model whose int8 TFLite fails the gate?

    python benchmarks/int8_op_kinds.py RUN_DIR [--json benchmarks/results/int8_op_kinds.json]

For each kind of op the converter quantizes (CONV_2D, MUL, ...), two TFLite files are built with
the quantization debugger's ``denylisted_ops``: that kind alone in int8 with every other op float,
and that kind alone in float with every other op int8. Each is scored by its top-1 agreement with
the Keras model on the run's test split, the gate's measure. A model whose trouble sits in one
kind shows it twice: a large drop when that kind alone is int8, a recovery when it alone is float.
The README's efficientnet_b0 figures (20 epochs) come from this script.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np


def scorer(job, folder: Path):
    """Top-1 agreement of .tflite bytes with the Keras model on the run's test split."""
    from edgecls.runtime import Classifier

    x, answers = job.dataset.x_test, job.reference.argmax(1)

    def agreement(data: bytes) -> float:
        path = folder / "candidate.tflite"
        path.write_bytes(data)
        clf = Classifier(path, labels=job.source.labels, input_size=(*x.shape[1:3], 3), warmup=False)
        return float((clf.predict(x).argmax(1) == answers).mean())

    return agreement


def float_kinds(saved_model: Path, calib: np.ndarray, kinds: list[str]) -> bytes:
    """Int8 TFLite with every op of ``kinds`` left float (the debugger's ``denylisted_ops``)."""
    import tensorflow as tf

    from edgecls.export import tflite

    converter = tflite._converter(saved_model, "int8", calib, "uint8")
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8, tf.lite.OpsSet.TFLITE_BUILTINS]
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_ops=kinds or None)
    debugger = tf.lite.experimental.QuantizationDebugger(
        converter=converter, debug_dataset=tflite._representative(calib, 64), debug_options=options)
    return bytes(debugger.get_nondebug_quantized_model())


def measure(run: str) -> dict:
    """The full-int8 agreement and, per kind of op, the agreement with it alone int8 and alone float."""
    from edgecls.export import exporter, tflite
    from edgecls.export.artifacts import ARTIFACTS
    from edgecls.toolkit.rundir import resolve_source

    job = exporter.prepare(resolve_source(run, None, None, None), 500)
    calib = job.calibration(ARTIFACTS["tflite-int8"])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        saved = folder / "saved_model_int8"
        twin = tflite.rgb_input_twin if job.dataset.image_shape[-1] == 1 else tflite.float_input_twin
        tflite.write_saved_model(twin(job.model), saved)
        agreement = scorer(job, folder)
        kinds = sorted({row["op"] for row in tflite.layer_errors(saved, calib)})
        rows = [{"kind": kind,
                 "agreement_alone_int8": agreement(float_kinds(saved, calib, [k for k in kinds if k != kind])),
                 "agreement_alone_float": agreement(float_kinds(saved, calib, [kind]))} for kind in kinds]
        full = agreement(float_kinds(saved, calib, []))
    config = json.loads((Path(run) / "config.json").read_text()) if (Path(run) / "config.json").is_file() else {}
    trained = {key: config[key] for key in ("model", "epochs", "image_size", "data") if key in config}
    return {"run": trained or run, "test_images": int(len(job.dataset.y_test)), "full_int8": full, "kinds": rows}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report = measure(args.run)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"full int8: {report['full_int8']:.4f} on {report['test_images']} test images")
    print("| kind | alone int8 | alone float |\n|---|---:|---:|")
    for row in sorted(report["kinds"], key=lambda r: r["agreement_alone_int8"]):
        print(f"| {row['kind']} | {row['agreement_alone_int8']:.4f} | {row['agreement_alone_float']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
