#!/usr/bin/env bash
# Create .venv (Python 3.11) and install edgecls with its [cpu,train,dev] extras, once per
# pyproject.toml change. Sourced by quickstart.sh and test.sh. A package that owns the same module
# as one edgecls installs (the windowed OpenCV builds, onnxruntime-gpu) is removed first: two owners
# of cv2 or onnxruntime in one environment overwrite each other's files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="${PYTHON:-$(command -v python3.11 || command -v python3)}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "creating $VENV with $("$PY" --version)"
  "$PY" -m venv "$VENV"
fi
STAMP="$VENV/.edgecls-installed"
WANT="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "installing edgecls[cpu,train,dev] into $VENV (first time: a few minutes)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip uninstall -y -q opencv-python opencv-contrib-python opencv-contrib-python-headless \
    onnxruntime-gpu 2>/dev/null || true
  "$VENV/bin/python" -m pip install -q -e "$ROOT[cpu,train,dev]"
  echo "$WANT" > "$STAMP"
fi
export PATH="$VENV/bin:$PATH"
