"""Run edgecls on an emulated arm64 device: Debian's arm64 Python, aarch64 wheels, qemu-user.

    python scripts/arm64.py -- -m edgecls.cli verify runs/quickstart/export

The first call builds the userland under ``$EDGECLS_ARM64_ROOT`` (default
``~/.cache/edgecls/arm64``), later calls reuse it: Debian bookworm's arm64 ``python3.11`` and
the C libraries it needs (``apt-get download``, unpacked with ``dpkg -x``; no X libraries, as
on Raspberry Pi OS Lite), and edgecls' base + ``cpu`` requirements as aarch64 wheels
(``pip install --target``). Python then runs under ``qemu-aarch64-static`` as a Cortex-A72
(the Raspberry Pi 4's core), with this checkout on its path. LiteRT and ONNX Runtime read
/proc/cpuinfo at start and crash on the host's x86 text, so the command runs in a private mount
namespace with an arm64 cpuinfo bound over it (``unshare -m``, root). Exits 77 (skip), saying
why, where qemu, apt or the mount cannot be had.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ROOT = Path(os.environ.get("EDGECLS_ARM64_ROOT", Path.home() / ".cache" / "edgecls" / "arm64"))
DEBS = ["python3.11-minimal", "libpython3.11-minimal", "libpython3.11-stdlib", "libc6", "libexpat1", "zlib1g",
        "libffi8", "libssl3", "libsqlite3-0", "libbz2-1.0", "liblzma5", "libuuid1", "libncursesw6", "libtinfo6",
        "libreadline8", "libgcc-s1", "libstdc++6", "libgomp1", "libcrypt1"]
EXTRA_WHEELS = ["pytest>=8,<9.3"]  # the runtime's doctests run there too
CORE = ("processor\t: {n}\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\n"
        "CPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n")  # Cortex-A72
SKIP = 77


def requirements() -> list[str]:
    """The base install and the ``cpu`` extra, as pyproject.toml pins them."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return project["dependencies"] + project["optional-dependencies"]["cpu"] + EXTRA_WHEELS


def _run(cmd: list[str], **kwargs) -> None:
    proc = subprocess.run(cmd, capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise SystemExit(f"arm64: {' '.join(cmd[:3])} ... failed: {proc.stderr.strip()[-400:]}")


def build(root: Path = ROOT) -> Path:
    """The userland at ``root``, built once per requirement set; returns its python."""
    stamp = hashlib.sha256("\n".join(DEBS + requirements()).encode()).hexdigest()
    python = root / "rootfs" / "usr" / "bin" / "python3.11"
    if (root / ".complete").is_file() and (root / ".complete").read_text() == stamp:
        return python
    shutil.rmtree(root, ignore_errors=True)
    lists, debs = root / "apt" / "lists", root / "debs"
    for folder in (lists / "partial", root / "apt" / "cache" / "archives" / "partial", debs):
        folder.mkdir(parents=True)
    apt = ["-o", "APT::Architecture=arm64", "-o", "APT::Architectures=arm64", "-o", f"Dir::State::Lists={lists}",
           "-o", f"Dir::Cache={root / 'apt' / 'cache'}", "-o", "Dir::State::status=/dev/null"]
    _run(["apt-get", *apt, "update", "-qq"])
    _run(["apt-get", *apt, "download", *DEBS], cwd=debs)
    for deb in sorted(debs.glob("*.deb")):
        _run(["dpkg", "-x", str(deb), str(root / "rootfs")])
    platforms = [arg for n in range(17, 29) for arg in ("--platform", f"manylinux_2_{n}_aarch64")]
    _run([sys.executable, "-m", "pip", "install", "-q", "--target", str(root / "site"), "--only-binary=:all:",
          "--python-version", "3.11", *platforms, "--platform", "manylinux2014_aarch64", *requirements()])
    (root / "cpuinfo").write_text("".join(CORE.format(n=n) for n in range(os.cpu_count() or 1)))
    (root / ".complete").write_text(stamp)
    return python


def command(args: list[str], root: Path = ROOT) -> list[str]:
    """``args`` for the emulated python, inside a mount namespace with the arm64 cpuinfo."""
    python = build(root)
    inner = (f'mount --bind "{root / "cpuinfo"}" /proc/cpuinfo && exec qemu-aarch64-static '
             f'-L "{root / "rootfs"}" "{python}" "$@"')
    return ["unshare", "-m", "sh", "-c", inner, "arm64", *args]


def environment(root: Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    return env | {"QEMU_CPU": "cortex-a72", "PYTHONPATH": f"{root / 'site'}:{REPO}", "PYTHONNOUSERSITE": "1"}


def unavailable() -> str | None:
    """Why this machine cannot emulate arm64 here (None when it can)."""
    for tool in ("qemu-aarch64-static", "apt-get", "dpkg", "unshare"):
        if not shutil.which(tool):
            return f"needs {tool} (apt-get install qemu-user-static)"
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount --bind /dev/null /proc/cpuinfo"],
                           capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot bind-mount over /proc/cpuinfo in a private namespace (needs root): {probe.stderr.strip()}"
    return None


def main(argv: list[str]) -> int:
    args = argv[argv.index("--") + 1:] if "--" in argv else argv
    reason = unavailable()
    if reason:
        print(f"arm64: skipped: {reason}", file=sys.stderr)
        return SKIP
    return subprocess.run(command(args), env=environment()).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
