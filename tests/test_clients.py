"""Issue 15: the exported files open in the clients people deploy with, and answer like edgecls.

MediaPipe Tasks runs in a virtual environment of its own (it depends on opencv-contrib-python, which
must never share an environment with opencv-python): see ``conftest.client_python``.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import client_python
from edgecls.runtime import Classifier, read_metadata

MEDIAPIPE = "mediapipe==1.2.2"
HELPER = Path(__file__).parent / "clients" / "mediapipe_classify.py"


@pytest.fixture(scope="session")
def mediapipe_python() -> Path:
    return client_python(MEDIAPIPE)


@pytest.mark.parametrize("artifact", ["model_int8.tflite", "model_fp32.tflite"])
def test_mediapipe_image_classifier_opens_and_agrees(tmp_path, exported, sample, mediapipe_python, artifact):
    """15.3: MediaPipe's ImageClassifier opens the default int8 and the fp32 .tflite of a GRAY model (RGB input,
    luma folded in), reads the class names from the model itself, and agrees with edgecls on >= 99.5%."""
    images = tmp_path / "images.npy"
    np.save(images, np.repeat(sample.x_test, 3, axis=-1))  # gray photos as MediaPipe's SRGB images
    clf = Classifier(exported / artifact)
    want = clf.predict(sample.x_test).argmax(1)
    for mode in ("IMAGE", "VIDEO"):
        proc = subprocess.run([str(mediapipe_python), str(HELPER), str(exported / artifact), str(images), mode],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-2000:]
        answers = json.loads(proc.stdout.strip().splitlines()[-1])["answers"]
        assert [name for _, name in answers[:20]] == [clf.labels[i] for i, _ in answers[:20]]  # names from the model
        assert np.mean(np.array([i for i, _ in answers]) == want) >= 0.995, mode


def test_mediapipe_says_unknown_on_flat_frames_from_the_file_alone(tmp_path, exported, mediapipe_python):
    """Issue 32: the unknown class travels inside the file, so MediaPipe names a wall or a lens cap unknown."""
    images = tmp_path / "flat.npy"
    np.save(images, np.stack([np.full((480, 640, 3), v, np.uint8) for v in (0, 60, 128, 200, 255)]))
    proc = subprocess.run([str(mediapipe_python), str(HELPER), str(exported / "model_int8.tflite"), str(images),
                           "IMAGE"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answers = json.loads(proc.stdout.strip().splitlines()[-1])["answers"]
    assert [name for _, name in answers] == ["unknown"] * 5


def test_standard_metadata_is_in_every_tflite(exported, trained_run):
    """15.1: labels as an associated file (a zip after the flatbuffer), edgecls' own JSON beside it; the
    unknown class is the last label."""
    import zipfile

    labels = (trained_run / "labels.txt").read_text() + "unknown\n"
    for path in sorted(exported.glob("*.tflite")):
        with zipfile.ZipFile(path) as archive:
            assert archive.read("labels.txt").decode() == labels
        meta = read_metadata(path)
        assert (meta["input"]["channels"], meta["input"]["color"]) == (3, "RGB")


def test_opencv_dnn_opens_the_fp32_onnx_and_agrees(exported, sample):
    """15.4: cv2.dnn.readNetFromONNX(model_fp32.onnx) answers like edgecls on >= 99.9% of the sample."""
    net = cv2.dnn.readNetFromONNX(str(exported / "model_fp32.onnx"))
    got = []
    for image in sample.x_test:
        net.setInput(image[None])
        got.append(int(net.forward().argmax()))
    want = Classifier(exported / "model_fp32.onnx").predict(sample.x_test).argmax(1)
    assert np.mean(np.array(got) == want) >= 0.999
