import json

import numpy as np
import pytest

from conftest import run_cli
from edgecls.export.artifacts import FILENAMES
from edgecls.runtime import Classifier, read_metadata

ARTIFACTS = FILENAMES  # the registry: every format export writes


def test_every_format_loads_in_the_real_runtimes(exported, sample):
    for name in ARTIFACTS:
        clf = Classifier(exported / name)
        probs = clf.predict(sample.x_test[:8])
        assert probs.shape == (8, 11) and np.allclose(probs.sum(1), 1.0, atol=0.02), name  # 10 classes and unknown
    assert (exported / "labels.txt").read_text().splitlines()[::10] == ["T-shirt/top", "unknown"]
    assert not list(exported.glob(".partial-*")) and not (exported / "saved_model").exists()


def test_metadata_round_trips(exported, trained_run):
    import hashlib

    sha = hashlib.sha256((trained_run / "model.keras").read_bytes()).hexdigest()
    accuracy = json.loads((trained_run / "metrics.json").read_text())["accuracy"]
    for name in ARTIFACTS:
        meta = read_metadata(exported / name)
        assert meta["labels"] == (trained_run / "labels.txt").read_text().splitlines() + ["unknown"]
        rgb = name.endswith(".tflite")  # every .tflite takes RGB (the luma folded in), as MediaPipe feeds it
        assert meta["input"] == {"height": 28, "width": 28, "channels": 3 if rgb else 1,
                                 "color": "RGB" if rgb else "GRAY", "dtype": "uint8",
                                 "resize": "crop"}  # 28x28 images at the model's own aspect: crop frames
        assert meta["source_sha256"] == sha and meta["dataset"] == "fashion-mnist-mini"
        assert abs(meta["original_accuracy"] - accuracy) < 1e-6


def test_int8_io_types_and_quantization(exported, tmp_path, trained_run):
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(exported / "model_int8.tflite"))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.uint8 and inp["quantization"] == (1.0, 0)  # raw pixels
    assert out["dtype"] == np.uint8 and out["quantization"][0] == pytest.approx(1 / 255, rel=0.01)  # 0..1 in 255 steps
    ops = {op["op_name"] for op in it._get_ops_details()}
    assert "CAST" not in ops and "DEQUANTIZE" not in ops  # integer all the way

    run_cli("export", str(trained_run), "--unknown", "off", "--formats", "tflite-int8", "--io-dtype", "int8", "--calib", "100",
            "--out", str(tmp_path / "i8"), "--min-agreement", "0.9", "--max-drop", "5",
            "--max-class-drop", "100", check=True)
    it = Interpreter(model_path=str(tmp_path / "i8" / "model_int8.tflite"))
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.int8 and inp["quantization"] == (1.0, -128)
    assert out["dtype"] == np.int8 and out["quantization"][1] == -128
    assert read_metadata(tmp_path / "i8" / "model_int8.tflite")["input"]["dtype"] == "int8"


