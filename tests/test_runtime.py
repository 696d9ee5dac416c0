import json
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edgecls.errors import EdgeclsError
from edgecls.runtime import Classifier
from edgecls.runtime.backends import dequantize_output, quantize_input
from edgecls.runtime.preprocess import to_model_input
from edgecls.runtime.runner import RunOptions, run_stream
from edgecls.runtime.sources import LatestFrame, list_images, open_source
from edgecls.toolkit.data.video import FRAME_H, FRAME_W, write_video

N_FRAMES = 60


@pytest.fixture(scope="module")
def video(tmp_path_factory, sample):
    return write_video(tmp_path_factory.mktemp("video") / "test.avi", sample.x_test[:N_FRAMES])


def test_runtime_never_imports_tensorflow(exported):
    code = (
        "import sys, numpy as np\n"
        "from edgecls.runtime import Classifier\n"
        f"for name in ('model_int8.tflite', 'model_int8.onnx'):\n"
        f"    clf = Classifier(r'{exported}/' + name)\n"
        "    clf.classify(np.zeros((480, 640, 3), np.uint8))\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'tf2onnx', 'jax', 'torch'))\n"
        "assert not heavy, heavy\n"
        "print('clean')\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "clean" in proc.stdout, proc.stderr


@pytest.mark.parametrize("shape", [(480, 640, 3), (480, 640, 4), (480, 640), (37, 53, 1), (28, 28, 3)])
def test_preprocess_any_frame(shape):
    frame = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for mode in ("stretch", "crop", "pad"):
        assert to_model_input(frame, 28, 28, "GRAY", mode).shape == (28, 28, 1)
        assert to_model_input(frame, 32, 24, "RGB", mode).shape == (32, 24, 3)


def test_preprocess_exact_pixels_and_colour_order(sample):
    image = sample.x_test[0]
    bgr = np.repeat(image, 3, axis=2)
    assert np.array_equal(to_model_input(bgr, 28, 28, "GRAY"), image)
    assert np.array_equal(to_model_input(image[..., 0], 28, 28, "GRAY"), image)
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 0] = 255  # pure blue in OpenCV's BGR
    assert to_model_input(bgr, 4, 4, "RGB")[0, 0].tolist() == [0, 0, 255]
    pad = to_model_input(np.full((10, 20, 3), 200, np.uint8), 20, 20, "RGB", "pad")
    assert pad[0, 0].tolist() == [0, 0, 0] and pad[10, 10].tolist() == [200, 200, 200]


def test_quantization_helpers():
    pixels = np.array([0, 1, 128, 255], np.uint8)
    assert quantize_input(pixels, np.int8, 1.0, -128).tolist() == [-128, -127, 0, 127]
    assert quantize_input(pixels, np.uint8, 1.0, 0).tolist() == [0, 1, 128, 255]
    assert quantize_input(pixels, np.uint8, 0.0, 0).tolist() == [0, 1, 128, 255]
    assert quantize_input(pixels, np.float32, 0.0, 0).dtype == np.float32
    assert dequantize_output(np.array([-128, 127], np.int8), 1 / 256, -128).tolist() == [0.0, 255 / 256]


def test_classify_and_batch(exported, sample, trained_run):
    """classify and classify_batch give Keras' own top 3 (labels and probabilities, at the export's temperature,
    beside the unknown class) on BGR frames."""
    import keras

    from edgecls.runtime.confidence import known_probabilities

    clf = Classifier(exported / "model_fp32.tflite", threads=1)
    frames = [np.repeat(img, 3, axis=2) for img in sample.x_test[:5]]
    single = [clf.classify(f, top_k=3) for f in frames]
    assert clf.classify_batch(frames, top_k=3) == single
    probs = keras.models.load_model(trained_run / "model.keras", compile=False).predict(sample.x_test[:5], verbose=0)
    calibrated = np.exp(np.log(probs) / clf.metadata["unknown"]["temperature"])
    calibrated /= calibrated.sum(axis=1, keepdims=True)
    full = clf.predict(sample.x_test[:5])
    assert np.allclose(known_probabilities(full), calibrated, atol=1e-5)
    labels = (trained_run / "labels.txt").read_text().splitlines() + ["unknown"]
    for got, p in zip(single, full):
        best = np.argsort(-p, kind="stable")[:3]
        assert [label for label, _ in got] == [labels[i] for i in best]
        assert [score for _, score in got] == pytest.approx(p[best].tolist(), abs=1e-5)
    assert clf.supports_batch


