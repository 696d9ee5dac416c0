"""Build the embedded sample dataset `fashion-mnist-mini` from the real Fashion-MNIST.

A class-balanced subset: 600 training and 100 test images per class, drawn with a fixed
seed from the real IDX files (Debian: `apt-get install dataset-fashion-mnist`).

    python scripts/make_sample_dataset.py /usr/share/datasets/fashion-mnist
"""

import sys
from pathlib import Path

import numpy as np

from edgecls.toolkit.data.builtin import FASHION_CLASSES, SAMPLE, load_idx_folder
from edgecls.toolkit.data.split import stratified_sample


def main(src: str) -> None:
    (x_train, y_train), (x_test, y_test) = load_idx_folder(Path(src))
    tr = stratified_sample(y_train, 6000, seed=2024)
    te = stratified_sample(y_test, 1000, seed=2024)
    np.savez_compressed(
        SAMPLE,
        x_train=x_train[tr], y_train=y_train[tr].astype(np.uint8),
        x_test=x_test[te], y_test=y_test[te].astype(np.uint8),
        class_names=np.array(FASHION_CLASSES),
    )
    print(f"wrote {SAMPLE} ({SAMPLE.stat().st_size / 1e6:.1f} MB): "
          f"train {np.bincount(y_train[tr]).tolist()}, test {np.bincount(y_test[te]).tolist()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist")
