"""Folder-loader throughput: decoded and resized 224x224 images per second, 2 workers vs 1.

    python benchmarks/loader_throughput.py [--images 600] [--size 320]

Makes a folder of real Fashion-MNIST photos as SIZE x SIZE JPEGs, then times
edgecls.toolkit.data.folder.decode_all with 1 and 2 worker threads (median of 3 runs each,
in this one process). Writes benchmarks/results/loader.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from edgecls.runtime.sources import list_images
from edgecls.toolkit.data.folder import decode_all

ROOT = Path(__file__).parents[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=600)
    p.add_argument("--size", type=int, default=320)
    a = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([sys.executable, str(ROOT / "scripts" / "make_photo_folder.py"), tmp, "--per-class",
                        str(a.images // 3), "--size", str(a.size)], check=True, capture_output=True)
        paths = list_images(Path(tmp))
        result = {"images": len(paths), "source_size": a.size, "target": 224}
        for workers in (1, 2):
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                decode_all(paths, 224, 224, "RGB", "stretch", workers=workers)
                times.append(time.perf_counter() - t0)
            result[f"images_per_s_{workers}_worker"] = len(paths) / statistics.median(times)
        result["speedup"] = result["images_per_s_2_worker"] / result["images_per_s_1_worker"]
    out = ROOT / "benchmarks" / "results" / "loader.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
