"""Which client opens which artifact, and how often it agrees with edgecls: measured, not written by hand.

    python benchmarks/clients.py runs/quickstart/export [--data fashion-mnist-mini] [--json PATH] [--markdown PATH]

For every artifact of an export folder, on the test images of ``--data``:
- edgecls' own ``Classifier`` (LiteRT or ONNX Runtime) gives the reference answers;
- OpenCV DNN (``cv2.dnn.readNet``) opens it or says why not;
- MediaPipe Tasks' ``ImageClassifier`` (.tflite only), in its own virtual environment
  (``$EDGECLS_TEST_VENVS/mediapipe-1.2.2``, made by the tests; skipped when absent).
Each cell: opens / agreement with edgecls / the client's own reason when it does not open.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

from edgecls.errors import clean_text
from edgecls.runtime import Classifier
from edgecls.toolkit.data import load_dataset

ROOT = Path(__file__).resolve().parents[1]
HELPER = ROOT / "tests" / "clients" / "mediapipe_classify.py"
VENVS = Path(os.environ.get("EDGECLS_TEST_VENVS", Path.home() / ".cache" / "edgecls" / "test-venvs"))


def _why(exc: Exception) -> str:
    """The client's own reason, without OpenCV's source path: ``(-215:Assertion failed) ...``."""
    lines = [line for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return clean_text(text.split(" error: ", 1)[-1], 120)


def opencv_dnn(path: Path, clf: Classifier, x: np.ndarray, want: np.ndarray) -> dict:
    """Raw pixels as the artifact takes them: uint8, or float32 0..255 where OpenCV asks for floats; NCHW
    blobs for .tflite, which OpenCV's importer lays out channels-first."""
    x = np.repeat(x, clf.channels, axis=-1) if x.shape[-1] != clf.channels else x
    why = ""
    for dtype in (np.uint8, np.float32):
        try:
            net = cv2.dnn.readNet(str(path))
            got = []
            for image in x:
                blob = image.transpose(2, 0, 1) if path.suffix == ".tflite" else image  # OpenCV's TFLite importer: NCHW
                net.setInput(blob[None].astype(dtype))
                got.append(int(np.asarray(net.forward()).argmax()))
            return {"opens": True, "input": np.dtype(dtype).name,
                    "agreement": round(float(np.mean(np.array(got) == want)), 4)}
        except Exception as exc:  # the client's own refusal is the measurement
            why = _why(exc)
    return {"opens": False, "why": why}


def mediapipe(path: Path, x: np.ndarray, want: np.ndarray) -> dict:
    python = VENVS / "mediapipe-1.2.2" / "bin" / "python"
    if path.suffix != ".tflite":
        return {"opens": False, "why": "MediaPipe Tasks takes .tflite only"}
    if not python.is_file():
        return {"opens": None, "why": f"not measured: no {python} (run tests/test_clients.py first)"}
    with tempfile.TemporaryDirectory() as tmp:
        images = Path(tmp) / "x.npy"
        np.save(images, np.repeat(x, 3, axis=-1) if x.shape[-1] == 1 else x)
        proc = subprocess.run([str(python), str(HELPER), str(path), str(images), "IMAGE"], capture_output=True,
                              text=True, timeout=900)
    if proc.returncode != 0:
        return {"opens": False, "why": _why(RuntimeError(proc.stderr.strip().splitlines()[-1] if proc.stderr else "?"))}
    answers = json.loads(proc.stdout.strip().splitlines()[-1])["answers"]
    named = all(name for _, name in answers)
    return {"opens": True, "agreement": round(float(np.mean(np.array([i for i, _ in answers]) == want)), 4),
            "class_names_from_model": named}


def measure(export: Path, data: str) -> dict:
    x = load_dataset(data).x_test
    rows = []
    for path in sorted(export.glob("model_*")):
        if path.suffix not in (".tflite", ".onnx"):
            continue
        clf = Classifier(path)
        want = clf.predict(x).argmax(1)
        rows.append({"artifact": path.name, "edgecls": {"opens": True, "agreement": 1.0},
                     "opencv_dnn": opencv_dnn(path, clf, x, want), "mediapipe": mediapipe(path, x, want)})
    return {"export": str(export), "data": data, "images": int(len(x)), "opencv": cv2.__version__, "rows": rows}


def markdown(result: dict) -> str:
    def cell(c: dict) -> str:
        if c["opens"] is None:
            return "not measured"
        if not c["opens"]:
            return "no: " + c["why"].replace("|", "\\|")
        return f"yes, {100 * c['agreement']:.1f}%" + (" (no class names)" if c.get("class_names_from_model") is False else "")

    lines = [f"On {result['images']} {result['data']} test images; agreement = same top-1 as edgecls' Classifier.",
             "", "| artifact | edgecls (LiteRT / ONNX Runtime) | OpenCV DNN " + result["opencv"] + " | MediaPipe Tasks 1.2.2 |",
             "|---|---|---|---|"]
    for r in result["rows"]:
        lines.append(f"| `{r['artifact']}` | {cell(r['edgecls'])} | {cell(r['opencv_dnn'])} | {cell(r['mediapipe'])} |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export", type=Path)
    parser.add_argument("--data", default="fashion-mnist-mini")
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "clients.json")
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    result = measure(args.export, args.data)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    text = markdown(result)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    print(text)
    sys.exit(0)
