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
# Two workers, a test file each at a time (README blocks share one folder, in order): most tests
# wait on a subprocess, so two run in about 0.6 of the time of one on CI's 2 cores.
python -m pytest tests edgecls --doctest-modules -q --durations=25 -n "${EDGECLS_TEST_WORKERS:-2}" --dist loadfile "$@" \
  || status=$?
[ "$status" -eq 5 ] && { echo "pytest collected no tests"; status=0; }
[ "$status" -ne 0 ] && exit "$status"
mkdir -p .benchmarks
[ -d "$EDGECLS_KEEP_QUICKSTART/export" ] && export EDGECLS_BENCH_RUN="$EDGECLS_KEEP_QUICKSTART"
python -m pytest benchmarks -q --benchmark-json=.benchmarks/latest.json "$@"
status=$?
[ "$status" -eq 5 ] && { echo "no benchmarks collected"; status=0; }
exit "$status"
