"""Image-folder datasets, the split command, corrupt files, channels, keras.applications backbones."""

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edgecls.errors import EdgeclsError
from edgecls.toolkit.data import load_dataset
from edgecls.toolkit.data.split_folder import split_folder

CLASSES = ["Sneaker", "Sandal", "Bag"]


def write_folder(root: Path, sample, layout: str = "classes", per_class: int = 20, size: int = 40) -> Path:
    """Real Fashion-MNIST photos as JPEG/PNG files in one of the three layouts."""
    x = np.concatenate([sample.x_train, sample.x_val])
    y = np.concatenate([sample.y_train, sample.y_val])
    for name in CLASSES:
        c = sample.class_names.index(name)
        for n, i in enumerate(np.flatnonzero(y == c)[:per_class]):
            image = cv2.cvtColor(cv2.resize(x[i], (size, size)), cv2.COLOR_GRAY2BGR)
            label = name.lower()
            if layout == "flat":
                path = root / f"{label}{'.' if n % 2 else '_'}{n}.jpg"
            elif layout == "split":
                path = root / ("train" if n % 5 < 3 else "validation" if n % 5 == 3 else "test") / label / f"{n}.png"
            else:
                path = root / label / f"{n}.{'jpg' if n % 2 else 'png'}"
            path.parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(path), image)
    return root


def tree_digest(root: Path) -> dict:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["classes", "flat", "split"])
def test_each_layout(tmp_path, sample, layout):
    root = write_folder(tmp_path / "photos", sample, layout)
    ds = load_dataset(str(root), image_size=32)
    assert ds.class_names == ["bag", "sandal", "sneaker"]
    assert ds.image_shape == (32, 32, 3)
    total = len(ds.y_train) + len(ds.y_val) + len(ds.y_test)
    assert total == 60
    if layout == "split":  # the user's split is kept as given
        assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (36, 12, 12)
        assert ds.split["source"] == "given by the dataset"
    else:  # each class's exact share, by hand: 20% of 20 to test, 10% of the 16 left to val (1.6 rounded)
        assert np.bincount(ds.y_test).tolist() == [4] * 3 and np.bincount(ds.y_val).tolist() == [2] * 3


def test_hidden_files_and_symlink_loops_are_ignored(tmp_path, sample):
    root = write_folder(tmp_path / "photos", sample)
    (root / "bag" / ".DS_Store").write_bytes(b"junk")
    (root / "bag" / "loop").symlink_to(root / "bag", target_is_directory=True)
    ds = load_dataset(str(root), image_size=32)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 60 and not ds.skipped


def test_folder_is_decoded_once_into_a_memory_mapped_cache(tmp_path, sample, capfd):
    root = write_folder(tmp_path / "photos", sample, size=48)
    first = load_dataset(str(root), image_size=32)
    assert "decoding 60 images" in capfd.readouterr().err
    again = load_dataset(str(root), image_size=32)
    assert "decoding" not in capfd.readouterr().err  # the cache answered
    assert isinstance(again.x_train.base, np.memmap) and np.array_equal(first.x_test, again.x_test)
    assert first.split["cache"] == again.split["cache"]
    expected = cv2.resize(cv2.imread(str(root / "bag" / "0.png")), (32, 32), interpolation=cv2.INTER_AREA)
    assert any(np.array_equal(img, expected[..., ::-1]) for img in again.x_train)  # the pixels, RGB
    assert (again.source_sizes == 48).all() and len(again.source_sizes) == 60
    cv2.imwrite(str(root / "bag" / "0.png"), np.zeros((48, 48, 3), np.uint8))  # an edit invalidates it
    edited = load_dataset(str(root), image_size=32)
    assert "decoding 60 images" in capfd.readouterr().err and edited.split["cache"] != first.split["cache"]


def test_inspect_a_folder_reports_source_image_sizes(tmp_path, sample):
    root = write_folder(tmp_path / "photos", sample, size=40)
    cv2.imwrite(str(root / "bag" / "wide.jpg"), np.full((30, 90, 3), 128, np.uint8))
    out = tmp_path / "inspect"
    proc = run_cli("inspect", "--data", str(root), "--image-size", "32", "--out", str(out), "--no-tsne", check=True)
    info = json.loads((out / "inspect.json").read_text())
    assert info["source_sizes"]["files"] == 61 and info["source_sizes"]["distinct"] == 2
    assert info["source_sizes"]["most_common"][0] == {"height": 40, "width": 40, "files": 60}
    assert (out / "image_sizes.png").stat().st_size > 0
    assert "90x30 (1)" in proc.stdout


