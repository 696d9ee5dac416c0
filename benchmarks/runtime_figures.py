"""The runtime's figures (issue 4): cold start, install size, per-frame cost, memory over 100k frames.

    python benchmarks/runtime_figures.py runs/quickstart/export/model_int8.tflite [--frames 100000]

Writes benchmarks/results/runtime.json and prints it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

from edgecls.runtime.sources import Source

RESULTS = Path(__file__).parent / "results"
COLD = """
import time
t0 = time.perf_counter()
import numpy as np
from edgecls.runtime import Classifier
clf = Classifier({path!r})
clf.classify(np.zeros((480, 640, 3), np.uint8))
print(time.perf_counter() - t0)
"""


def cold_start(model: str, runs: int = 7) -> dict:
    """import edgecls.runtime + load + first classification, in fresh processes (median)."""
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD.format(path=model)], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return {"median_s": statistics.median(times), "runs_s": times}


def _closure(names: list[str]) -> set[str]:
    """Installed distributions ``names`` need, transitively (extras ignored)."""
    seen, todo = set(), [n.lower() for n in names]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            if name in names:  # a root not installed would shrink the figure silently
                raise
            continue
        seen.add(name)
        for req in dist.requires or []:
            if "extra ==" in req:
                continue
            dep = req.split(";")[0].split("[")[0].split("(")[0]
            for sep in "<>=!~ ":
                dep = dep.split(sep)[0]
            todo.append(dep.strip().lower().replace("_", "-"))
    return seen


def _size(dists: set[str]) -> int:
    total = 0
    for name in dists:
        for f in metadata.distribution(name).files or []:
            p = Path(f.locate())
            if p.is_file():
                total += p.stat().st_size
    return total


def install_sizes() -> dict:
    runtime = _closure(["numpy", "opencv-python-headless", "ai-edge-litert", "onnxruntime", "click"])
    tensorflow = _closure(["tensorflow"])
    return {"runtime_mb": _size(runtime) / 1e6, "tensorflow_mb": _size(tensorflow) / 1e6,
            "runtime_packages": sorted(runtime), "ratio": _size(runtime) / _size(tensorflow)}


class CycledFrames(Source):
    """An endless source of 640x480 frames (cycled from real test images), recording RSS."""

    name, fps = "640x480 frames", 30.0

    def __init__(self, frames, total, marks):
        self.frames, self.total, self.i, self.marks, self.rss = frames, total, 0, marks, {}

    def read(self):
        if self.i in self.marks:
            self.rss[self.i] = int(Path("/proc/self/statm").read_text().split()[1]) * 4096 / 1e6
        if self.i >= self.total:
            return None
        self.i += 1
        return self.frames[self.i % len(self.frames)]


def _frames_640x480(count: int) -> list[np.ndarray]:
    """640x480 BGR frames, each a real Fashion-MNIST test image in the centre of a noisy frame."""
    import cv2

    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.data.video import frame_from

    ds = load_dataset("fashion-mnist-mini")
    rng = np.random.default_rng(0)
    return [cv2.resize(frame_from(img, rng), (640, 480)) for img in ds.x_test[:count]]


def per_frame_on_video(model: str, frames: int = 1000) -> dict:
    """Per-frame latency, 1 thread, on a real 640x480 video file decoded by OpenCV (MJPG)."""
    import cv2

    from edgecls.runtime import Classifier
    from edgecls.runtime.runner import RunOptions, run_stream
    from edgecls.runtime.sources import open_source

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "video_640x480.avi")
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 480))
        images = _frames_640x480(100)
        for i in range(frames):
            writer.write(images[i % len(images)])
        writer.release()
        clf = Classifier(model, threads=1, resize="crop")
        with open_source(path) as src:
            summary = run_stream(clf, src, RunOptions(headless=True))
    lat = summary["latency_ms"]
    pre_post = lat["preprocess"]["p50"] + lat["postprocess"]["p50"]
    return {"frames": summary["frames"], "fps": summary["fps"], "latency_ms": lat,
            "pre_plus_post_over_inference": pre_post / lat["inference"]["p50"]}


def memory_over_frames(model: str, frames_total: int) -> dict:
    """RSS after 1 000 and after ``frames_total`` frames (cycled from memory, as fast as possible)."""
    from edgecls.runtime import Classifier
    from edgecls.runtime.runner import RunOptions, run_stream

    clf = Classifier(model, threads=1, resize="crop")
    src = CycledFrames(_frames_640x480(50), frames_total, {1000, frames_total})
    summary = run_stream(clf, src, RunOptions(headless=True))
    return {"frames": summary["frames"], "fps_from_memory": summary["fps"],
            "rss_mb_after_1000": src.rss.get(1000), f"rss_mb_after_{frames_total}": src.rss.get(frames_total),
            "rss_growth": src.rss.get(frames_total) / src.rss.get(1000) - 1}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("model")
    parser.add_argument("--frames", type=int, default=100_000)
    args = parser.parse_args()
    result = {"model": args.model, "cold_start": cold_start(args.model), "install": install_sizes(),
              "video_640x480": per_frame_on_video(args.model),
              "memory": memory_over_frames(args.model, args.frames)}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runtime.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items()}, indent=2)[:3000])


if __name__ == "__main__":
    main()
