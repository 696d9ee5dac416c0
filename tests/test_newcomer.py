"""Issue 25: what a newcomer hits in the first hour, as a newcomer would run it."""

from __future__ import annotations

import os
import subprocess
import sys

import cv2

from conftest import run_cli, tiny_npz


def test_export_works_with_keras_backend_jax_still_set(tmp_path, sample):
    """25.1: the README's GPU section sets KERAS_BACKEND=jax; a JAX-trained run still exports."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    data = tiny_npz(tmp_path / "tiny.npz", sample)
    run_cli("train", "--data", str(data), "--epochs", "1", "--out", str(tmp_path / "jax"), check=True, env=env)
    proc = run_cli("export", str(tmp_path / "jax"), "--formats", "tflite-fp32,onnx-fp32", check=True, env=env)
    assert "all 2 artifacts passed" in proc.stdout and "TensorFlow backend" in proc.stderr


def test_headless_run_says_what_it_classified(tmp_path, exported, sample):
    """25.2: one line per image of a folder, a line per change of label in a video, counts at the end."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), sample.x_test[i])
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--source", str(folder), "--headless", check=True)
    lines = [line for line in proc.stderr.splitlines() if line.startswith(str(folder))]
    assert [line.split(":")[0] for line in lines] == [str(folder / f"{i}.png") for i in range(3)]
    assert "top-1 labels:" in proc.stdout
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
        assert "pip install 'edgecls[train]'" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
