import csv
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import SAMPLE_EPOCHS, run_cli, tiny_npz


def test_run_directory_is_complete_and_sane(trained_run, sample):
    files = {p.name for p in trained_run.iterdir()}
    for name in ("model.keras", "labels.txt", "config.json", "history.csv", "metrics.json", "curves.png",
                 "confusion_matrix.png", "misclassified.png", "samples.png"):
        assert name in files, name
    assert "checkpoint" not in files  # removed once the run finished
    assert (trained_run / "labels.txt").read_text().split("\n")[:2] == ["T-shirt/top", "Trouser"]
    config = json.loads((trained_run / "config.json").read_text())
    assert config["data"] == "fashion-mnist-mini" and config["model"] == "edge-cnn" and config["seed"] == 0
    assert config["versions"]["keras"].startswith("3.")
    # the README's defaults for Fashion-MNIST, one key per transform
    assert config["augment"] == {"flip": True, "rotate": 0.0, "shift": 0.04, "zoom": 0.0, "brightness": 0.0, "noise": 0.0}
    rows = list(csv.DictReader((trained_run / "history.csv").open()))
    assert [int(r["epoch"]) for r in rows] == list(range(1, SAMPLE_EPOCHS + 1))
    assert float(rows[-1]["loss"]) < float(rows[0]["loss"])
    m = json.loads((trained_run / "metrics.json").read_text())
    assert m["samples"] == 1000 and 0.6 < m["accuracy"] <= 1.0
    assert np.array(m["confusion_matrix"]).sum() == 1000
    assert np.trace(np.array(m["confusion_matrix"])) == round(m["accuracy"] * 1000)
    assert set(m["per_class"]) == set(sample.class_names)
    assert all(0 <= v["f1"] <= 1 for v in m["per_class"].values())
    for png in trained_run.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000


def test_metrics_match_an_independent_computation(trained_run, sample):
    import keras

    model = keras.models.load_model(trained_run / "model.keras")
    pred = model.predict(sample.x_test, verbose=0).argmax(1)
    m = json.loads((trained_run / "metrics.json").read_text())
    assert m["accuracy"] == float((pred == sample.y_test).mean())
    c = 7  # Sneaker
    tp = np.sum((pred == c) & (sample.y_test == c))
    assert abs(m["per_class"]["Sneaker"]["precision"] - tp / max(np.sum(pred == c), 1)) < 1e-9
    assert abs(m["per_class"]["Sneaker"]["recall"] - tp / 100) < 1e-9


def test_refuses_to_overwrite_a_finished_run(trained_run):
    proc = run_cli("train", "--out", str(trained_run), "--epochs", "1")
    assert proc.returncode == 2 and "already holds a trained model" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("distribute", ["data-parallel"])  # one device: test_resume_after_kill_9_continues_exactly
def test_resume_after_kill_9(tmp_path, sample, distribute):
    data = tiny_npz(tmp_path / "tiny.npz", sample, per_class=60)
    out = tmp_path / "run"
    env = {**os.environ, "EDGECLS_VIRTUAL_CPUS": "2"}
    args = [sys.executable, "-m", "edgecls.cli", "train", "--data", str(data), "--epochs", "4",
            "--batch-size", "16", "--distribute", distribute, "--out", str(out)]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    state = tmp_path / ".run.training" / "checkpoint" / "state.json"  # staged beside the run until it is done
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        time.sleep(0.2)
    time.sleep(0.5)  # now mid-way through the next epoch
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = json.loads(state.read_text())["epoch"]
    assert 1 <= done_before < 4 and not (out / "model.keras").exists()
    out = tmp_path / "moved"  # 31.17: a run moved elsewhere resumes as itself, where it now is
    state.parent.parent.rename(tmp_path / ".moved.training")

    proc = run_cli("train", "--out", str(out), "--resume", check=True, env=env)
    assert f"resuming {out} after epoch {done_before} of 4" in proc.stderr
    assert "Skipping variable loading" not in proc.stderr  # 31.17: the optimizer comes from its own file
    assert ("data-parallel over 2 replicas" in proc.stderr) == (distribute == "data-parallel")
    rows = list((out / "history.csv").read_text().strip().splitlines())
    assert len(rows) == 1 + 4  # header + exactly 4 epochs
    assert json.loads((out / "metrics.json").read_text())["epochs_run"] == 4
    assert not (out / "checkpoint").exists() and not (tmp_path / ".run.training").exists()


