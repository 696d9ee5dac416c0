"""Accuracy parity on the real Fashion-MNIST test set (10 000 images), when it is installed.

Debian's `dataset-fashion-mnist` puts it in /usr/share/datasets/fashion-mnist (.ci/run
installs it when it can). Two checks:
- the embedded-sample model's int8 artifacts against its original on all 10 000 images;
- the committed full Fashion-MNIST model (benchmarks/models/, edge-cnn, 93.66% test
  accuracy) exported here and held to the export issue's thresholds: int8 agreement >= 99.5%,
  accuracy drop <= 0.3 points, file <= 0.30x the fp32 one; fp32 agreement >= 99.9%, max |dp|
  <= 1e-4. Measured: int8 99.69% agreement, -0.10 points, 0.28x (TFLite) / 0.29x (ONNX). The
  export is deterministic (seeded calibration sample), so the margins hold every time.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import FULL_MODEL, cli

DEBIAN = Path("/usr/share/datasets/fashion-mnist")
needs_data = pytest.mark.skipif(not (DEBIAN / "t10k-images-idx3-ubyte.gz").exists(),
                                reason=f"real Fashion-MNIST not installed in {DEBIAN} (apt-get install dataset-fashion-mnist)")


@needs_data
def test_sample_model_int8_parity_on_real_test_set(sample_run):
    import keras

    from edgecls.runtime import Classifier
    from edgecls.toolkit.data import load_dataset

    ds = load_dataset("fashion-mnist")
    reference = keras.models.load_model(sample_run / "model.keras").predict(ds.x_test, batch_size=512, verbose=0)
    from edgecls.runtime.confidence import accepted

    for artifact in ("model_int8.tflite", "model_int8.onnx"):
        probs = Classifier(sample_run / "export" / artifact).predict(ds.x_test)
        kept = accepted(probs)  # the answers it gives on the images it does not call unknown
        agreement = float((probs.argmax(1) == reference.argmax(1))[kept].mean())
        drop = 100 * float((reference.argmax(1) == ds.y_test)[kept].mean() - (probs.argmax(1) == ds.y_test)[kept].mean())
        print(f"{artifact}: keeps {kept.mean():.4f}, agreement {agreement:.4f}, accuracy drop {drop:+.2f} points")
        assert kept.mean() >= 0.85 and agreement >= 0.98 and drop <= 1.0  # loose: a 15-epoch sample model


@needs_data
@pytest.mark.skipif(not (FULL_MODEL / "model.keras").exists(), reason="no committed full model")
def test_full_model_meets_export_thresholds(tmp_path):
    run = tmp_path / "full"
    shutil.copytree(FULL_MODEL, run)
    # The model's own quantization, as these thresholds were set for: the unknown class (its whitening matrices
    # take the int8 ONNX to 0.345x fp32) is measured by benchmarks/unknown.py.
    cli("export", str(run), "--int8", "--data", "fashion-mnist", "--max-drop", "0.3", "--min-agreement", "0.995",
        "--unknown", "off")
    report = json.loads((run / "export" / "parity.json").read_text())
    rows = {r["artifact"]: r for r in report["artifacts"]}
    assert report["test_samples"] == 10000
    for name in ("model_int8.tflite", "model_int8.onnx"):
        assert rows[name]["agreement"] >= 0.995 and rows[name]["accuracy_delta_points"] >= -0.3
        fp32 = rows[name.replace("int8", "fp32")]["size_bytes"]
        assert rows[name]["size_bytes"] <= 0.30 * fp32
    for name in ("model_fp32.tflite", "model_fp32.onnx"):
        assert rows[name]["agreement"] >= 0.999 and rows[name]["max_abs_diff"] <= 1e-4
    Path(".benchmarks").mkdir(exist_ok=True)
    Path(".benchmarks/parity_full.json").write_text(json.dumps(report, indent=2))


@needs_data
@pytest.mark.skipif(not (FULL_MODEL / "model.keras").exists(), reason="no committed full model")
def test_full_models_int8_file_knows_what_it_does_not_know(tmp_path):
    """Issue 32's figures for the exported int8 TFLite file, from its parity.json: at most 1% of the flat, noise
    and blurred-texture frames named as a class (the classifier's features alone: 6% of flat frames and 25% of
    textures), ECE at most 0.02 on the answers it gives, 95% of validation images' share of test images kept.
    The export is deterministic (a seeded calibration sample); measured 0 / 0 / 0 and ECE 0.017."""
    run = tmp_path / "full"
    shutil.copytree(FULL_MODEL, run)
    cli("export", str(run), "--formats", "tflite-int8", "--data", "fashion-mnist")
    report = json.loads((run / "export" / "parity.json").read_text())
    row = report["artifacts"][0]
    assert row["passed"] and report["unknown"]["known_rate"] == 0.95
    assert 0.93 <= row["unknown"]["accepted"] <= 0.97 and row["unknown"]["ece"] <= 0.02
    assert all(row["unknown"]["false_accepts"][s] <= 0.01 for s in ("flat", "noise", "texture"))
