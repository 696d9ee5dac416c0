"""Issue 15, item 5: ``--device auto|cpu|gpu``, ``edgecls info``, and one owner per module.

No GPU is lent here: these tests check what a CPU-only machine must do (auto falls back to the
CPU and says so, gpu is refused in one line) against ONNX Runtime's own answers, the oracle.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import subprocess
import sys

import onnxruntime
import pytest

from conftest import client_python, run_cli
from edgecls.runtime import devices

GPU = [p for p in onnxruntime.get_available_providers() if p in devices.GPU_PROVIDERS]
pytestmark = pytest.mark.skipif(bool(GPU), reason="these check the CPU-only fallback; this machine has a GPU provider")


def test_info_lists_what_onnxruntime_itself_reports():
    facts = json.loads(run_cli("info", "--json", check=True).stdout)
    assert facts["onnxruntime"]["providers"] == onnxruntime.get_available_providers()
    assert facts["onnxruntime"]["version"] == onnxruntime.__version__
    assert facts["litert"]["version"] == importlib.metadata.version("ai-edge-litert")
    assert facts["owners"] == {"onnxruntime": ["onnxruntime"], "cv2": ["opencv-python-headless"]}
    text = run_cli("info", check=True).stdout
    assert f"ONNX Runtime {onnxruntime.__version__} (onnxruntime)" in text
    assert "--device auto: .tflite on CPU (XNNPACK), .onnx on the first of CPUExecutionProvider" in text


@pytest.mark.parametrize("artifact, device, banner", [
    ("model_int8.onnx", "auto", "on CPUExecutionProvider)"),
    ("model_int8.onnx", "cpu", "on CPUExecutionProvider)"),
    ("model_int8.tflite", "auto", "on CPU (XNNPACK))"),
])
def test_run_prints_the_device_it_runs_on(exported, artifact, device, banner):
    proc = run_cli("run", str(exported / artifact), "--source", str(exported / "labels.txt"), "--headless",
                   "--device", device)  # a text file is no image: the banner comes first, then one error line
    assert banner in proc.stderr.splitlines()[0], proc.stderr


@pytest.mark.parametrize("command", [
    ["run", "{export}/model_int8.onnx", "--source", "{export}", "--headless", "--device", "gpu"],
    ["run", "{export}/model_int8.tflite", "--source", "{export}", "--headless", "--device", "gpu"],
    ["bench", "{export}/model_int8.onnx", "--device", "gpu", "--seconds", "0.1"],
    ["verify", "{export}", "--device", "gpu"],
])
def test_gpu_without_one_is_one_line(exported, command):
    proc = run_cli(*[part.format(export=exported) for part in command])
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--device gpu" in lines[0], proc.stderr


def test_without_onnxruntime_an_onnx_file_names_the_extra(exported):
    """The base install has no ONNX Runtime: opening an .onnx says which extra brings it; .tflite still runs."""
    script = ("import sys; sys.modules['onnxruntime'] = None\n"  # as if neither package were installed
              "from edgecls.cli import main; sys.argv = ['edgecls', *sys.argv[1:]]; main()")
    base = [sys.executable, "-c", script, "run", "--headless", "--max-frames", "1", "--source"]
    onnx = subprocess.run(base + [str(exported / "labels.txt"), str(exported / "model_int8.onnx")],
                          capture_output=True, text=True)
    assert onnx.returncode != 0 and onnx.stderr.strip() == (
        "error: ONNX Runtime is not installed: pip install 'edgecls[cpu]' (or 'edgecls[gpu]' for an NVIDIA GPU)")
    info = subprocess.run([sys.executable, "-c", script, "info"], capture_output=True, text=True)
    assert info.returncode == 0 and "ONNX Runtime: ONNX Runtime is not installed" in info.stdout



def test_the_gpu_build_on_a_machine_without_a_gpu(exported, tmp_path):
    """``edgecls[gpu]``'s ONNX Runtime (onnxruntime-gpu, alone in its own environment; its CUDA libraries
    from pip left out) where no GPU is: info names it as the one owner and lists its GPU providers,
    auto starts on the CPU and says so, gpu is one line. The oracle is the package itself: its own
    provider list, and the answers of the CPU build here."""
    from test_packaging import REPO, requirements

    wanted = [re.sub(r"\[[\w,]+\]", "", req) for req in requirements(["gpu"])]  # without the CUDA libraries
    before = sorted(p.name for p in exported.iterdir())
    python = client_python(*wanted)
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # ONNX Runtime writes ~/.cache
    there = lambda *args: subprocess.run([str(python), "-m", "edgecls.cli", *args], capture_output=True, text=True,
                                         env=env, timeout=300)
    facts = json.loads(there("info", "--json").stdout)
    assert facts["owners"]["onnxruntime"] == ["onnxruntime-gpu"]
    assert "CUDAExecutionProvider" in facts["onnxruntime"]["providers"]
    model = str(exported / "model_int8.onnx")
    auto = there("run", model, "--source", str(exported / "labels.txt"), "--headless", "--device", "auto")
    assert "on CPUExecutionProvider)" in auto.stderr.splitlines()[0], auto.stderr
    gpu = there("run", model, "--source", str(exported), "--headless", "--device", "gpu")
    lines = gpu.stderr.strip().splitlines()
    assert gpu.returncode != 0 and len(lines) == 1 and "--device gpu" in lines[0], gpu.stderr
    verified = there("verify", str(exported), "--artifact", "model_int8.onnx", "--json", "-")
    here = json.loads(run_cli("verify", str(exported), "--artifact", "model_int8.onnx", "--json", "-", check=True).stdout)
    assert verified.returncode == 0, verified.stderr[-1500:]
    assert [(a["agreement"], a["accuracy"]) for a in json.loads(verified.stdout)["artifacts"]] == \
        [(a["agreement"], a["accuracy"]) for a in here["artifacts"]]
    assert sorted(p.name for p in exported.iterdir()) == before  # nothing written beside the artifacts
