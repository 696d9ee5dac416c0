#!/usr/bin/env bash
# The folder-dataset figures (issue 6), offline, end to end: a folder of real photos
# (Fashion-MNIST product photos as 96x96 JPEGs, scripts/make_photo_folder.py), a
# mobilenet_v2 trained from scratch (--weights none) at 224x224, exported with int8 and
# verified, then run on the photos with the runtime; last, the artifacts' agreement on 800 more
# photos that the run never saw (benchmarks/heldout_agreement.py).
#
#     bash benchmarks/folder_mobilenet_v2.sh [RUN_DIR]      # needs the [train] extra
set -euo pipefail
RUN=${1:-runs/photos-mobilenet_v2}
PHOTOS=${RUN}-photos
HELDOUT=${RUN}-heldout
rm -rf "$PHOTOS" "$HELDOUT"
python scripts/make_photo_folder.py "$PHOTOS" --classes Sneaker,Sandal,Bag,Trouser --per-class 500 --size 96
time edgecls train --data "$PHOTOS" --model mobilenet_v2 --weights none --image-size 224 --epochs 10 --batch-size 32 --lr 1e-3 \
    --out "$RUN" --overwrite
time edgecls export "$RUN" --int8 || echo "int8 parity gate failed (exit $?): see $RUN/export/parity.json"
edgecls run "$RUN/export/model_int8.tflite" --source "$PHOTOS/bag" --headless --threads 1 \
    --summary-json "$RUN/run-summary.json" | tail -n 6
python scripts/make_photo_folder.py "$HELDOUT" --classes Sneaker,Sandal,Bag,Trouser --per-class 200 --start 500 --size 96
python benchmarks/heldout_agreement.py "$RUN" "$HELDOUT" --json benchmarks/results/folder_mobilenet_v2_heldout.json