def test_onnx_is_opset_17_plus_with_dynamic_batch_and_qdq(exported):
    import onnx

    for name in ("model_fp32.onnx", "model_int8.onnx"):
        model = onnx.load(exported / name)
        assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
        dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
        assert dim0.dim_param or dim0.dim_value == 0
    ops = {n.op_type for n in onnx.load(exported / "model_int8.onnx").graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_parity_report_is_recomputed_independently(exported, trained_run, sample):
    import keras

    from edgecls.runtime.confidence import known_probabilities

    report = json.loads((exported / "parity.json").read_text())
    keras_probs = keras.models.load_model(trained_run / "model.keras").predict(sample.x_test, verbose=0)
    calibrated = np.exp(np.log(keras_probs) / report["unknown"]["temperature"])  # Keras' answer at the temperature
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    reference = Classifier(exported / "model_fp32.tflite").predict(sample.x_test)  # the original with its unknown
    assert np.allclose(known_probabilities(reference), calibrated, atol=1e-4)
    assert report["test_samples"] == 1000
    assert {r["artifact"] for r in report["artifacts"]} == set(ARTIFACTS)
    for row in report["artifacts"]:
        probs = Classifier(exported / row["artifact"]).predict(sample.x_test)
        assert row["size_bytes"] == (exported / row["artifact"]).stat().st_size
        assert row["accuracy"] == pytest.approx(float((probs.argmax(1) == sample.y_test).mean()))
        assert row["agreement"] == pytest.approx(float((probs.argmax(1) == reference.argmax(1)).mean()), abs=2e-3)
        assert row["max_abs_diff"] == pytest.approx(float(np.abs(probs - reference).max()), abs=1e-4)
        if row["artifact"].startswith("model_fp32"):
            assert row["agreement"] == 1.0 and row["max_abs_diff"] < 1e-4
        else:
            assert row["agreement"] >= 0.9
    int8 = {r["artifact"]: r for r in report["artifacts"]}["model_int8.tflite"]
    assert int8["size_bytes"] < 0.45 * {r["artifact"]: r for r in report["artifacts"]}["model_fp32.tflite"]["size_bytes"]


def test_gate_fails_when_forced(tmp_path, trained_run):
    proc = run_cli("export", str(trained_run), "--unknown", "off", "--formats", "tflite-int8", "--calib", "50", "--no-repair",
                   "--max-drop", "0", "--min-agreement", "1.0", "--out", str(tmp_path / "g"))
    assert proc.returncode == 3, proc.stderr
    assert "model_int8.tflite" in proc.stderr and "agreement" in proc.stderr
    assert "largest int8 error at layers" in proc.stderr and "Traceback" not in proc.stderr
    named = proc.stderr.split("largest int8 error at layers ")[1].split(" (the candidate")[0]
    assert 1 <= len(named.split(", ")) <= 3 and "/" not in named and ";" not in named, named  # layers, not tensors
    assert not (tmp_path / "g").exists()  # nothing published as the export
    report = json.loads((tmp_path / "g.failed" / "parity.json").read_text())
    row = report["artifacts"][0]
    assert row["passed"] is False and row["worst_layers"] and row["failures"] and "attempts" not in row
    assert 0.9 < report["noise_agreement"] <= 1  # the original under one grey level of noise (issue 16)


def test_interrupted_export_keeps_previous_artifacts(tmp_path, trained_run, exported, monkeypatch):
    import shutil

    from edgecls.export import exporter, onnx_export

    dest = tmp_path / "exp"
    shutil.copytree(exported, dest)
    before = {p.name: p.read_bytes() for p in dest.iterdir()}

    def crash(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_export, "quantize_int8", crash)
    with pytest.raises(KeyboardInterrupt):
        exporter.export_model(str(trained_run), out=str(dest), int8=True, calib=50)
    after = {p.name: p.read_bytes() for p in dest.iterdir()}
    assert after == before  # byte for byte
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # and no staging folder left beside it


@pytest.mark.parametrize("args, message", [
    (["--data", "no-such"], "dataset 'no-such' not found"),
    (["--calib", "0", "--int8"], "Invalid value for '--calib': 0 is not in the range x>=1"),
    (["--formats", "tflite-int4"], "unknown format(s) tflite-int4"),
])
def test_export_bad_input(trained_run, tmp_path, args, message):
    proc = run_cli("export", str(trained_run), "--out", str(tmp_path / "x"), *args)
    assert proc.returncode == 2 and message in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "x").exists() or not any((tmp_path / "x").iterdir())


def test_export_rejects_corrupt_model_and_missing_labels(tmp_path, trained_run, sample):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "model.keras").write_bytes(b"not a zip")
    (bad / "labels.txt").write_text("a\nb\n")
    proc = run_cli("export", str(bad), "--data", "fashion-mnist-mini")
    assert proc.returncode == 2 and "not a readable Keras model" in proc.stderr
    proc = run_cli("export", str(trained_run / "model.keras"), "--data", "fashion-mnist-mini",
                   "--out", str(tmp_path / "o"), "--labels", str(bad / "labels.txt"))
    assert proc.returncode == 2 and "class count mismatch: model 10, labels 2" in proc.stderr
    rgb = tmp_path / "rgb.npz"
    x = np.repeat(sample.x_train[:40], 3, axis=-1)
    np.savez(rgb, x_train=x, y_train=np.arange(40) % 10, x_test=x[:10], y_test=np.arange(10))
    proc = run_cli("export", str(trained_run), "--data", str(rgb), "--out", str(tmp_path / "o2"))
    assert proc.returncode == 2 and "(28, 28, 3) images but the model takes (28, 28, 1)" in proc.stderr


def test_calibration_sample_is_stratified(trained_run):
    """24.2: the int8 calibration images are a class-stratified sample of train (10 of each of 10 classes)."""
    from edgecls.export.exporter import prepare
    from edgecls.toolkit.rundir import resolve_source

    job = prepare(resolve_source(str(trained_run), None, None), 100)
    label_of = {image.tobytes(): int(y) for image, y in zip(job.dataset.x_train, job.dataset.y_train)}
    assert np.bincount([label_of[image.tobytes()] for image in job.calib], minlength=10).tolist() == [10] * 10
