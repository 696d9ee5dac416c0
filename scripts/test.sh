#!/usr/bin/env bash
# Set up .venv and run the test suite (with the docstring examples as doctests), then the
# benchmark gates. Used by .ci/run.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup-venv.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=2
status=0
python -m pytest tests edgecls --doctest-modules -q "$@" || status=$?
[ "$status" -eq 5 ] && { echo "pytest collected no tests"; status=0; }
[ "$status" -ne 0 ] && exit "$status"
mkdir -p .benchmarks
python -m pytest benchmarks -q --benchmark-json=.benchmarks/latest.json "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no benchmarks collected"; status=0; }
exit "$status"
