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


def measure(run: str) -> dict:
    """The full-int8 agreement and, per kind of op, the agreement with it alone int8 and alone float
    (every op of the other kinds, or of that kind, in the debugger's ``denylisted_ops``)."""
    from edgecls.export import exporter, tflite
    from edgecls.export.artifacts import ARTIFACTS
    from edgecls.toolkit.rundir import resolve_source

    job = exporter.prepare(resolve_source(run, None, None, None), 500)
    calib = job.calibration(ARTIFACTS["tflite-int8"])
    with tempfile.TemporaryDirectory() as tmp:
        saved = tflite.write_saved_model(exporter.tflite_source(job, int8=True), Path(tmp) / "saved_model_int8")
        agreement = exporter.tflite_agreement(job, job.dataset.x_test, job.reference.argmax(1),
                                              Path(tmp) / "candidate.tflite")

        def with_float(kinds: list[str]) -> float:
            return agreement(tflite.convert_with_float_layers(saved, calib, [], ops=kinds))

        kinds = sorted({row["op"] for row in tflite.layer_errors(saved, calib)})
        rows = [{"kind": kind, "agreement_alone_int8": with_float([k for k in kinds if k != kind]),
                 "agreement_alone_float": with_float([kind])} for kind in kinds]
        full = with_float([])
    config = job.source.run.config() if job.source.run else {}
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
