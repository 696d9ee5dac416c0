"""Issue 21, item 4: ``edgecls verify`` runs export's parity gate again on the device, without TensorFlow.

Oracles: Keras gives the original's answers on the reference images, and LiteRT's own
Interpreter, fed by hand, gives the int8 file's; the agreement verify prints must be theirs.
"""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edgecls.runtime.verify import REFERENCE


@pytest.fixture(scope="module")
def reference(exported):
    with np.load(exported / REFERENCE) as data:
        return {name: data[name] for name in data.files}


def test_export_writes_a_small_stratified_reference_set_with_the_originals_answers(exported, trained_run, sample,
                                                                                   reference):
    import keras

    x, y, probs = reference["x"], reference["y"], reference["probs"]
    assert (exported / REFERENCE).stat().st_size < 1 << 20 and x.dtype == np.uint8 and len(x) >= 100
    assert np.bincount(y, minlength=10).min() > 0  # every class
    rows = {image.tobytes(): label for image, label in zip(sample.x_test, sample.y_test)}
    assert all(rows[image.tobytes()] == label for image, label in zip(x, y))  # real test images, true labels
    from edgecls.runtime.confidence import known_probabilities

    model = keras.models.load_model(trained_run / "model.keras", compile=False)
    calibrated = np.exp(np.log(model.predict(x, verbose=0)) / json.loads((exported / "parity.json").read_text())[
        "unknown"]["temperature"])  # the original's answers at the export's temperature, beside its unknown class
    np.testing.assert_allclose(known_probabilities(probs), calibrated / calibrated.sum(axis=1, keepdims=True), atol=1e-5)


def test_verify_agrees_with_litert_fed_by_hand_and_imports_no_tensorflow(exported, reference):
    from ai_edge_litert.interpreter import Interpreter

    script = ("import json, sys; from edgecls.runtime.verify import verify_export; r = verify_export(sys.argv[1]); "
              "r['heavy'] = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')); "
              "print(json.dumps(r))")
    proc = subprocess.run([sys.executable, "-c", script, str(exported)], capture_output=True, text=True, check=True)
    result = json.loads(proc.stdout)
    assert result["heavy"] == [] and result["passed"] and result["samples"] == len(reference["y"])
    interpreter = Interpreter(model_path=str(exported / "model_int8.tflite"))
    interpreter.resize_tensor_input(0, [len(reference["x"]), 28, 28, 3])
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], np.repeat(reference["x"], 3, axis=-1))
    interpreter.invoke()
    by_hand = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).argmax(1)
    row = next(r for r in result["artifacts"] if r["artifact"] == "model_int8.tflite")
    assert row["agreement"] == pytest.approx(float((by_hand == reference["probs"].argmax(1)).mean()), abs=1e-9)
    assert row["accuracy"] == pytest.approx(float((by_hand == reference["y"]).mean()), abs=1e-9)
    names = [r["artifact"] for r in json.loads((exported / "parity.json").read_text())["artifacts"]]
    assert [r["artifact"] for r in result["artifacts"]] == names
    assert all(r["latency_ms"]["p50"] > 0 for r in result["artifacts"])


def test_verify_prints_the_gate_table_and_your_images_agreement(tmp_path, exported, sample):
    for i in range(12):  # camera-like frames: a test image on a wall, larger than the model's input
        frame = np.full((120, 160, 3), 90, np.uint8)
        frame[:, 20:140] = cv2.resize(sample.x_test[i], (120, 120))[..., None]
        cv2.imwrite(str(tmp_path / f"frame{i}.png"), frame)
    proc = run_cli("verify", str(exported), "--images", str(tmp_path), check=True)
    assert "agree   >=95%" in proc.stdout and proc.stdout.count(" ok\n") == 6
    assert "on 12 of your images, top-1 agreement with model_fp32.tflite" in proc.stdout


def test_a_device_that_disagrees_fails_with_exit_3(tmp_path, exported, reference):
    """As if this device's kernels answered otherwise: the reference says another class for every image."""
    copy = tmp_path / "export"
    shutil.copytree(exported, copy)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=reference["x"], y=reference["y"], probs=np.roll(reference["probs"], 1, axis=1))
    (copy / REFERENCE).write_bytes(buffer.getvalue())
    proc = run_cli("verify", str(copy))
    assert proc.returncode == 3 and proc.stderr.startswith("error: parity gate failed on this device: model_fp32")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_one_artifact_alone_and_an_unknown_one(exported):
    proc = run_cli("verify", str(exported), "--artifact", "model_int8.onnx", check=True)
    assert proc.stdout.count(" ok\n") == 1 and "model_int8.onnx" in proc.stdout and "model_fp32" not in proc.stdout
    bad = run_cli("verify", str(exported), "--artifact", "model.tflite")
    assert bad.returncode != 0 and bad.stderr.startswith("error: --artifact model.tflite: not in this export")


@pytest.mark.parametrize("damage, message", [
    (lambda p: p.unlink(), "has no reference.npz"),
    (lambda p: p.write_bytes(b"PK\x03\x04 not really"), "reference set written by edgecls export"),
    (lambda p: p.write_bytes(p.read_bytes()[:2000]), "reference set written by edgecls export"),
])
def test_a_missing_or_damaged_reference_set_is_one_line(tmp_path, exported, damage, message):
    copy = tmp_path / "export"
    shutil.copytree(exported, copy)
    damage(copy / REFERENCE)
    proc = run_cli("verify", str(copy))
    assert proc.returncode != 0 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_run_on_an_export_folder_runs_its_fastest_file_that_passes_here(tmp_path, exported, reference, sample):
    """Issue 33.3: `edgecls run EXPORT_DIR` re-gates every file on this machine and runs the fastest that passes.
    A gate of agreement 1.0 leaves only the files that agree on every reference image, counted by hand with
    LiteRT and ONNX Runtime; the chosen file is one of them, and the line's p50 is the lowest it lists."""
    import re

    from test_repair import answers_by_hand

    copy = tmp_path / "export"
    shutil.copytree(exported, copy)
    report = json.loads((copy / "parity.json").read_text())
    report["gate"] = {"max_drop_points": 0.0, "min_agreement": 1.0, "max_class_drop_points": None}
    (copy / "parity.json").write_text(json.dumps(report))

    def agrees_everywhere(path) -> bool:
        return bool((answers_by_hand(path, reference["x"]) == reference["probs"].argmax(1)).all())

    passing = {row["artifact"] for row in report["artifacts"] if agrees_everywhere(copy / row["artifact"])}
    assert passing and len(passing) < len(report["artifacts"])  # the gate leaves some out
    images = tmp_path / "images"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), sample.x_test[i])
    proc = run_cli("run", str(copy), "--source", str(images), "--headless", check=True)
    line = next(line for line in proc.stderr.splitlines() if "the fastest of the" in line)
    chosen = line.split(":", 1)[0]
    assert chosen in passing and f"the fastest of the {len(passing)} files" in line, line
    times = [float(t) for t in re.findall(r"(\d+\.\d+)(?: ms a frame|,| ms\))", line)]
    assert times[0] == min(times) and len(times) == len(passing), line
    assert f"{chosen}" in proc.stderr.split(line, 1)[1]  # the banner names the file it runs
