"""Issues 15 and 21: what each install line brings, on the Pythons and machines devices ship.

pip itself is the oracle: ``pip install --dry-run --report`` resolves a line to the exact set of
packages it would install, without installing anything, for this machine or (binary wheels
only) for another Python and CPU. The README's install table is read, so the lines tested are
the lines users copy. Then the runtime runs for real on every other Python this machine has.
"""

from __future__ import annotations

import concurrent.futures
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from conftest import client_python, find_python, run_cli

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PYTHONS = ["3.10", "3.11", "3.12", "3.13"]
MACHINES = ["x86_64", "aarch64"]
CV2 = {"opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"}
ORT = {"onnxruntime", "onnxruntime-gpu"}


def readme_install_lines() -> dict[str, str]:
    """install line -> the ONNX Runtime column of the README's install table."""
    section = (REPO / "README.md").read_text().split("## Install", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| [^|]+ \| `(pip install [^`]+)` \| ([^|]+) \|$", section, re.M)
    return {line: runtime.strip() for line, runtime in rows}


def requirements(extras: list[str]) -> list[str]:
    """pyproject's requirement strings for the base install plus ``extras`` (self-references expanded)."""
    reqs, todo, seen = list(PROJECT["dependencies"]), list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for req in PROJECT["optional-dependencies"][extra]:
            inner = re.fullmatch(r"edgecls\[([\w,-]+)\]", req)
            todo += inner.group(1).split(",") if inner else []
            reqs += [] if inner else [req]
    return reqs


def resolve(reqs: list[str], python: str | None = None, machine: str | None = None) -> dict[str, str]:
    """What pip would install for ``reqs``: {name: version}, for this machine or binary wheels elsewhere."""
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet",
           "--report", "-", *reqs]
    if python:
        platforms = [f"manylinux_2_{n}_{machine}" for n in range(17, 29)] + [f"manylinux2014_{machine}"]
        cmd += ["--only-binary=:all:", "--python-version", python] + [a for p in platforms for a in ("--platform", p)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 and re.search(r"NewConnectionError|Temporary failure in name resolution|"
                                          r"Network is unreachable", proc.stderr):
        pytest.skip(f"the package index cannot be reached: {proc.stderr.strip()[-200:]}")
    assert proc.returncode == 0, f"{' '.join(reqs)} on {python} {machine}: {proc.stderr.strip()[-600:]}"
    report = json.loads(proc.stdout[proc.stdout.index("{"):])
    return {item["metadata"]["name"].lower(): item["metadata"]["version"] for item in report["install"]}


def test_readme_table_covers_every_runtime_extra():
    lines = readme_install_lines()
    extras = {e for line in lines for e in re.findall(r"edgecls\[([\w,-]+)\]", line) for e in e.split(",")}
    assert extras == {"cpu", "gpu", "train", "train-gpu"} and "pip install edgecls" in lines


def test_each_install_line_brings_one_opencv_and_at_most_one_onnxruntime():
    """The gpu lines never leave onnxruntime beside onnxruntime-gpu; every line's OpenCV is headless."""
    lines = readme_install_lines()
    jobs = {line: re.findall(r"edgecls\[([\w,-]+)\]", line) for line in lines}
    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        found = dict(zip(jobs, pool.map(lambda e: resolve(requirements(e[0].split(",") if e else [])),
                                        jobs.values())))
    for line, names in found.items():
        assert CV2 & set(names) == {"opencv-python-headless"}, (line, sorted(CV2 & set(names)))
        expected = set(re.findall(r"onnxruntime(?:-gpu)?", lines[line]))
        assert ORT & set(names) == expected, (line, sorted(ORT & set(names)))


def test_runtime_resolves_to_wheels_on_every_supported_python_and_cpu():
    """The base + cpu install, binary wheels only, for each Python the project declares, x86-64 and aarch64."""
    declared = PROJECT["requires-python"]
    assert declared == f">={PYTHONS[0]},<3.{int(PYTHONS[-1].split('.')[1]) + 1}", declared
    combos = [(python, machine) for python in PYTHONS for machine in MACHINES]
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        found = list(pool.map(lambda c: resolve(requirements(["cpu"]), *c), combos))
    for (python, machine), names in zip(combos, found):
        assert {"numpy", "ai-edge-litert", "onnxruntime", "opencv-python-headless", "click"} <= set(names), \
            (python, machine, names)


def test_code_needs_no_newer_python_than_declared():
    """vermin reads every module for syntax and library calls newer than the lowest declared Python."""
    proc = subprocess.run([str(Path(sys.executable).parent / "vermin"), "--no-tips", "--violations", f"-t={PYTHONS[0]}-",
                           "--eval-annotations", str(REPO / "edgecls")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-500:]


@pytest.mark.parametrize("version", [PYTHONS[0], PYTHONS[-1]])
def test_runtime_runs_on_the_lowest_and_highest_python(exported, version):
    """The runtime's requirements in a fresh environment of that Python, this checkout on its path:
    ``edgecls verify`` gives the very answers it gives here (3.11 runs everything else)."""
    interpreter = find_python(version)
    if interpreter is None:
        pytest.skip(f"no Python {version} on this machine (pyenv install {version})")
    python = client_python(*requirements(["cpu"]), python=interpreter)
    there = subprocess.run([str(python), "-m", "edgecls.cli", "verify", str(exported), "--json", "-"],
                           capture_output=True, text=True, env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
                           cwd=exported, timeout=600)
    assert there.returncode == 0, there.stderr[-2000:]
    here = json.loads(run_cli("verify", str(exported), "--json", "-", check=True).stdout)
    there = json.loads(there.stdout)
    assert there["python"].startswith(version) and there["passed"]
    for a, b in zip(here["artifacts"], there["artifacts"]):
        assert (a["artifact"], a["agreement"], a["accuracy"]) == (b["artifact"], b["agreement"], b["accuracy"])
