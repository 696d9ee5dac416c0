"""Write a short video of real Fashion-MNIST test images (the quickstart's camera stand-in).

    python scripts/make_demo_video.py runs/quickstart/demo.avi [frames]
"""

import sys
from pathlib import Path

from edgecls.toolkit.data import load_dataset
from edgecls.toolkit.data.video import write_video

if __name__ == "__main__":
    path, frames = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 100
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds = load_dataset("fashion-mnist-mini")
    write_video(path, ds.x_test[:frames], fps=10)
    print(f"wrote {path}: {frames} frames of {ds.name} test images")
