import gzip
import urllib.error

import numpy as np
import pytest

from edgecls.errors import EdgeclsError
from edgecls.toolkit.data import load_dataset, stratified_split
from edgecls.toolkit.data.builtin import FASHION_CLASSES
from edgecls.toolkit.data.idx import read_idx, write_idx


def write_idx_folder(folder, sample, gz=True):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    write_idx(folder / f"train-images-idx3-ubyte{ext}", sample.x_train[..., 0])
    write_idx(folder / f"train-labels-idx1-ubyte{ext}", sample.y_train.astype(np.uint8))
    write_idx(folder / f"t10k-images-idx3-ubyte{ext}", sample.x_test[..., 0])
    write_idx(folder / f"t10k-labels-idx1-ubyte{ext}", sample.y_test.astype(np.uint8))
    return folder


def test_sample_dataset_is_balanced_real_fashion_mnist(sample):
    assert sample.class_names == FASHION_CLASSES
    assert sample.image_shape == (28, 28, 1)
    assert len(sample.y_train) + len(sample.y_val) == 6000 and len(sample.y_test) == 1000
    assert np.bincount(sample.y_test).tolist() == [100] * 10
    assert np.bincount(np.concatenate([sample.y_train, sample.y_val])).tolist() == [600] * 10
    assert 50 < sample.x_train.mean() < 90  # real Fashion-MNIST pixels average about 73


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_folder_loading(tmp_path, sample, gz):
    folder = write_idx_folder(tmp_path / "fashion", sample, gz=gz)
    ds = load_dataset(str(folder))
    assert ds.class_names == FASHION_CLASSES  # "fashion" in the folder name
    assert np.array_equal(ds.x_test, sample.x_test)
    assert len(ds.y_train) + len(ds.y_val) == len(sample.y_train)


def test_builtin_fashion_mnist_from_data_dir(tmp_path, sample):
    folder = write_idx_folder(tmp_path / "local", sample)
    ds = load_dataset("fashion-mnist", data_dir=str(folder))
    assert ds.name == "fashion-mnist" and len(ds.y_test) == len(sample.y_test)


def test_builtin_mnist_from_keras_cache_npz(tmp_path, monkeypatch, sample):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    (tmp_path / "datasets").mkdir()
    np.savez(tmp_path / "datasets" / "mnist.npz", x_train=sample.x_train[..., 0], y_train=sample.y_train,
             x_test=sample.x_test[..., 0], y_test=sample.y_test)
    ds = load_dataset("mnist")
    assert ds.class_names == [str(i) for i in range(10)] and len(ds.y_test) == 1000


def test_offline_download_gives_one_clear_message(tmp_path, monkeypatch):
    import keras

    def offline():
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(EdgeclsError, match=r"mnist is not available locally.*mnist.npz"):
        load_dataset("mnist")


def test_wrong_idx_magic(tmp_path):
    bad = tmp_path / "x.idx"
    bad.write_bytes(b"\x00\x00\x0d\x03" + b"\x00" * 20)
    with pytest.raises(EdgeclsError, match="not an unsigned-byte IDX"):
        read_idx(bad)


def test_truncated_idx(tmp_path):
    path = tmp_path / "x.idx.gz"
    write_idx(path, np.zeros((4, 3, 3), np.uint8))
    raw = gzip.decompress(path.read_bytes())[:-5]
    path.write_bytes(gzip.compress(raw))
    with pytest.raises(EdgeclsError, match="holds 31 bytes"):
        read_idx(path)


def test_mismatched_counts(tmp_path, sample):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=sample.x_train[:50], y_train=sample.y_train[:49], x_test=sample.x_test[:5],
             y_test=sample.y_test[:5])
    with pytest.raises(EdgeclsError, match="50 images but 49 labels"):
        load_dataset(str(path))


def test_class_without_samples(tmp_path, sample):
    path = tmp_path / "d.npz"
    keep = sample.y_train != 3
    np.savez(path, x_train=sample.x_train[keep], y_train=sample.y_train[keep], x_test=sample.x_test,
             y_test=sample.y_test, class_names=np.array(FASHION_CLASSES))
    with pytest.raises(EdgeclsError, match="class 'Dress' has no training samples"):
        load_dataset(str(path))


def test_missing_arrays_and_paths(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, x_train=np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(EdgeclsError, match="missing arrays y_train, x_test, y_test"):
        load_dataset(str(path))
    with pytest.raises(EdgeclsError, match="not found"):
        load_dataset(str(tmp_path / "nope"))
    with pytest.raises(EdgeclsError, match="no dataset here: expected the four IDX files"):
        load_dataset(str(tmp_path))


def test_split_is_deterministic_stratified_and_disjoint(sample):
    y = np.concatenate([sample.y_train, sample.y_val])
    a_keep, a_held = stratified_split(y, 0.2, seed=7)
    b_keep, b_held = stratified_split(y, 0.2, seed=7)
    _, c_held = stratified_split(y, 0.2, seed=8)
    assert np.array_equal(a_held, b_held) and not np.array_equal(a_held, c_held)
    assert not set(a_keep) & set(a_held) and len(a_keep) + len(a_held) == len(y)
    assert np.bincount(y[a_held]).tolist() == [120] * 10


def test_val_split_never_touches_test(sample):
    ds = load_dataset("fashion-mnist-mini", val_split=0.2, seed=3)
    assert len(ds.y_val) == 1200 and np.array_equal(ds.x_test, sample.x_test)


def test_val_split_follows_the_seed(sample):
    """24: the validation split carved from train is a function of --seed (same seed, same split)."""
    a = load_dataset("fashion-mnist-mini", val_split=0.1, seed=3)
    b = load_dataset("fashion-mnist-mini", val_split=0.1, seed=3)
    c = load_dataset("fashion-mnist-mini", val_split=0.1, seed=4)
    assert np.array_equal(a.x_val, b.x_val) and not np.array_equal(a.x_val, c.x_val)
    assert a.split["seed"] == 3 and c.split["seed"] == 4
