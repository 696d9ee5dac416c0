"""Issue 22: answers that were wrong while looking right. Each test fails on the old code."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from conftest import run_cli
from edgecls.errors import EdgeclsError
from edgecls.runtime import Classifier


def test_int8_input_maps_every_pixel_value_whatever_the_calibration(tmp_path, trained_run, sample):
    """22.1: calibrated on dim photos (brightest 149), both int8 inputs still take 0..255 unclipped."""
    import keras
    import onnx
    from ai_edge_litert.interpreter import Interpreter
    from onnx import numpy_helper

    dim = lambda x: (x.astype(np.float32) * 149 / 255).astype(np.uint8)  # noqa: E731
    data = tmp_path / "dim.npz"
    np.savez(data, x_train=dim(sample.x_train[..., 0]), y_train=sample.y_train, x_test=dim(sample.x_test[..., 0]),
             y_test=sample.y_test, class_names=np.array(sample.class_names))
    run_cli("export", str(trained_run), "--unknown", "off", "--data", str(data), "--formats", "tflite-int8,onnx-int8", "--calib", "100",
            "--out", str(tmp_path / "x"), "--min-agreement", "0", "--max-drop", "100", "--max-class-drop", "100",
            check=True)
    assert Interpreter(model_path=str(tmp_path / "x" / "model_int8.tflite")).get_input_details()[0]["quantization"] \
        == (1.0, 0)
    graph = onnx.load(tmp_path / "x" / "model_int8.onnx").graph
    consts = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    first = next(n for n in graph.node if n.op_type == "QuantizeLinear")
    assert float(consts[first.input[1]]) == 1.0 and int(consts[first.input[2]]) == -128
    white = np.full((1, 28, 28, 1), 255, np.uint8)  # far from every dim training photo: beyond the threshold
    run_cli("export", str(trained_run), "--unknown", "off", "--data", str(data), "--formats", "tflite-fp32", "--out", str(tmp_path / "f"),
            "--min-agreement", "0", "--max-drop", "100", "--max-class-drop", "100", check=True)
    float_probs = Classifier(tmp_path / "f" / "model_fp32.tflite").predict(white)[0]  # Keras' graph, in float
    for name in ("model_int8.tflite", "model_int8.onnx"):
        probs = Classifier(tmp_path / "x" / name).predict(white)[0]
        assert probs.argmax() == float_probs.argmax() and np.abs(probs - float_probs).max() < 0.1, name


def test_crop_keeps_the_same_view_at_every_resolution():
    """22.3: the same scene at 671x671, 672x672, 720p and 1080p gives the same crop and nearly the same pixels."""
    from edgecls.runtime.preprocess import center_crop, to_model_input

    scene = cv2.GaussianBlur(np.random.default_rng(0).integers(0, 256, (96, 96), dtype=np.uint8), (5, 5), 2)
    inputs = []
    for h, w in ((671, 671), (672, 672), (720, 1280), (1080, 1920)):
        side = min(h, w)
        frame = np.zeros((h, w), np.uint8)
        top, left = (h - side) // 2, (w - side) // 2
        frame[top : top + side, left : left + side] = cv2.resize(scene, (side, side), interpolation=cv2.INTER_CUBIC)
        assert center_crop(frame, 224, 224).shape == (side, side)  # the full centred square, by hand
        inputs.append(to_model_input(frame, 32, 32, "GRAY", "crop").astype(int))
    assert max(np.abs(a - inputs[0]).max() for a in inputs) <= 3  # same view: only resampling noise


def test_ties_are_broken_like_argmax(exported):
    """22.4: top_k names the lowest tied index, as argmax (numpy, the oracle) does, in every tie."""
    clf = Classifier(exported / "model_int8.tflite", warmup=False)
    rng = np.random.default_rng(0)
    for _ in range(2000):
        p = rng.random(10).astype(np.float32)
        tied = rng.choice(10, 2, replace=False)
        p[tied] = p.max() + 0.1
        assert clf.top_k(p, 3)[0][0] == clf.labels[int(np.argmax(p))]


def test_bench_refuses_artifacts_of_another_model(exported):
    """22.5: artifacts whose source_sha256 is not the run's model are refused, not compared."""
    proc = run_cli("bench", "benchmarks/models/fashion-mnist-edge-cnn", "--artifact", str(exported / "model_int8.tflite"))
    assert proc.returncode == 2 and "exported from another version" in proc.stderr and "export" in proc.stderr


def test_save_keeps_every_frame_of_a_mixed_size_folder(tmp_path, exported, sample):
    """22.9: 5 images in 3 sizes give a 5-frame video (letterboxed), read back with OpenCV."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    for i, size in enumerate((40, 40, 64, 90, 64)):
        cv2.imwrite(str(folder / f"{i}.png"), cv2.resize(sample.x_test[i], (size, size)))
    run_cli("run", str(exported / "model_int8.tflite"), "--source", str(folder), "--headless",
            "--save", str(tmp_path / "out.avi"), check=True)
    capture = cv2.VideoCapture(str(tmp_path / "out.avi"))
    frames = 0
    while capture.read()[0]:
        frames += 1
    assert frames == 5


def test_one_unreadable_image_does_not_stop_a_folder(tmp_path, exported, sample):
    """22.11: every readable image is classified, the bad one named, the summary written, exit non-zero."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(6):
        cv2.imwrite(str(folder / f"{i}.png"), sample.x_test[i])
    (folder / "3.png").write_bytes(b"not a png")
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--source", str(folder), "--headless",
                   "--summary-json", str(tmp_path / "s.json"), "--jsonl", str(tmp_path / "f.jsonl"))
    assert proc.returncode == 1 and "3.png" in proc.stderr and "Traceback" not in proc.stderr
    summary = json.loads((tmp_path / "s.json").read_text())
    assert summary["frames"] == 5 and "1 unreadable image" in summary["error"]
    assert len((tmp_path / "f.jsonl").read_text().splitlines()) == 5


def test_float_pixels_are_refused(exported, sample):
    """22.13: x / 255 is not the contract; the runtime says so instead of classifying garbage."""
    clf = Classifier(exported / "model_int8.tflite")
    with pytest.raises(EdgeclsError, match="expected uint8 pixels"):
        clf.predict(sample.x_test[:4] / 255.0)


def test_close_waits_for_a_reopen_in_flight():
    """22.14: a capture opened during a slow reconnect is released before close() returns."""
    from edgecls.runtime.sources import LatestFrame

    opened, released = [], []

    class Capture:
        def __init__(self, ok):
            self.ok = ok
            opened.append(self)

        def read(self):
            return (False, None) if not self.ok else (True, np.zeros((4, 4, 3), np.uint8))

        def release(self):
            released.append(self)

    calls = []

    def opener():
        calls.append(1)
        if len(calls) > 1:
            time.sleep(2.5)  # a camera that takes its time to come back
        return Capture(ok=len(calls) > 1)

    source = LatestFrame("slow camera", opener, retries=3, backoff=0.01)
    time.sleep(0.3)  # the first read failed; the reader is now inside the slow reopen
    source.close()
    assert len(opened) == 2 and len(released) == len(opened) and not source.thread.is_alive()


def test_provider_is_refused_for_tflite(exported):
    """22.15: --provider applies to ONNX Runtime; for a .tflite it is an error, not silently ignored."""
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--provider", "CPUExecutionProvider",
                   "--source", "x.mp4", "--headless")
    assert proc.returncode == 2 and "'--provider'" in proc.stderr and "ONNX" in proc.stderr
