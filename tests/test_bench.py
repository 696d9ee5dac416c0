import json

import numpy as np

from conftest import run_cli


def test_bench_json_has_every_column_with_sane_values(exported, trained_run, tmp_path):
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    proc = run_cli("bench", str(trained_run), "--iterations", "30", "--seconds", "0.3", "--limit", "300",
                   "--json", str(out), "--markdown", str(md), check=True)
    result = json.loads(out.read_text())
    assert result["samples"] == 300 and result["dataset"] == "fashion-mnist-mini"
    rows = {r["artifact"]: r for r in result["rows"]}
    assert set(rows) == {"model.keras", "model_fp32.tflite", "model_fp16.tflite", "model_dynamic.tflite",
                         "model_int8.tflite", "model_fp32.onnx", "model_int8.onnx"}
    for name, r in rows.items():
        path = trained_run / name if name == "model.keras" else exported / name
        assert r["size_bytes"] == path.stat().st_size
        assert 0 <= r["agreement"] <= 1 and 0 <= r["accuracy"] <= 1
        for key in ("latency_1thread", "latency_all_cores"):
            lat = r[key]
            if name == "model.keras" and key == "latency_1thread":
                assert lat is None  # Keras cannot be held to one thread per call: no figure, not a wrong one
                continue
            assert 0 < lat["p50_ms"] <= lat["p95_ms"] <= lat["p99_ms"], (name, lat)
        assert r["throughput_batch"] > 0
        if name != "model.keras":
            assert 0 < r["cold_start_s"] < 60 and 20 < r["peak_rss_mb"] < 4000
    assert rows["model_fp32.tflite"]["agreement"] == 1.0
    keras_acc = rows["model.keras"]["accuracy"]
    assert abs(rows["model_int8.tflite"]["accuracy"] - keras_acc) < 0.05
    assert md.read_text().count("\n") == len(rows) + 2  # header, separator, one line per row
    assert "model_int8.tflite" in proc.stdout


def test_bench_json_to_stdout_is_valid(exported, trained_run):
    proc = run_cli("bench", str(trained_run), "--artifact", str(exported / "model_int8.onnx"), "--iterations", "10",
                   "--seconds", "0.1", "--limit", "50", "--json", "-", check=True)
    result = json.loads(proc.stdout)
    assert [r["artifact"] for r in result["rows"]] == ["model.keras", "model_int8.onnx"]


def test_bench_bad_input(trained_run, tmp_path, sample):
    proc = run_cli("bench", str(trained_run), "--artifact", str(tmp_path / "missing.tflite"))
    assert proc.returncode == 2 and "missing.tflite' does not exist" in proc.stderr and "Traceback" not in proc.stderr
    rgb = tmp_path / "rgb.npz"
    x = np.repeat(sample.x_train[:40], 3, axis=-1)
    np.savez(rgb, x_train=x, y_train=np.arange(40) % 10, x_test=x[:10], y_test=np.arange(10))
    proc = run_cli("bench", str(trained_run), "--data", str(rgb))
    assert proc.returncode == 2 and "images but the model takes" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