def test_run_on_video_matches_classifier_and_labels(exported, video, sample, trained_run, tmp_path):
    out = tmp_path / "pred.jsonl"
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--source", str(video), "--headless",
                   "--jsonl", str(out), "--top-k", "2", "--save", str(tmp_path / "annotated.mp4"),
                   "--summary-json", str(tmp_path / "summary.json"), check=True)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(N_FRAMES))
    assert all(len(r["top_k"]) == 2 and r["latency_ms"]["total"] > 0 for r in records)
    clf = Classifier(exported / "model_int8.tflite")
    expected = [clf.top_k(p, 1)[0][0] for p in clf.predict(sample.x_test[:N_FRAMES])]
    assert [r["top_k"][0][0] for r in records] == expected  # same pixels, same answers
    truth = [clf.labels[y] for y in sample.y_test[:N_FRAMES]]
    accuracy = np.mean([p == t for p, t in zip(expected, truth)])
    known = json.loads((trained_run / "metrics.json").read_text())["accuracy"]
    assert accuracy > known - 0.2
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["frames"] == N_FRAMES and summary["dropped"] == 0 and summary["end"] == "end of stream"
    lat = summary["latency_ms"]["total"]
    assert 0 < lat["p50"] <= lat["p95"] <= lat["p99"]
    assert "FPS" in proc.stderr and "inference" in proc.stderr  # the summary is not the result: stderr
    saved = cv2.VideoCapture(str(tmp_path / "annotated.mp4"))
    assert int(saved.get(cv2.CAP_PROP_FRAME_COUNT)) == N_FRAMES
    assert (int(saved.get(cv2.CAP_PROP_FRAME_WIDTH)), int(saved.get(cv2.CAP_PROP_FRAME_HEIGHT))) == (FRAME_W, FRAME_H)


def test_tflite_and_onnx_agree_on_frames(exported, video, tmp_path):
    results = {}
    for name in ("model_fp32.tflite", "model_fp32.onnx", "model_int8.tflite", "model_int8.onnx"):
        clf = Classifier(exported / name, resize="crop")
        out = tmp_path / f"{name}.jsonl"
        with open_source(str(video)) as src:
            run_stream(clf, src, RunOptions(headless=True, jsonl=str(out)))
        results[name] = [json.loads(line)["top_k"][0][0] for line in out.read_text().splitlines()]
    assert len(results["model_fp32.tflite"]) == N_FRAMES
    assert results["model_fp32.tflite"] == results["model_fp32.onnx"]
    same = np.mean([a == b for a, b in zip(results["model_int8.tflite"], results["model_int8.onnx"])])
    assert same >= 0.9


def test_folder_and_image_sources(tmp_path, sample, exported):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for i, sub in enumerate(["a.png", "b/c.jpg", "b/deep/d.bmp", ".hidden/e.png", "b/.f.png"]):
        cv2.imwrite(str(tmp_path / sub), sample.x_test[i])
    (tmp_path / "notes.txt").write_text("not an image")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == ["a.png", "b/c.jpg", "b/deep/d.bmp"]
    clf = Classifier(exported / "model_fp32.onnx")
    with open_source(str(tmp_path)) as src:
        summary = run_stream(clf, src, RunOptions(headless=True))
    assert summary["frames"] == 3
    proc = run_cli("run", str(exported / "model_fp32.tflite"), "--source", str(tmp_path / "a.png"),
                   "--jsonl", "-", "--headless", check=True)
    record = json.loads(proc.stdout.strip())
    assert record["source"].endswith("a.png") and record["top_k"][0][0] == clf.classify(sample.x_test[0])[0][0]


class FakeCapture:
    """A camera behind OpenCV's read()/release() interface, 200 frames per second."""

    def __init__(self, frames, fail_after=None):
        self.frames, self.i, self.fail_after = frames, 0, fail_after

    def read(self):
        time.sleep(0.005)
        if self.fail_after is not None and self.i >= self.fail_after:
            return False, None
        frame = self.frames[self.i % len(self.frames)].copy()
        frame[0, 0, 0] = self.i % 256  # frame number, to check we always get the newest
        self.i += 1
        return True, frame

    def release(self):
        pass


def test_live_source_drops_old_frames_and_serves_the_newest(sample):
    frames = [np.repeat(img, 3, axis=2) for img in sample.x_test[:4]]
    cap = FakeCapture(frames)
    src = LatestFrame("fake camera", lambda: cap)
    try:
        first = src.read()
        time.sleep(0.2)  # a slow consumer: ~40 frames arrive meanwhile
        newest = src.read()
        assert newest[0, 0, 0] >= first[0, 0, 0] + 20
        assert src.dropped >= 20
    finally:
        src.close()


