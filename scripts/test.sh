#!/usr/bin/env bash
# Set up .venv and run the test suite (with the docstring examples as doctests), then the
# benchmark gates. Used by .ci/run.
set -uo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup-venv.sh || exit 1
export TF_CPP_MIN_LOG_LEVEL=2
# The README test leaves the quickstart run here; the benchmarks measure that model instead of training it again.
export EDGECLS_KEEP_QUICKSTART="$ROOT/.benchmarks/quickstart-run"
rm -rf "$EDGECLS_KEEP_QUICKSTART"
status=0
# Three workers, a test file each at a time (README blocks share one folder, in order), in the order
# tests/conftest.py gives (the longest files first, so the README's 12 minutes start at once): much
# of a test is one process starting or converting on one core, so three workers keep CI's 2 cores
# busier than two (20.5 min against 23.6 min for the whole suite, measured on this 2-core machine).
python -m pytest tests edgecls --doctest-modules -q --durations=25 -n "${EDGECLS_TEST_WORKERS:-3}" --dist loadfile \
  --no-loadscope-reorder "$@" \
  || status=$?
[ "$status" -eq 5 ] && { echo "pytest collected no tests"; status=0; }
[ "$status" -ne 0 ] && exit "$status"
mkdir -p .benchmarks
[ -d "$EDGECLS_KEEP_QUICKSTART/export" ] && export EDGECLS_BENCH_RUN="$EDGECLS_KEEP_QUICKSTART"
python -m pytest benchmarks -q --benchmark-json=.benchmarks/latest.json "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no benchmarks collected"; status=0; }
exit "$status"
