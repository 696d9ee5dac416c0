"""Benchmark fixtures: the embedded-sample model, trained and exported once per session.

Set EDGECLS_BENCH_RUN to an existing run directory (with export/) to benchmark that instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
FULL_MODEL = Path(__file__).parent / "models" / "fashion-mnist-edge-cnn"


def cli(*args: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "edgecls.cli", *args], capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise AssertionError(f"edgecls {' '.join(args)} failed:\n{proc.stderr[-3000:]}")


@pytest.fixture(scope="session")
def sample_run(tmp_path_factory) -> Path:
    if os.environ.get("EDGECLS_BENCH_RUN"):
        return Path(os.environ["EDGECLS_BENCH_RUN"])
    run = tmp_path_factory.mktemp("bench") / "sample"
    cli("train", "--data", "fashion-mnist-mini", "--out", str(run))
    cli("export", str(run), "--int8")
    return run
