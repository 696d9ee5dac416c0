"""Agreement of a run's exported artifacts with its Keras model on a whole held-out image folder.

    python benchmarks/heldout_agreement.py RUN_DIR FOLDER [--json PATH]

The export's parity gate runs on the run's own test split; with a few hundred test images
one flipped answer moves agreement by 0.25 to 0.5 points. This checks the same artifacts
on every image of another folder (decoded with the run's image size, channels and resize
mode; none of its images may be in the run's data): accuracy of the Keras model, and each
artifact's accuracy and top-1 agreement with it, as in ``export/parity.json``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from edgecls import fileio  # noqa: E402
from edgecls.runtime.parity import compare  # noqa: E402
from edgecls.runtime import Classifier  # noqa: E402
from edgecls.toolkit.data import dataset_options, load_dataset  # noqa: E402
from edgecls.toolkit.evaluate import predict  # noqa: E402
from edgecls.toolkit.modelfile import load_model  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path)
    p.add_argument("folder")
    p.add_argument("--json", type=Path, help="also write the rows here")
    a = p.parse_args()
    config = fileio.read_json(a.run / "config.json")
    options = {k: v for k, v in dataset_options(config).items() if k in ("image_size", "channels", "resize")}
    ds = load_dataset(a.folder, **options)
    if ds.class_names != config["class_names"]:
        sys.exit(f"error: {a.folder} has classes {ds.class_names}, the run {config['class_names']}")
    x = np.concatenate([ds.x_train, ds.x_val, ds.x_test])  # every image: the split does not matter here
    y = np.concatenate([ds.y_train, ds.y_val, ds.y_test])
    reference = predict(load_model(a.run / "model.keras"), x, batch_size=64)
    print(f"{len(y)} images of {a.folder}; Keras model accuracy {(reference.argmax(1) == y).mean():.4f}")
    rows = []
    for path in sorted((a.run / "export").glob("model_*.*")):
        if path.suffix not in (".tflite", ".onnx"):
            continue
        row = {"artifact": path.name} | compare(reference, Classifier(path).predict(x), y, ds.class_names)
        flips = round((1 - row["agreement"]) * row["samples"])
        print(f"{path.name:22s} accuracy {row['accuracy']:.4f} ({row['accuracy_delta_points']:+.2f})  "
              f"agreement {row['agreement']:.4f} ({flips} flips)  max|dp| {row['max_abs_diff']:.2e}")
        rows.append(row)
    if a.json:
        fileio.write_json(a.json, {"run": str(a.run), "folder": a.folder, "images": int(len(y)), "artifacts": rows})


if __name__ == "__main__":
    main()