def test_init_fine_tunes_with_a_new_head(tmp_path, trained_run, sample):
    import keras

    data = tiny_npz(tmp_path / "five.npz", sample, classes=5)
    out = tmp_path / "ft"
    run_cli("train", "--data", str(data), "--init", str(trained_run / "model.keras"), "--epochs", "1",
            "--out", str(out), check=True)
    model = keras.models.load_model(out / "model.keras")
    base = keras.models.load_model(trained_run / "model.keras")
    assert model.output_shape == (None, 5)
    assert (out / "labels.txt").read_text().split() == ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat"]
    # the backbone started from the trained weights, not from scratch
    assert len(model.layers) == len(base.layers)
    conv = next(i for i, layer in enumerate(base.layers) if isinstance(layer, keras.layers.Conv2D))
    start, tuned = base.layers[conv].get_weights()[0], model.layers[conv].get_weights()[0]
    assert np.abs(tuned - start).max() < 0.5 * np.abs(start).max()
    _exports_and_runs(out, tmp_path, sample)


def test_init_with_the_same_classes_exports_and_runs(tmp_path, trained_run, sample):
    """Issue 31.18: a fine-tuned run exports to every TFLite format (its input was once a list)."""
    out = tmp_path / "same"
    run_cli("train", "--data", str(tiny_npz(tmp_path / "ten.npz", sample)), "--init", str(trained_run / "model.keras"),
            "--epochs", "1", "--out", str(out), check=True)
    _exports_and_runs(out, tmp_path, sample)


def _exports_and_runs(run, tmp_path, sample):
    """Export ``run`` to TFLite, float and int8 (the formats that failed), then classify images with the int8 file."""
    import cv2

    run_cli("export", str(run), "--unknown", "off", "--formats", "tflite-fp32,tflite-int8", "--calib", "50",
            "--min-agreement", "0", "--max-drop", "100", "--max-class-drop", "100", check=True)
    images = tmp_path / f"{run.name}-images"
    images.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"{i}.png"), sample.x_test[i])
    proc = run_cli("run", str(run / "export" / "model_int8.tflite"), "--source", str(images), "--headless", check=True)
    labels = (run / "labels.txt").read_text().splitlines()
    answers = [line.split(": ", 1)[1].rsplit(" ", 1)[0] for line in proc.stdout.splitlines()]
    assert len(answers) == 3 and all(a in labels for a in answers), proc.stdout


def test_mixed_precision_stays_out_of_the_saved_model_and_exports(tmp_path, sample):
    import keras

    from ai_edge_litert import schema_py_generated as schema

    out = tmp_path / "bf16"
    proc = run_cli("train", "--data", str(tiny_npz(tmp_path / "t.npz", sample)), "--epochs", "1",
                   "--mixed-precision", "bfloat16", "--out", str(out), check=True)
    assert "precision bfloat16" in proc.stderr  # the banner says what training ran in
    model = keras.models.load_model(out / "model.keras")
    assert {layer.dtype_policy.name for layer in model.layers} == {"float32"}
    assert all(w.dtype == "float32" for w in model.weights)
    run_cli("export", str(out), "--unknown", "off", "--formats", "tflite-fp32", "--min-agreement", "0", "--max-drop", "100", check=True)
    tflite = schema.ModelT.InitFromPackedBuf((out / "export" / "model_fp32.tflite").read_bytes(), 0)
    types = {t.type for t in tflite.subgraphs[0].tensors}
    assert not types & {schema.TensorType.FLOAT16, schema.TensorType.BFLOAT16}


