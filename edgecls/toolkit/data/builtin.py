"""The built-in datasets: local copies first, then Keras' own download code.

Search order for each name: ``data_dir`` (``--data-dir``), Keras' cache
(``~/.keras/datasets``), system copies (Debian's ``dataset-fashion-mnist`` puts the real
files in ``/usr/share/datasets/fashion-mnist``), then ``keras.datasets.<name>.load_data()``.
Offline with no local copy, the error says which files to put where.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from edgecls import limits
from edgecls.errors import EdgeclsError, first_line
from edgecls.toolkit.data.idx import read_idx

FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
DIGIT_CLASSES = [str(i) for i in range(10)]
CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
SAMPLE = Path(__file__).with_name("sample") / "fashion_mnist_mini.npz"
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # apt-get install dataset-fashion-mnist

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def keras_cache() -> Path:
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """Return the four IDX files in ``folder`` (``.gz`` or plain), or None if any is missing."""
    found = {}
    for key, stem in IDX_FILES.items():
        for name in (stem + ".gz", stem, stem.replace("-idx", ".idx")):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    return found if len(found) == 4 else None


def load_idx_folder(folder: Path) -> Arrays:
    files = find_idx_files(folder)
    if files is None:
        missing = [s for k, s in IDX_FILES.items() if not any(folder.glob(s + "*"))]
        raise EdgeclsError(f"{folder}: missing IDX files {', '.join(missing)}")
    a = {key: read_idx(path) for key, path in files.items()}
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])


def load_npz(path: Path) -> tuple[Arrays, dict]:
    """Load ``x_train/y_train/x_test/y_test`` (and optional ``x_val/y_val``, ``class_names``)."""
    limits.check_zip(path, ".npz dataset")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise EdgeclsError(f"cannot read {path} as .npz: {first_line(exc)}") from exc
    missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in arrays]
    if missing:
        raise EdgeclsError(f"{path}: missing arrays {', '.join(missing)} (has {', '.join(arrays)})")
    extra = {}
    if "class_names" in arrays:
        extra["class_names"] = [c.decode("utf-8", "replace") if isinstance(c, bytes) else str(c)
                                for c in arrays["class_names"].reshape(-1).tolist()]
    if "x_val" in arrays and "y_val" in arrays:
        extra["val"] = (arrays["x_val"], arrays["y_val"])
    return ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])), extra


def _cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as f:
        d = pickle.load(f, encoding="bytes")
    x = np.asarray(d[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return x, np.asarray(d[b"labels"], dtype=np.int64)


def load_cifar_folder(folder: Path) -> Arrays:
    parts = [_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    x_train = np.concatenate([p[0] for p in parts])
    y_train = np.concatenate([p[1] for p in parts])
    return (x_train, y_train), _cifar_batch(folder / "test_batch")


def _download(name: str, hint: str) -> Arrays:
    """Keras' real download code; any failure becomes one clear line."""
    try:
        import keras

        module = {"mnist": keras.datasets.mnist, "fashion-mnist": keras.datasets.fashion_mnist,
                  "cifar10": keras.datasets.cifar10}[name]
        return module.load_data()
    except Exception as exc:  # URLError, HTTPError, socket errors, corrupt partial files
        raise EdgeclsError(
            f"{name} is not available locally and the download failed "
            f"({first_line(exc, 120)}); {hint}"
        ) from exc


def load_builtin(name: str, data_dir: str | os.PathLike | None = None) -> tuple[Arrays, list[str]]:
    """Return ``((x_train, y_train), (x_test, y_test)), class_names`` for a built-in name."""
    dirs = [Path(data_dir)] if data_dir else []
    cache = keras_cache()
    if name == "fashion-mnist":
        for folder in dirs + [cache / "fashion-mnist", DEBIAN_FASHION_MNIST]:
            if find_idx_files(folder):
                return load_idx_folder(folder), FASHION_CLASSES
        hint = (f"put {', '.join(stem + '.gz' for stem in IDX_FILES.values())} in the folder "
                f"{cache / 'fashion-mnist'} (or any folder, with --data-dir DIR), or on Debian "
                "`apt-get install dataset-fashion-mnist`")
        return _download(name, hint), FASHION_CLASSES
    if name == "mnist":
        for folder in dirs + [cache]:
            if (folder / "mnist.npz").is_file():
                return load_npz(folder / "mnist.npz")[0], DIGIT_CLASSES
            if find_idx_files(folder):
                return load_idx_folder(folder), DIGIT_CLASSES
        hint = (f"put mnist.npz, or {', '.join(stem + '.gz' for stem in IDX_FILES.values())}, in the folder "
                f"{cache} (or any folder, with --data-dir DIR)")
        return _download(name, hint), DIGIT_CLASSES
    if name == "cifar10":
        for folder in dirs + [cache]:
            for sub in (folder / "cifar-10-batches-py", folder):
                if (sub / "test_batch").is_file():
                    return load_cifar_folder(sub), CIFAR10_CLASSES
        hint = f"unpack cifar-10-python.tar.gz into {cache} (cifar-10-batches-py/) or pass --data-dir DIR"
        return _download(name, hint), CIFAR10_CLASSES
    raise KeyError(name)
