"""Issue 23: honest numbers from training. Oracles: scikit-learn, Pillow, strict JSON, set arithmetic."""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli, tiny_npz
from edgecls.errors import EdgeclsError
from edgecls.toolkit.data import load_dataset


def strict_json(path: Path):
    def refuse(name):
        raise ValueError(f"{path} holds {name}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


def photos(root: Path, sample, classes=(7, 8, 5), per_class=12, prefix="") -> Path:
    for c in classes:
        folder = root / prefix / sample.class_names[c].lower()
        folder.mkdir(parents=True, exist_ok=True)
        for n, i in enumerate(np.flatnonzero(sample.y_test == c)[:per_class]):
            cv2.imwrite(str(folder / f"{n}.png"), sample.x_test[i])
    return root


def test_train_val_without_test_gets_a_carved_test_split(tmp_path, sample):
    """23.1: `data split --ratios 0.8,0.2,0` output trains and reports on real test images, in strict JSON."""
    src = photos(tmp_path / "src", sample, per_class=20)
    run_cli("data", "split", str(src), str(tmp_path / "split"), "--ratios", "0.8,0.2,0", check=True)
    assert not (tmp_path / "split" / "test").exists()
    out = tmp_path / "run"
    proc = run_cli("train", "--data", str(tmp_path / "split"), "--image-size", "28", "--channels", "1",
                   "--epochs", "1", "--out", str(out), check=True)
    assert "test images carved from train/" in proc.stderr
    metrics = strict_json(out / "metrics.json")
    assert metrics["samples"] > 0 and "on 0 images" not in proc.stdout
    strict_json(out / "config.json")


def test_split_folders_under_other_names_are_not_classes(tmp_path, sample):
    """23.2: Training/ + Testing/ is a split layout; train/ + test1/ (dogs vs cats) is refused, not 2 classes."""
    root = photos(tmp_path / "kaggle", sample, prefix="Training")
    photos(root, sample, prefix="Testing", per_class=4)
    ds = load_dataset(str(root), image_size=28, channels=1)
    assert ds.class_names == ["bag", "sandal", "sneaker"] and len(ds.y_test) == 12
    odd = photos(tmp_path / "odd", sample, prefix="train")
    photos(odd, sample, prefix="test1", per_class=3)
    with pytest.raises(EdgeclsError, match="looks like split folders"):
        load_dataset(str(odd), image_size=28, channels=1)


def test_exif_orientation_is_applied(tmp_path):
    """23.3: a phone photo stored 40x20 with Orientation=6 loads upright, as Pillow shows it."""
    from PIL import Image, ImageOps

    from edgecls.runtime.sources import load_image

    image = np.zeros((20, 40, 3), np.uint8)
    image[:, :10] = 255
    jpg = cv2.imencode(".jpg", image)[1].tobytes()
    ifd = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">HHHIHHI", 1, 0x0112, 3, 1, 6, 0, 0)
    app1 = b"Exif\x00\x00" + ifd
    path = tmp_path / "phone.jpg"
    path.write_bytes(jpg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpg[2:])
    width, height = ImageOps.exif_transpose(Image.open(path)).size
    assert load_image(path).shape[:2] == (height, width) == (40, 20)


def test_adding_files_never_moves_the_others(tmp_path, sample):
    """23.4 and 31.13: with the earlier split's record (what a run keeps in split.csv), 10 new files in one class
    leave every old file where it was, and the class still gets its share of test files (14 of 70, by hand)."""
    from edgecls.toolkit.data.folder import _plan, scan_folder

    root = photos(tmp_path / "grow", sample, per_class=60)

    def membership(earlier):
        splits, _ = scan_folder(root)
        names = sorted({label for items in splits.values() for _, label in items})
        plan, _ = _plan(splits, {n: i for i, n in enumerate(names)}, root, 0.1, 0.2, 0, earlier)
        return {p.relative_to(root).as_posix(): part for part, items in plan.items() for p, _ in items}

    before = membership({})
    for n in range(10):
        cv2.imwrite(str(root / "bag" / f"new{n}.png"), sample.x_train[n])
    after = membership(before)
    assert all(after[p] == part for p, part in before.items())
    assert sum(1 for p, v in after.items() if v == "test" and p.startswith("bag/")) == 14


