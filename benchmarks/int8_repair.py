"""The int8 repair on the committed full Fashion-MNIST models: fp32, full int8 and the repaired file.

    python benchmarks/int8_repair.py            # cnn4 and edge-cnn, about 5 minutes on 2 cores
    python benchmarks/int8_repair.py cnn4

Each committed model (benchmarks/models/fashion-mnist-NAME) is copied to a temporary run and
exported with ``--int8 --data fashion-mnist`` at the default gate (agreement >= 0.99, accuracy
drop <= 1 point, no class down more than 5 points) on all 10 000 test images. Size, agreement
with its 95% lower bound, accuracy delta and 1-thread latency (p50 over the first 100 test
images, one at a time) of each int8 file's attempts come from its parity.json, beside the fp32
file's, into benchmarks/results/int8_repair.json and a Markdown table on stdout.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MODELS = {"cnn4": HERE / "models" / "fashion-mnist-cnn4", "edge-cnn": HERE / "models" / "fashion-mnist-edge-cnn"}


def export(name: str, folder: Path) -> dict:
    """parity.json of the model's export (published or failed), each file's 1-thread latency added."""
    from edgecls.runtime import Classifier
    from edgecls.runtime.verify import frame_latency
    from edgecls.toolkit.data import load_dataset

    run = folder / name
    shutil.copytree(MODELS[name], run)
    subprocess.run([sys.executable, "-m", "edgecls.cli", "export", str(run), "--int8", "--data", "fashion-mnist"],
                   check=False)
    out = run / "export" if (run / "export").is_dir() else run / "export.failed"
    report = json.loads((out / "parity.json").read_text())
    x = load_dataset("fashion-mnist").x_test
    for row in report["artifacts"]:
        row["latency_ms"] = frame_latency(Classifier(out / row["artifact"], threads=1), x)
    return report


def rows(name: str, report: dict) -> list[dict]:
    """One row per file and variant: fp32, then each int8 file's full-int8 and final attempts."""
    by_name = {r["artifact"]: r for r in report["artifacts"]}
    out = []
    for int8 in ("model_int8.tflite", "model_int8.onnx"):
        fp32 = by_name[int8.replace("int8", "fp32")]
        row = by_name[int8]
        tried = row.get("attempts") or [{"attempt": "full int8", **row}]
        final = {**row, "attempt": row.get("repair") or ("full int8" if row["passed"] else "none passed")}
        for variant, r in (("fp32", fp32), ("full int8", tried[0]), ("kept", final)):
            out.append({"model": name, "file": int8, "variant": variant, "attempt": r.get("attempt", "-"),
                        "size_bytes": r["size_bytes"], "agreement": r["agreement"],
                        "agreement_low95": r["agreement_low95"], "accuracy_delta_points": r["accuracy_delta_points"],
                        "latency_p50_ms": r["latency_ms"]["p50"], "passed": r["passed"],
                        "attempts": len(tried) - 1 if variant == "kept" else None,
                        "float_layers": len(r.get("float_layers") or [])})
    return out


def markdown(table: list[dict]) -> str:
    lines = ["| model | file | variant | size KB | agreement (>= 95%) | delta | p50 ms 1 thread | gate |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in table:
        what = r["variant"] if r["variant"] != "kept" else f"kept: {r['attempt']}"
        lines.append(f"| {r['model']} | {r['file']} | {what} | {r['size_bytes'] / 1024:.0f} | {r['agreement']:.4f} "
                     f"({r['agreement_low95']:.4f}) | {r['accuracy_delta_points']:+.2f} | {r['latency_p50_ms']:.3f} | "
                     f"{'pass' if r['passed'] else 'FAIL'} |")
    return "\n".join(lines)


def main(names: list[str]) -> int:
    table = []
    with tempfile.TemporaryDirectory(prefix="edgecls-repair-") as tmp:
        for name in names or list(MODELS):
            table += rows(name, export(name, Path(tmp)))
    (HERE / "results" / "int8_repair.json").write_text(json.dumps(table, indent=2) + "\n")
    print(markdown(table))
    return 0 if all(r["passed"] for r in table if r["variant"] == "kept") else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
