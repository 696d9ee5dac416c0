"""Issue 21, item 3: the runtime on an arm64 device without X libraries, emulated.

``scripts/arm64.py`` builds (once, cached) Debian's arm64 Python with aarch64 wheels of the
runtime's requirements and runs it under qemu-user as a Cortex-A72, the Raspberry Pi 4's core.
There ``edgecls verify`` gates the export's artifacts with arm64 kernels, on the export's own
reference images, at the gate export used on x86-64. Skipped, with the reason, where qemu or
the mount cannot be had (.ci/run installs qemu-user-static from Debian).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "arm64.py"
spec = importlib.util.spec_from_file_location("arm64", SCRIPT)
arm64 = importlib.util.module_from_spec(spec)
spec.loader.exec_module(arm64)

REASON = arm64.unavailable()
pytestmark = pytest.mark.skipif(REASON is not None, reason=f"arm64 emulation: {REASON}")


def emulated(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(arm64.command(list(args)), env=arm64.environment(), capture_output=True, text=True,
                          timeout=900, **kwargs)


def test_runtime_imports_on_arm64_without_x_libraries():
    proc = emulated("-c", "import platform, cv2, edgecls.runtime, edgecls.cli; print(platform.machine())")
    assert proc.returncode == 0 and proc.stdout.strip() == "aarch64", proc.stderr[-1500:]
    rootfs = arm64.ROOT / "rootfs"
    assert not list(rootfs.rglob("libxcb.so*")) and not list(rootfs.rglob("libGL.so*"))  # a headless device


# What a device runs: both int8 files, and the dynamic-range one for float activations. The fp32 and fp16
# files take 33 ms a frame under emulation (over a minute for the reference set): `scripts/arm64.py --
# -m edgecls.cli verify EXPORT` verifies all six by hand (README, "Deploy to a Raspberry Pi").
ON_DEVICE = ["model_int8.tflite", "model_int8.onnx", "model_dynamic.tflite"]


def test_export_passes_its_gate_on_arm64(exported):
    only = [arg for name in ON_DEVICE for arg in ("--artifact", name)]
    proc = emulated("-m", "edgecls.cli", "verify", str(exported), *only, "--json", "-")
    assert proc.returncode == 0, proc.stderr[-2000:]
    there = json.loads(proc.stdout)
    here = json.loads(run_cli("verify", str(exported), *only, "--json", "-", check=True).stdout)
    assert there["machine"] == "Linux aarch64" and there["passed"]
    assert sorted(a["artifact"] for a in there["artifacts"]) == sorted(ON_DEVICE)
    for a, b in zip(here["artifacts"], there["artifacts"]):
        assert a["artifact"] == b["artifact"] and b["passed"]
        if "int8" not in a["artifact"]:  # float activations give the same answers; int8 kernels may round otherwise
            assert b["agreement"] == a["agreement"]


def test_runtime_doctests_pass_on_arm64():
    repo = SCRIPT.parents[1]
    proc = emulated("-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules", "edgecls/runtime",
                    cwd=repo)
    assert proc.returncode == 0, proc.stdout[-2000:]
