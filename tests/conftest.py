"""Shared fixtures: one short real training run on the embedded Fashion-MNIST sample and
one real export of it, reused by every test that needs a trained model or artifacts."""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

collect_ignore_glob = ["clients/*"]  # scripts run inside other environments (MediaPipe), never imported here

SAMPLE_EPOCHS = 4
# The files that take longest start first (pytest-xdist hands whole files to workers in collection order):
# the README's blocks alone run about 12 minutes in order, and started last they would set the suite's time.
LONGEST_FIRST = ("test_readme.py", "test_train.py", "test_folders.py", "test_contract.py", "test_trust.py",
                 "test_edges.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file keeps its own order


@pytest.fixture(scope="session", autouse=True)
def folder_cache(tmp_path_factory) -> Path:
    """Decoded image folders go to a temporary cache, never the user's ~/.cache."""
    path = tmp_path_factory.mktemp("edgecls-cache")
    os.environ["EDGECLS_CACHE"] = str(path)
    return path


def run_cli(*args: str, check: bool = False, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess:
    """Run ``edgecls ARGS`` as a user would, in a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "edgecls.cli", *args], capture_output=True, text=True,
                          timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise AssertionError(f"edgecls {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def sample():
    from edgecls.toolkit.data import load_dataset

    return load_dataset("fashion-mnist-mini")


def made_once(tmp_path_factory, name: str, make) -> Path:
    """``make(path)`` once per test session, by whichever pytest-xdist worker asks first; the others wait for
    it and share the result (a trained run costs a minute a worker). Tests treat it as read-only: copy it to
    change it."""
    root = tmp_path_factory.getbasetemp()
    root = (root.parent if os.environ.get("PYTEST_XDIST_WORKER") else root) / "made-once"
    root.mkdir(exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (root / f"{name}.done").is_file():
            shutil.rmtree(root / name, ignore_errors=True)
            make(root / name)
            (root / f"{name}.done").touch()
    return root / name


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory) -> Path:
    """A finished run directory: edge-cnn, a few epochs on fashion-mnist-mini."""
    return made_once(tmp_path_factory, "mini", lambda out: run_cli(
        "train", "--data", "fashion-mnist-mini", "--epochs", str(SAMPLE_EPOCHS), "--out", str(out), check=True))


EXPORTED_OPTIONS = ("--calib", "200", "--min-agreement", "0.9", "--max-class-drop", "100", "--max-drop", "5")


@pytest.fixture(scope="session")
def exported(tmp_path_factory, trained_run) -> Path:
    """All six artifacts of the trained run (gate loosened: a 4-epoch model is not the point here)."""
    made_once(tmp_path_factory, "mini-export", lambda _: run_cli("export", str(trained_run), "--int8",
                                                                  *EXPORTED_OPTIONS, check=True))
    return trained_run / "export"


def tiny_npz(path: Path, sample, classes: int = 10, per_class: int = 30, test_per_class: int = 10) -> Path:
    """A small real-image .npz (a slice of the sample dataset) for quick training runs."""
    def pick(x, y, n):
        idx = np.concatenate([np.flatnonzero(y == c)[:n] for c in range(classes)])
        return x[idx], y[idx]

    x_train, y_train = pick(np.concatenate([sample.x_train, sample.x_val]),
                            np.concatenate([sample.y_train, sample.y_val]), per_class)
    x_test, y_test = pick(sample.x_test, sample.y_test, test_per_class)
    np.savez(path, x_train=x_train[..., 0], y_train=y_train, x_test=x_test[..., 0], y_test=y_test,
             class_names=np.array(sample.class_names[:classes]))
    return path


def find_python(version: str) -> str | None:
    """An interpreter of Python ``version`` ("3.10") on this machine: on PATH, or one pyenv installed."""
    candidates = [shutil.which(f"python{version}")] + sorted(
        str(p) for p in Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob(
            f"versions/{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return candidate
    return None


def client_python(*requirements: str, python: str | None = None) -> Path:
    """The python of a cached virtual environment holding only ``requirements`` (a client library such as
    MediaPipe, which must not share the main environment; or edgecls' runtime requirements on another
    Python), made with ``python`` (default: this one), under ``$EDGECLS_TEST_VENVS`` (default
    ``~/.cache/edgecls/test-venvs``). Skips the calling test, with the reason, where it cannot be installed."""
    root = Path(os.environ.get("EDGECLS_TEST_VENVS", Path.home() / ".cache" / "edgecls" / "test-venvs"))
    name = requirements[0].replace("==", "-")
    if python or len(requirements) > 1:
        digest = hashlib.sha256("\n".join([str(python), *requirements]).encode()).hexdigest()[:12]
        name = f"{Path(python or sys.executable).name}-{digest}"
    env_dir = root / name
    env_python = env_dir / "bin" / "python"
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f"{name}.lock", "w") as lock:  # pytest-xdist workers may ask for the same one at once
        fcntl.flock(lock, fcntl.LOCK_EX)
        _make_venv(env_dir, requirements, python)
    return env_python


def _make_venv(env_dir: Path, requirements: tuple[str, ...], python: str | None) -> None:
    """Create ``env_dir`` holding ``requirements`` unless a complete one is there; skip the test where it fails."""
    env_python = env_dir / "bin" / "python"
    if not (env_dir / ".complete").is_file():
        shutil.rmtree(env_dir, ignore_errors=True)
        made = subprocess.run([python or sys.executable, "-m", "venv", str(env_dir)], capture_output=True, text=True)
        proc = made if made.returncode else subprocess.run(
            [str(env_python), "-m", "pip", "install", "-q", *requirements], capture_output=True, text=True, timeout=900)
        if proc.returncode != 0:
            pytest.skip(f"cannot install {' '.join(requirements)} into its own environment: {proc.stderr.strip()[-300:]}")
        (env_dir / ".complete").write_text("\n".join(requirements) + "\n")
