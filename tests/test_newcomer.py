"""Issue 25: what a newcomer hits in the first hour, as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2
import pytest

from conftest import run_cli, tiny_npz


def test_export_works_with_keras_backend_jax_still_set(tmp_path, sample):
    """25.1: the README's GPU section sets KERAS_BACKEND=jax; a JAX-trained run still exports."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    data = tiny_npz(tmp_path / "tiny.npz", sample)
    run_cli("train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "jax"), check=True, env=env)
    proc = run_cli("export", str(tmp_path / "jax"), "--unknown", "off", "--formats", "tflite-fp32,onnx-fp32", check=True, env=env)
    assert "all 2 artifacts passed" in proc.stdout and "TensorFlow backend" in proc.stderr


def test_headless_run_says_what_it_classified(tmp_path, exported, sample):
    """25.2: one line per image of a folder, a line per change of label in a video, counts at the end."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), sample.x_test[i])
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--source", str(folder), "--headless", check=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith(str(folder))]  # the result: stdout
    assert [line.split(":")[0] for line in lines] == [str(folder / f"{i}.png") for i in range(3)]
    assert "top-1 labels:" in proc.stderr
    quiet = run_cli("-q", "run", str(exported / "model_int8.tflite"), "--source", str(folder), "--headless", check=True)
    assert not [line for line in quiet.stderr.splitlines() if line.startswith(str(folder))]


def test_offline_fashion_mnist_names_every_file_and_the_folder(tmp_path, monkeypatch):
    """25.4: offline, the error names the four files, the exact folder, the cause and the apt package."""
    import urllib.error

    import keras
    import pytest

    from edgecls.errors import EdgeclsError
    from edgecls.toolkit.data import builtin, load_dataset

    def offline():
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(builtin, "DEBIAN_FASHION_MNIST", tmp_path / "not-installed")
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", offline)
    with pytest.raises(EdgeclsError) as info:
        load_dataset("fashion-mnist")
    message = str(info.value)
    for name in builtin.IDX_FILES.values():
        assert f"{name}.gz" in message
    assert str(tmp_path / "keras" / "datasets" / "fashion-mnist") in message
    assert "name resolution" in message and "apt-get install dataset-fashion-mnist" in message


def test_runtime_only_install_gets_one_line_for_training_commands(tmp_path):
    """25.5: without the [train] extra (keras, matplotlib missing), one line says what to install."""
    fake = tmp_path / "no-train-extra"
    fake.mkdir()
    for module in ("keras", "matplotlib"):
        (fake / f"{module}.py").write_text(f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")])}
    for args in (["train", "--epochs", "1", "--out", str(tmp_path / "r")], ["models"], ["inspect", "--no-tsne"]):
        proc = subprocess.run([sys.executable, "-m", "edgecls.cli", *args], capture_output=True, text=True, env=env,
                              cwd=tmp_path, timeout=120)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
        assert "pip install 'edgecls[cpu,train]'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_default_resize_comes_from_the_model(tmp_path, exported, sample):
    """25.3: a model trained on images of its own aspect centre-crops camera frames unless told otherwise."""
    from edgecls.runtime import read_metadata
    from edgecls.toolkit.data.video import write_video

    assert read_metadata(exported / "model_int8.tflite")["input"]["resize"] == "crop"
    video = write_video(tmp_path / "clip.avi", sample.x_test[:20])
    model = str(exported / "model_int8.tflite")
    default = run_cli("run", model, "--source", video, "--headless", check=True)
    assert "resize crop (from the model)" in default.stderr
    stretched = run_cli("run", model, "--source", video, "--headless", "--resize", "stretch", check=True)
    assert "resize stretch (--resize)" in stretched.stderr
    old = run_cli("run", model, "--source", video, "--pad")
    assert old.returncode == 2 and "--pad is now --resize pad" in old.stderr


def test_bench_an_exported_file_alone(exported):
    """25.6: with only model_int8.onnx at hand, bench measures it; with --data it also scores it."""
    import json

    alone = run_cli("bench", str(exported / "model_int8.onnx"), "--iterations", "20", "--seconds", "0.1",
                    "--json", "-", check=True)
    row = json.loads(alone.stdout)["rows"][0]
    assert row["accuracy"] is None and row["latency_1thread"]["p50_ms"] > 0 and row["size_bytes"] > 0
    scored = run_cli("bench", str(exported / "model_int8.onnx"), "--data", "fashion-mnist-mini", "--iterations", "20",
                     "--seconds", "0.1", "--json", "-", check=True)
    parity = {r["artifact"]: r for r in json.loads((exported / "parity.json").read_text())["artifacts"]}
    row = json.loads(scored.stdout)["rows"][0]  # with an unknown class: accuracy on the images it keeps
    assert row["accuracy"] == pytest.approx(parity["model_int8.onnx"]["unknown"]["accepted_accuracy"], abs=1e-4)
    assert row["accepted"] == pytest.approx(parity["model_int8.onnx"]["unknown"]["accepted"], abs=1e-4)


def test_models_lists_backbone_sizes_and_inspect_writes_the_skipped_list(tmp_path, sample):
    """25.8: backbones get parameters and MACs at an RGB size; inspect writes the skipped.txt it names."""
    proc = run_cli("models", "--input-size", "64x64x3", "--classes", "3", check=True)
    rows = {line.split()[0]: line.split()[1:3] for line in proc.stdout.splitlines()[1:]}
    for name in ("mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "vgg16", "resnet50"):
        params, macs = rows[name]
        assert int(params.replace(",", "")) > 100_000 and float(macs.rstrip("M")) > 1, (name, rows[name])
    folder = tmp_path / "photos"
    for c in ("bag", "shoe"):
        (folder / c).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(folder / c / f"{i}.png"), sample.x_test[i])
    (folder / "bag" / "broken.png").write_bytes(b"not a png")
    run_cli("inspect", "--data", str(folder), "--image-size", "28", "--no-tsne", "--out", str(tmp_path / "look"),
            check=True)
    assert (tmp_path / "look" / "skipped.txt").read_text().strip().endswith("broken.png")
