#!/usr/bin/env bash
# The whole story on the embedded sample dataset: set up, train, export (int8 included),
# benchmark, and run the classifier headless on a short video made from test images.
# QUICKSTART_RUN=DIR puts the run elsewhere (the README test uses a temporary folder).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
source scripts/setup-venv.sh
export TF_CPP_MIN_LOG_LEVEL=2
RUN="${QUICKSTART_RUN:-runs/quickstart}"
start=$(date +%s)
edgecls train --data fashion-mnist-mini --out "$RUN" --overwrite
edgecls export "$RUN" --int8
edgecls bench "$RUN" --seconds 1 --markdown "$RUN/bench.md" --json "$RUN/bench.json"   # prints its table
python scripts/make_demo_video.py "$RUN/demo.avi"
edgecls run "$RUN/export/model_int8.tflite" --source "$RUN/demo.avi" --headless \
  --jsonl "$RUN/predictions.jsonl" --save "$RUN/annotated.mp4"
echo "quickstart done in $(( $(date +%s) - start )) s: see $RUN/ (reports, export/, bench.md, annotated.mp4)"