@pytest.fixture(scope="module")
def one_device_run(tmp_path_factory, sample):
    """The one-device run both backends' data-parallel runs are held against (same data, recipe and seed)."""
    root = tmp_path_factory.mktemp("one-device")
    data = tiny_npz(root / "t.npz", sample, per_class=80)
    out = root / "none"
    proc = run_cli("train", "--data", str(data), "--epochs", "4", "--batch-size", "32", "--distribute", "none",
                   "--out", str(out), check=True, env={**os.environ, "EDGECLS_VIRTUAL_CPUS": "2"})
    assert "data-parallel" not in proc.stderr
    return data, json.loads((out / "metrics.json").read_text())["accuracy"], sorted(p.name for p in out.iterdir())


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_on_two_virtual_cpus_matches_one_device(tmp_path, one_device_run, backend):
    data, one_device_accuracy, one_device_files = one_device_run
    env = {**os.environ, "KERAS_BACKEND": backend, "EDGECLS_VIRTUAL_CPUS": "2"}
    out = tmp_path / "data-parallel"
    proc = run_cli("train", "--data", str(data), "--epochs", "4", "--batch-size", "32", "--distribute", "data-parallel",
                   "--out", str(out), check=True, env=env)
    assert f"backend {backend}" in proc.stderr and "data-parallel over 2 replicas" in proc.stderr
    accuracy = json.loads((out / "metrics.json").read_text())["accuracy"]
    assert sorted(p.name for p in out.iterdir()) == one_device_files  # one complete run directory, written once
    # same global batch, same recipe: the same class of accuracy (10 classes, chance is 0.1)
    assert min(accuracy, one_device_accuracy) > 0.45 and abs(accuracy - one_device_accuracy) < 0.2, accuracy


def test_resume_after_kill_9_continues_exactly(tmp_path, sample):
    """Issue 13 A4: killed after epoch 1 and resumed, the final weights equal an uninterrupted run's.

    Keras is the oracle: both models are read back with keras.models.load_model.
    """
    import keras

    data = tiny_npz(tmp_path / "tiny.npz", sample, per_class=100)
    args = ["--data", str(data), "--epochs", "3", "--batch-size", "16"]
    run_cli("train", *args, "--out", str(tmp_path / "straight"), check=True)
    proc = subprocess.Popen([sys.executable, "-m", "edgecls.cli", "train", *args, "--out", str(tmp_path / "killed")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = tmp_path / ".killed.training" / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["epoch"] >= 1):
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads(state.read_text())["epoch"] < 3
    run_cli("train", "--out", str(tmp_path / "killed"), "--resume", check=True)
    a = keras.models.load_model(tmp_path / "straight" / "model.keras", compile=False)
    b = keras.models.load_model(tmp_path / "killed" / "model.keras", compile=False)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-5, atol=1e-6)
    assert (tmp_path / "straight" / "history.csv").read_text().split("\n")[1:] != []
    rows = lambda run: [r.split(",")[:5] for r in (tmp_path / run / "history.csv").read_text().splitlines()]
    assert rows("straight") == rows("killed")  # the same losses, epoch by epoch


def test_early_stopping_restores_the_best_epoch(tmp_path, sample):
    """24.2: with early stopping the saved model is the best epoch's, not the last one's.

    The validation labels are shifted by one class, so the better the model learns, the worse its
    validation loss: training must stop early and keep the first epoch. Keras is the oracle:
    model.keras, loaded by Keras, has on the validation set exactly the loss that history.csv
    recorded for the best epoch (no label smoothing: plain cross-entropy), not the last one's.
    """
    import keras

    data = tiny_npz(tmp_path / "tiny.npz", sample, per_class=40)
    arrays = dict(np.load(data))
    x_val, y_val = arrays["x_test"][:60], (arrays["y_test"][:60] + 1) % 10
    np.savez(data, **arrays, x_val=x_val, y_val=y_val)
    out = tmp_path / "run"
    run_cli("train", "--data", str(data), "--epochs", "10", "--patience", "2", "--label-smoothing", "0",
            "--augment", "none", "--out", str(out), check=True)
    history = list(csv.DictReader((out / "history.csv").open()))
    best = json.loads((out / "metrics.json").read_text())["best_epoch"]
    val_loss = [float(row["val_loss"]) for row in history]
    assert best == 1 + int(np.argmin(val_loss)) and len(val_loss) == best + 2 < 10, val_loss  # stopped early
    model = keras.models.load_model(out / "model.keras", compile=False)
    probs = model.predict(x_val[..., None], verbose=0)
    loss = float(keras.ops.mean(keras.losses.sparse_categorical_crossentropy(y_val, probs)))
    assert loss == pytest.approx(val_loss[best - 1], rel=1e-4) and loss != pytest.approx(val_loss[-1], rel=1e-4)