def test_corrupt_files_are_skipped_and_listed(tmp_path, sample):
    root = write_folder(tmp_path / "photos", sample)
    (root / "bag" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    good = (root / "sandal" / "1.jpg").read_bytes()
    (root / "sandal" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (root / "sneaker" / "empty.png").write_bytes(b"")
    out = tmp_path / "run"
    proc = run_cli("train", "--data", str(root), "--image-size", "32", "--epochs", "1", "--out", str(out), check=True)
    skipped = (out / "skipped.txt").read_text().split()
    assert any(s.endswith("broken.jpg") for s in skipped) and any(s.endswith("empty.png") for s in skipped)
    assert "warning: skipped" in proc.stderr and proc.stderr.count("warning: skipped") == 1


def test_class_without_readable_images(tmp_path, sample):
    root = write_folder(tmp_path / "photos", sample)
    (root / "empty-class").mkdir()
    (root / "empty-class" / "x.jpg").write_bytes(b"garbage")
    with pytest.raises(EdgeclsError, match="class folder 'empty-class' has no readable image"):
        load_dataset(str(root), image_size=32)


def test_channel_normalisation(tmp_path, sample):
    root = tmp_path / "mixed"
    for label, maker in (("gray", lambda im: im), ("rgba", lambda im: cv2.cvtColor(im, cv2.COLOR_GRAY2BGRA)),
                         ("rgb", lambda im: cv2.cvtColor(im, cv2.COLOR_GRAY2BGR))):
        (root / label).mkdir(parents=True)
        for i in range(6):
            cv2.imwrite(str(root / label / f"{i}.png"), maker(sample.x_test[i][..., 0]))
    rgb = load_dataset(str(root), image_size=28, channels=3)
    gray = load_dataset(str(root), image_size=28, channels=1)
    assert rgb.image_shape == (28, 28, 3) and gray.image_shape == (28, 28, 1)
    every = np.concatenate([gray.x_train, gray.x_val, gray.x_test])
    # every variant of the same picture decodes to the same gray pixels
    assert {bytes(img) for img in every} <= {bytes(im) for im in sample.x_test[:6]}


def test_split_command(tmp_path, sample):
    src = write_folder(tmp_path / "src", sample, "flat")
    before = tree_digest(src)
    proc = run_cli("data", "split", str(src), str(tmp_path / "a"), check=True)
    run_cli("data", "split", str(src), str(tmp_path / "b"), check=True)
    assert tree_digest(src) == before  # never touches the source
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")  # deterministic
    for part, n in (("train", 13), ("val", 3), ("test", 4)):  # 16:4:5 of 20 per class
        for label in ("bag", "sandal", "sneaker"):
            assert len(list((tmp_path / "a" / part / label).iterdir())) == n, (part, label)
    assert "train:     39 images" in proc.stdout
    counts = split_folder(src, tmp_path / "c", seed=1, mode="copy")
    assert tree_digest(tmp_path / "c") != tree_digest(tmp_path / "a")
    assert sum(sum(c.values()) for c in counts.values()) == 60
    bad = run_cli("data", "split", str(src), str(tmp_path / "a"))
    assert bad.returncode == 2 and "not an empty folder" in bad.stderr


# One backbone per way edgecls builds them (tf scaling; tf with MobileNetV3's own preprocessing off; Keras' builtin
# scaling cut off and folded; caffe BGR mean): mobilenet_v3_large and resnet50 take the paths of mobilenet_v3_small
# and vgg16 at 70 s more CI time; benchmarks/int8_repair.py trains and exports all six.
@pytest.mark.parametrize("name", ["mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0", "vgg16"])
def test_every_backbone_builds_and_exports_to_int8(tmp_path, name):
    """The exporter's own build step (not a copy of it) on each backbone; Keras' predictions are the oracle."""
    from edgecls.export import ARTIFACTS, build
    from edgecls.export.exporter import Job
    from edgecls.runtime import Classifier
    from edgecls.toolkit.data.dataset import build_dataset
    from edgecls.toolkit.models import build_model
    from edgecls.toolkit.rundir import ModelSource

    model = build_model(name, (32, 32, 3), 3)
    x = np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    y = np.arange(8) % 3
    reference = np.asarray(model.predict(x, verbose=0))
    ds = build_dataset("random", ["a", "b", "c"], (x, y), (x, y), val=(x, y))
    job = Job(ModelSource(tmp_path / "m.keras", ds.class_names, "random", {}, None), model, ds, x, reference,
              {"dataset": "random"})
    rows = build(job, [ARTIFACTS["tflite-int8"], ARTIFACTS["onnx-int8"]], tmp_path)
    for row in rows:
        probs = Classifier(tmp_path / row["artifact"]).predict(x)
        assert probs.shape == (8, 3) and np.abs(probs - reference).max() < 0.2, row["artifact"]
    assert preprocessed_levels(tmp_path / "model_int8.tflite") >= 255  # Keras' Rescaling (mul + add) kept 171


def preprocessed_levels(path) -> int:
    """Distinct int8 values out of the in-model preprocessing when the input holds all 256 pixel values."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(model_path=str(path), experimental_preserve_all_tensors=True,
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    inp = interpreter.get_input_details()[0]
    ramp = np.arange(np.prod(inp["shape"])) % 256  # every value in every channel (3 and 256 are coprime)
    interpreter.set_tensor(inp["index"], ramp.reshape(inp["shape"]).astype(inp["dtype"]))
    interpreter.invoke()
    out = [t for t in interpreter.get_tensor_details()
           if "backbone_preprocess" in t["name"] and tuple(t["shape"]) == tuple(inp["shape"])][-1]
    return len(np.unique(interpreter.get_tensor(out["index"])))


def test_offline_imagenet_weights_message(tmp_path, monkeypatch):
    import urllib.request

    from edgecls.toolkit.models import build_model

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(EdgeclsError, match=r"cannot get ImageNet weights for mobilenet_v2.*~/.keras/models/.*--weights PATH"):
        build_model("mobilenet_v2", (96, 96, 3), 2, weights="imagenet")


def test_transfer_learning_two_phases_and_export(tmp_path, sample):
    """--init from a trained model on a folder dataset: head first, then fine-tuning; exports to int8."""
    root = write_folder(tmp_path / "photos", sample, per_class=40, size=28)
    base = tmp_path / "base"
    run_cli("train", "--data", str(root), "--image-size", "28", "--channels", "1", "--epochs", "1",
            "--out", str(base), check=True)
    out = tmp_path / "ft"
    proc = run_cli("train", "--data", str(root), "--image-size", "28", "--channels", "1", "--init",
                   str(base / "model.keras"), "--epochs", "2", "--fine-tune-epochs", "1", "--out", str(out), check=True)
    assert "phase 1/2: head (backbone frozen)" in proc.stderr and "phase 2/2: fine-tune top 30 layers" in proc.stderr
    assert len((out / "history.csv").read_text().strip().splitlines()) == 1 + 3
    config = json.loads((out / "config.json").read_text())
    assert config["image_size"] == 28 and config["resize"] == "stretch"
    run_cli("export", str(out), "--unknown", "off", "--formats", "tflite-int8,onnx-int8", "--calib", "30", "--max-drop", "100",
            "--min-agreement", "0", "--max-class-drop", "100", check=True)
    assert (out / "export" / "model_int8.tflite").exists()


def test_evaluate_reproduces_a_folder_runs_own_split_and_decoding(tmp_path, sample):
    """Issue 22.2: a run trained with --seed 1 and crop decoding is evaluated on its own test split."""
    root = write_folder(tmp_path / "photos", sample, size=60)
    for name in ("sneaker", "sandal", "bag"):  # non-square photos, so crop and stretch differ
        for path in (root / name).iterdir():
            image = cv2.imread(str(path))
            cv2.imwrite(str(path), cv2.copyMakeBorder(image, 0, 0, 20, 20, cv2.BORDER_REFLECT))
    out = tmp_path / "run"
    run_cli("train", "--data", str(root), "--image-size", "32", "--resize", "crop", "--seed", "1", "--epochs", "2",
            "--out", str(out), check=True)
    run_cli("evaluate", str(out), check=True)
    trained, again = (json.loads(p.read_text()) for p in (out / "metrics.json", out / "eval-test" / "metrics.json"))
    assert again["samples"] == trained["samples"] and again["accuracy"] == trained["accuracy"]
    assert again["confusion_matrix"] == trained["confusion_matrix"]


@pytest.mark.parametrize("mode", ["crop", "pad"])
def test_resize_mode_goes_from_training_to_the_runtime(tmp_path, sample, mode):
    """24.2: a crop- and a pad-trained folder model on wide photos: the mode is in config.json, in the
    artifact's metadata and in the runtime, whose answers equal Keras' on pixels fitted that way."""
    import keras

    from edgecls.runtime import Classifier, read_metadata
    from edgecls.runtime.preprocess import to_model_input

    root = tmp_path / "wide"
    x = np.concatenate([sample.x_train, sample.x_val])
    y = np.concatenate([sample.y_train, sample.y_val])
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for n, i in enumerate(np.flatnonzero(y == sample.class_names.index(name))[:20]):
            cv2.imwrite(str(root / name / f"{n}.png"), cv2.resize(x[i], (56, 28)))  # twice as wide as tall
    run = tmp_path / "run"
    run_cli("train", "--data", str(root), "--image-size", "16", "--channels", "1", "--resize", mode, "--epochs", "1",
            "--out", str(run), check=True)
    assert json.loads((run / "config.json").read_text())["resize"] == mode
    run_cli("export", str(run), "--unknown", "off", "--formats", "tflite-fp32", "--min-agreement", "0", "--max-drop", "100",
            "--max-class-drop", "100", check=True)
    artifact = run / "export" / "model_fp32.tflite"
    assert read_metadata(artifact)["input"]["resize"] == mode
    clf = Classifier(artifact)
    assert clf.resize == mode
    frames = [cv2.imread(str(p)) for p in sorted(root.rglob("*.png"))[::7]]
    keras_model = keras.models.load_model(run / "model.keras", compile=False)
    fitted = np.stack([to_model_input(f, 16, 16, "GRAY", mode) for f in frames])  # as this test asked for it
    want = keras_model.predict(fitted, verbose=0)
    got = np.stack([clf.predict(clf.preprocess(f))[0] for f in frames])
    if clf.unknown is not None:  # its answers are Keras' at the export's temperature, beside the unknown class
        from edgecls.runtime.confidence import known_probabilities

        want = np.exp(np.log(want) / clf.unknown["temperature"])
        want, got = want / want.sum(axis=1, keepdims=True), known_probabilities(got)
    assert np.abs(got - want).max() < 1e-4


def test_efficientnet_from_a_weights_file_sees_the_imagenet_scale(tmp_path):
    """31.14: ImageNet weights loaded from a file get Keras' extra Rescaling(1/sqrt(stddev)) stem too, which
    Keras adds for weights="imagenet" only. Oracle by hand: the folded input map is (x / 255 - mean) / std."""
    import keras

    from edgecls.toolkit.applications import build_application

    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    source = keras.applications.EfficientNetB0(include_top=False, weights=None, input_shape=(32, 32, 3), pooling="avg")
    norm = next(layer for layer in source.layers if isinstance(layer, keras.layers.Normalization))
    state = norm.get_weights()  # mean, variance, count; ImageNet's file keeps the stddevs as the variance
    norm.set_weights([mean.reshape(state[0].shape), std.reshape(state[1].shape), *state[2:]])
    source.save_weights(tmp_path / "b0.weights.h5")
    model, _ = build_application("efficientnet_b0", (32, 32, 3), 2, weights=str(tmp_path / "b0.weights.h5"))
    kernel, bias = model.get_layer("backbone_preprocess").get_weights()
    pixels = np.array([0.0, 100.0, 255.0])
    for c in range(3):
        got = pixels * kernel[0, 0, c, c] + bias[c]
        np.testing.assert_allclose(got, (pixels / 255 - mean[c]) / std[c], rtol=1e-4, atol=1e-4)  # float32
