import json
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import run_cli

COMMANDS = ["train", "evaluate", "inspect", "models", "export", "info", "verify", "run", "bench"]


@pytest.mark.parametrize("command", [None] + COMMANDS)
def test_help_is_fast_and_has_an_example(command):
    args = [command, "--help"] if command else ["--help"]
    t0 = time.perf_counter()
    proc = run_cli(*args, check=True)
    elapsed = time.perf_counter() - t0
    assert elapsed < 5  # generous for a loaded CI box; the real figure is in benchmarks/
    examples = [line.strip() for line in proc.stdout.splitlines() if line.strip().startswith("edgecls ")]
    assert examples and all(line.startswith(f"edgecls {command or ''}".strip()) for line in examples), proc.stdout
    if command:
        assert "tensorflow" not in proc.stdout.lower() or command in ("train", "export")


@pytest.mark.parametrize("args, message", [
    (["train", "--data", "no-such-dataset"], "dataset 'no-such-dataset' not found"),
    (["train", "--model", "nope"], "unknown model 'nope'"),
    (["evaluate", "missing.keras"], "'missing.keras' does not exist"),
    (["export", "missing-run"], "'missing-run' does not exist"),
    (["info", "README.md"], "neither a TFLite nor an ONNX model"),
    (["models", "--input-size", "big"], "'big' must look like 28x28x1"),
])
def test_bad_input_is_one_line_and_nonzero(tmp_path, args, message):
    proc = run_cli(*args, cwd=tmp_path if args[0] == "train" else None)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith(("error:", "Error:"))]
    assert len(errors) == 1, proc.stderr


@pytest.mark.parametrize("args", [["train", "--data", "no-such"], ["train", "--model", "nope"],
                                  ["export", ".", "--data", "no-such"], ["evaluate", ".", "--data", "no-such"]])
def test_a_dataset_or_model_that_does_not_exist_is_refused_before_keras_loads(tmp_path, args):
    """Keras takes seconds to import: a mistyped name must not wait for it (it did: 8 s for one line)."""
    code = ("import sys, click\nfrom edgecls.cli import main\n"
            f"try:\n    main.main(args={args!r}, standalone_mode=False)\n"
            "except click.UsageError as exc:\n    print(exc.format_message())\n"
            "print(sorted({'keras', 'tensorflow', 'jax'} & set(sys.modules)))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    message, modules = proc.stdout.strip().splitlines()
    assert ("not found: use one of" in message or "unknown model 'nope'" in message) and modules == "[]", proc


def test_models_lists_macs():
    out = run_cli("models", check=True).stdout
    assert "edge-cnn" in out and "cnn4" in out and "M " in out


def test_evaluate_and_inspect(tmp_path, trained_run):
    run_cli("evaluate", str(trained_run), "--out", str(tmp_path / "ev"), check=True)
    mine = json.loads((tmp_path / "ev" / "metrics.json").read_text())
    assert mine["accuracy"] == json.loads((trained_run / "metrics.json").read_text())["accuracy"]
    assert (tmp_path / "ev" / "metrics.json").exists() and (tmp_path / "ev" / "confusion_matrix.png").exists()
    proc = run_cli("inspect", "--out", str(tmp_path / "in"), "--sample", "300", check=True)
    assert "PCA explained variance ratio: PC1 0.2" in proc.stdout  # Fashion-MNIST: PC1 explains ~29%
    for name in ("samples.png", "pca.png", "tsne.png", "inspect.json"):
        assert (tmp_path / "in" / name).exists()


def test_evaluate_rejects_mismatched_data(tmp_path, trained_run, sample):
    rgb = tmp_path / "rgb.npz"
    x = np.repeat(sample.x_train[:40], 3, axis=-1)
    np.savez(rgb, x_train=x, y_train=np.arange(40) % 10, x_test=x[:10], y_test=np.arange(10))
    proc = run_cli("evaluate", str(trained_run / "model.keras"), "--data", str(rgb))
    assert proc.returncode == 2 and "takes (28, 28, 1) images" in proc.stderr