def test_live_run_with_fake_camera(exported, sample):
    frames = [np.repeat(img, 3, axis=2) for img in sample.x_test[:4]]
    src = LatestFrame("fake camera", lambda: FakeCapture(frames))
    clf = Classifier(exported / "model_int8.tflite", threads=1)
    try:
        summary = run_stream(clf, src, RunOptions(headless=True, max_frames=30, smooth=5))
    finally:
        src.close()
    assert summary["frames"] == 30 and "error" not in summary


def test_stream_that_drops_midway_ends_with_an_error(exported, sample):
    frames = [np.repeat(img, 3, axis=2) for img in sample.x_test[:2]]
    opened = []

    def opener():
        opened.append(1)
        return FakeCapture(frames, fail_after=10 if len(opened) == 1 else 0)

    src = LatestFrame("rtsp://fake", opener, retries=2, backoff=0.01)
    clf = Classifier(exported / "model_int8.tflite", threads=1)
    try:
        summary = run_stream(clf, src, RunOptions(headless=True))
    finally:
        src.close()
    assert 1 <= summary["frames"] <= 10 and len(opened) == 3
    assert "stream dropped" in summary["error"]


def test_bad_inputs(tmp_path, exported):
    (tmp_path / "model.tflite").write_bytes(b"garbage" * 10)
    truncated = tmp_path / "trunc.tflite"
    truncated.write_bytes((exported / "model_int8.tflite").read_bytes()[:5000])
    truncated_onnx = tmp_path / "trunc.onnx"
    truncated_onnx.write_bytes((exported / "model_fp32.onnx").read_bytes()[:5000])
    (tmp_path / "video.mp4").write_bytes(b"\x00" * 1000)
    cases = [
        ([str(tmp_path / "model.tflite"), "--source", "x.mp4"], "neither a TFLite nor an ONNX model"),
        ([str(truncated), "--source", "x.mp4"], "trunc.tflite"),
        ([str(truncated_onnx), "--source", "x.mp4"], "trunc.onnx"),
        ([str(exported / "model_int8.tflite"), "--source", str(tmp_path / "video.mp4")], "cannot read video"),
        ([str(exported / "model_int8.tflite"), "--source", str(tmp_path / "missing.mp4")], "source not found"),
        ([str(exported / "model_int8.tflite"), "--source", "7"], "camera 7 will not open"),
        ([str(tmp_path / "missing.tflite"), "--source", "0"], "missing.tflite' does not exist"),
    ]
    for args, message in cases:
        proc = run_cli("run", *args, "--headless")
        assert proc.returncode != 0 and message in proc.stderr, (args, proc.stderr)
        assert "Traceback" not in proc.stderr


def test_model_whose_input_is_not_an_image(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 10])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])])
    path = tmp_path / "flat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(EdgeclsError, match="is not an image batch"):
        Classifier(path)


def test_model_without_metadata_needs_explicit_arguments(tmp_path, exported, sample):
    import onnx

    model = onnx.load(exported / "model_fp32.onnx")
    del model.metadata_props[:]
    onnx.save(model, tmp_path / "bare.onnx")
    clf = Classifier(tmp_path / "bare.onnx")
    assert clf.labels == [] and clf.classify(sample.x_test[0])[0][0].isdigit()
    clf = Classifier(tmp_path / "bare.onnx", labels=list("abcdefghijk"), input_size=(28, 28))  # 10 and unknown
    assert clf.classify(sample.x_test[0])[0][0] in "abcdefghijk"


def test_smooth_and_threshold_against_numpy(exported, video, tmp_path):
    """24.2: --smooth 3 answers the mean of the last 3 frames' probabilities (numpy is the oracle, fed the
    classifier's own per-frame probabilities) and --threshold names an unsure mean ``unknown``."""
    clf = Classifier(exported / "model_fp32.tflite", threads=1)
    out = tmp_path / "smooth.jsonl"
    with open_source(str(video)) as src:
        run_stream(clf, src, RunOptions(headless=True, smooth=3, threshold=0.6, max_frames=20, jsonl=str(out)))
    records = [json.loads(line) for line in out.read_text().splitlines()]
    capture = cv2.VideoCapture(str(video))
    probs = np.stack([clf.predict(clf.preprocess(capture.read()[1]))[0] for _ in range(20)])
    smoothed = [probs[max(0, i - 2) : i + 1].mean(axis=0) for i in range(20)]
    want = [["unknown" if s.max() < 0.6 else clf.labels[int(s.argmax())], s.max()] for s in smoothed]
    assert [r["top_k"][0][0] for r in records] == [label for label, _ in want]
    assert [r["top_k"][0][1] for r in records] == pytest.approx([score for _, score in want], abs=1e-5)
    assert any(s.argmax() != p.argmax() for s, p in zip(smoothed, probs))  # smoothing changed some answers
    assert 0 < sum(label == "unknown" for label, _ in want) < 20  # and the threshold some others