def test_macro_average_counts_only_classes_present_like_scikit_learn():
    """23.5: perfect predictions on a split missing one class of three score 1.0, not 0.667."""
    from sklearn.metrics import precision_recall_fscore_support

    from edgecls.toolkit.metrics import classification_report

    rng = np.random.default_rng(0)
    y = rng.choice([0, 1, 3], 200, p=[0.7, 0.2, 0.1])  # class 2 absent, imbalanced
    pred = np.where(rng.random(200) < 0.8, y, rng.choice([0, 1, 3], 200))
    report = classification_report(y, np.eye(4)[pred], ["a", "b", "c", "d"])
    for average in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(y, pred, average=average, zero_division=0)
        got = report[f"{average}_avg"]
        assert (got["precision"], got["recall"], got["f1"]) == pytest.approx((p, r, f))
    assert report["absent_classes"] == ["c"] and report["per_class"]["c"]["f1"] is None
    perfect = classification_report(y, np.eye(4)[y], ["a", "b", "c", "d"])
    assert perfect["macro_avg"]["f1"] == 1.0
    with pytest.raises(EdgeclsError, match="empty"):
        classification_report(np.array([], int), np.zeros((0, 4)), ["a", "b", "c", "d"])


def test_cache_sees_new_content_under_the_same_size_and_date(tmp_path, sample):
    """23.6: a file replaced by same-size content with its old mtime (cp -p, rsync -a) is decoded afresh."""
    root = photos(tmp_path / "photos", sample, per_class=6)
    png = root / "bag" / "0.png"
    original = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    png.unlink()
    bmp = root / "bag" / "0.bmp"  # BMP: the same size for the same dimensions, whatever the pixels
    cv2.imwrite(str(bmp), original)
    before = load_dataset(str(root), image_size=28, channels=1)
    stat = bmp.stat()
    cv2.imwrite(str(bmp), 255 - original)
    os.utime(bmp, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert bmp.stat().st_size == stat.st_size and bmp.stat().st_mtime_ns == stat.st_mtime_ns
    after = load_dataset(str(root), image_size=28, channels=1)

    def holds(ds, image):
        return any(np.array_equal(x[..., 0], image) for x in np.concatenate([ds.x_train, ds.x_val, ds.x_test]))

    assert holds(before, original) and holds(after, 255 - original) and not holds(after, original)


def test_init_refuses_the_same_classes_in_another_order(tmp_path, trained_run, sample):
    """23.8: fine-tuning onto a dataset whose class order differs from the model's is refused."""
    data = tiny_npz(tmp_path / "perm.npz", sample)
    with np.load(data) as z:
        arrays = dict(z)
    names = list(arrays["class_names"])
    arrays["class_names"] = np.array(names[1:] + names[:1])
    np.savez(data, **arrays)
    proc = run_cli("train", "--data", str(data), "--init", str(trained_run / "model.keras"), "--epochs", "1",
                   "--out", str(tmp_path / "ft"))
    assert proc.returncode == 2 and "another order" in proc.stderr, proc.stderr


def test_npz_class_names_stored_as_bytes(tmp_path, sample):
    """23.9: b'cat' is the class cat, not the label "b'cat'"."""
    path = tmp_path / "bytes.npz"
    np.savez(path, x_train=sample.x_train[:40, ..., 0], y_train=np.arange(40) % 2, x_test=sample.x_test[:10, ..., 0],
             y_test=np.arange(10) % 2, class_names=np.array([b"cat", b"dog"]))
    assert load_dataset(str(path)).class_names == ["cat", "dog"]


def test_bench_limit_samples_every_class(trained_run, exported):
    """23.7: --limit takes a class-stratified sample, not the first N (a folder's test set is sorted by class)."""
    proc = run_cli("bench", str(trained_run), "--limit", "100", "--iterations", "5", "--seconds", "0.05",
                   "--artifact", str(exported / "model_int8.tflite"), "--json", "-", check=True)
    result = json.loads(proc.stdout)
    assert result["samples"] == 100 and result["class_counts"] == [10] * 10


def test_init_from_a_run_split_with_another_seed_warns(tmp_path, trained_run, sample):
    """23.4: --init from a run that split the same data with another seed says its test set is not honest."""
    from edgecls.toolkit.train import TrainConfig, init_overlap

    init = str(trained_run / "model.keras")
    assert init_overlap(init, TrainConfig(data="fashion-mnist-mini", seed=0), sample) is None
    warning, is_warning = init_overlap(init, TrainConfig(data="fashion-mnist-mini", split_seed=5), sample)
    assert "--split-seed 0" in warning and is_warning
