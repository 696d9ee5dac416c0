"""Training-pipeline throughput beside the train step's own rate (issue 17), in one run.

    python benchmarks/pipeline_throughput.py [--photos 600] [--json -]

Rows, each with ``stage``, ``image_size``, ``channels``, ``augment`` and ``images_per_s``:

- ``pipeline``: the batches ``edgecls train`` feeds ``model.fit``, read as Keras reads them
  (``BatchPlan.dataset``: gather from the memory-mapped decode cache, augment in uint8, the
  next batches made by worker threads meanwhile), for a folder of real photos decoded at
  224x224x3 (Fashion-MNIST product photos as 320x320 JPEGs) and for the Fashion-MNIST
  sample at 28x28x1, with each kind's default augmentation and with none;
- ``train step``: ``model.train_on_batch`` of mobilenet_v2 (224x224x3, batch 32) and edge-cnn
  (28x28x1, batch 128), compiled as ``edgecls train`` compiles them, on this machine.

A pipeline faster than the train step never makes training wait. Medians of 3 passes;
``benchmarks/results/pipeline_throughput.json`` keeps the last run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def pipeline_rate(ds, aug, workers: int, batch_size: int = 128, passes: int = 3) -> float:
    """Images per second that ``BatchPlan.dataset`` hands Keras, median of ``passes`` epochs."""
    from edgecls.toolkit.pipeline import make_batches

    plan = make_batches(ds.x_train, ds.y_train, ds.num_classes, batch_size, shuffle=True,
                        augment=aug if aug.active else None, seed=0, workers=workers)
    window = plan.dataset(0, passes + 1)
    for j in range(plan.steps):  # the first epoch warms the page cache and the noise table
        window[j]
    rates = []
    for epoch in range(1, passes + 1):
        t0 = time.perf_counter()
        for j in range(epoch * plan.steps, (epoch + 1) * plan.steps):
            window[j]
        rates.append(len(ds.x_train) / (time.perf_counter() - t0))
    return statistics.median(rates)


def train_step_rate(model_name: str, shape: tuple, batch_size: int, steps: int = 5) -> float:
    """Images per second of ``train_on_batch``, median of ``steps`` after two warm-up steps."""
    import keras

    from edgecls.toolkit.models import build_model
    from edgecls.toolkit.train import TrainConfig, _compile

    model = build_model(model_name, shape, 4)
    _compile(model, TrainConfig(), 100, 1)
    x = np.random.default_rng(0).integers(0, 256, (batch_size, *shape), dtype=np.uint8)
    y = keras.utils.to_categorical(np.arange(batch_size) % 4, 4)
    times = []
    for i in range(steps + 2):
        t0 = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t0)
    return batch_size / statistics.median(times[2:])


def photo_folder(dest: Path, photos: int):
    """Real photos decoded at 224x224x3 through edgecls' folder loader (memory-mapped cache)."""
    from edgecls.toolkit.data import load_dataset

    subprocess.run([sys.executable, str(ROOT / "scripts" / "make_photo_folder.py"), str(dest / "photos"),
                    "--classes", "Sneaker,Sandal,Bag", "--per-class", str(photos // 3), "--size", "320"],
                   check=True, capture_output=True)
    return load_dataset(str(dest / "photos"), image_size=224, channels=3)


def measure(photos: int) -> list[dict]:
    from edgecls.toolkit.augment import resolve
    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.pipeline import default_workers

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["EDGECLS_CACHE"] = tmp
        for ds in (photo_folder(Path(tmp), photos), load_dataset("fashion-mnist-mini")):
            size, _, channels = ds.image_shape
            for spec, workers in ((None, default_workers()), (None, 1), ("none", default_workers())):
                aug, kind = resolve(spec, ds.name, ds.class_names)
                rate = pipeline_rate(ds, aug, workers)
                rows.append({"stage": "pipeline", "image_size": size, "channels": channels, "augment": kind,
                             "spec": aug.describe(), "workers": workers, "images": len(ds.x_train),
                             "images_per_s": round(rate, 1)})
                print(f"pipeline {size}x{size}x{channels}, augment {kind} ({aug.describe()}), {workers} workers: "
                      f"{rate:.0f} images/s", file=sys.stderr)
    for model_name, shape, batch in (("mobilenet_v2", (224, 224, 3), 32), ("edge-cnn", (28, 28, 1), 128)):
        rate = train_step_rate(model_name, shape, batch)
        rows.append({"stage": "train step", "model": model_name, "image_size": shape[0], "channels": shape[2],
                     "augment": None, "batch_size": batch, "images_per_s": round(rate, 1)})
        print(f"train step {model_name} {shape}: {rate:.1f} images/s", file=sys.stderr)
    return rows


def markdown(rows: list[dict]) -> str:
    """The README's table of these rows."""
    lines = ["| what | input | augmentation | workers | images/s |", "|---|---|---|---:|---:|"]
    for r in rows:
        shape = f"{r['image_size']}x{r['image_size']}x{r['channels']}"
        if r["stage"] == "pipeline":
            lines.append(f"| batches for `model.fit` | {shape} | {r['augment']}: {r['spec']} | {r['workers']} | "
                         f"{r['images_per_s']:,.0f} |")
        else:
            lines.append(f"| train step, {r['model']}, batch {r['batch_size']} | {shape} | - | - | "
                         f"{r['images_per_s']:,.1f} |")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--photos", type=int, default=600, help="photos in the 224x224 folder (default 600)")
    p.add_argument("--json", help="also write the rows here; - for stdout")
    a = p.parse_args()
    rows = measure(a.photos)
    text = json.dumps(rows, indent=2) + "\n"
    out = ROOT / "benchmarks" / "results" / "pipeline_throughput.json"
    out.write_text(text)
    if a.json and a.json != "-":
        Path(a.json).write_text(text)
    print(markdown(rows), file=sys.stderr if a.json == "-" else sys.stdout)
    if a.json == "-":
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
