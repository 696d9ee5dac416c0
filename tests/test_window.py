"""The live window as a person sees it (issue 13, D14): a real X server (Xvfb), the real Tk
window of the headless-OpenCV install (issue 21), a screenshot read back with OCR, and the `q`
key typed with xdotool.

Skipped, with the reason, where the X tools are missing (.ci/run installs them from Debian).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

TOOLS = ("Xvfb", "xdotool", "xwd", "tesseract")
SIMPLE = {"Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag"}


def read_xwd(data: bytes) -> np.ndarray:
    """A 24/32-bit TrueColor XWD screenshot as a BGR image."""
    h = struct.unpack(">25I", data[:100])
    header, width, height, byte_order, bytes_per_line, ncolors = h[0], h[4], h[5], h[7], h[12], h[19]
    start = header + 12 * ncolors
    rows = np.frombuffer(data[start : start + bytes_per_line * height], np.uint8).reshape(height, bytes_per_line)
    pixels = rows[:, : 4 * width].reshape(height, width, 4)
    return np.ascontiguousarray(pixels[..., :3] if byte_order == 0 else pixels[..., 1:][..., ::-1])


def ocr_words(png) -> list[list[str]]:
    """Tesseract's words with their boxes (TSV rows: ... left, top, width, height, conf, text)."""
    tsv = subprocess.run(["tesseract", str(png), "-", "tsv"], capture_output=True, text=True).stdout
    return [row.split("\t") for row in tsv.splitlines()[1:] if row.count("\t") == 11 and row.split("\t")[11].strip()]


def read_overlay(shot: np.ndarray, folder, label: str) -> dict:
    """OCR of the window: the green top-1 line (label and score) and the white FPS line."""
    cv2.imwrite(str(folder / "window.png"), shot)
    full = " ".join(w[11] for w in ocr_words(folder / "window.png"))
    green = (shot[..., 1] > 180) & (shot[..., 0] < 100) & (shot[..., 2] < 100)
    cv2.imwrite(str(folder / "label.png"), cv2.resize(np.where(green, 0, 255).astype(np.uint8), None, fx=2, fy=2,
                                                      interpolation=cv2.INTER_NEAREST))
    words = ocr_words(folder / "label.png")
    text = " ".join(w[11] for w in words)
    box = next((w for w in words if w[11] == label), None)
    on_box = 0.0
    if box:
        left, top, width, height = (int(v) // 2 for v in box[6:10])
        on_box = float((shot[top : top + height, left : left + width][..., [0, 2]].max(axis=2) < 40).mean())
    ok = box is not None and bool(re.search(r"\b[01]\.\d\d\b", text)) and "FPS" in full
    return {"ok": ok, "label_line": text, "window": full, "on_box": on_box}


@pytest.fixture
def display():
    missing = [t for t in TOOLS if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt-get install xvfb xdotool x11-apps tesseract-ocr)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "1024x768x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    number = b""
    while not number.endswith(b"\n"):  # Xvfb writes the number and the newline apart; closing early kills it
        chunk = os.read(read, 16)
        if not chunk:
            break
        number += chunk
    os.close(read)
    number = number.decode().strip()
    yield f":{number}"
    server.terminate()
    server.wait()


def confident_image(trained_run, sample):
    """A test image the Keras model itself names with a plain word, and the name: the oracle."""
    import keras

    model = keras.models.load_model(trained_run / "model.keras", compile=False)
    probs = model.predict(sample.x_test[:200], verbose=0)
    for i in np.argsort(-probs.max(1)):
        name = sample.class_names[int(probs[i].argmax())]
        if name in SIMPLE:
            return sample.x_test[i], name
    raise AssertionError("no confident prediction with a plain class name")


def test_window_shows_label_score_and_fps_on_a_box_and_q_quits(tmp_path, display, exported, trained_run, sample):
    image, label = confident_image(trained_run, sample)
    frame = np.full((480, 640, 3), 128, np.uint8)  # a plain wall beside the picture, as a camera might see
    frame[:, 80:560] = cv2.resize(image, (480, 480), interpolation=cv2.INTER_NEAREST)[..., None]
    video = str(tmp_path / "same.avi")
    writer = cv2.VideoWriter(video, cv2.VideoWriter_fourcc(*"MJPG"), 15, (640, 480))
    for _ in range(150):
        writer.write(frame)
    writer.release()
    env = {**os.environ, "DISPLAY": display}
    env.pop("WAYLAND_DISPLAY", None)
    run = subprocess.Popen([sys.executable, "-m", "edgecls.cli", "run", str(exported / "model_fp32.tflite"),
                            "--source", video], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.time()
    found: list[str] = []
    while not found and time.time() - started < 60 and run.poll() is None:
        found = subprocess.run(["xdotool", "search", "--name", "^edgecls$"], env=env, capture_output=True,
                               text=True).stdout.split()
        time.sleep(0.2)
    assert found, run.communicate()
    window = found[0]
    time.sleep(1.0)  # a few frames drawn
    for attempt in range(3):  # OCR of a live window: a few screenshots, the first that reads
        shot = read_xwd(subprocess.run(["xwd", "-id", window, "-silent"], env=env, capture_output=True,
                                       check=True).stdout)
        reading = read_overlay(shot, tmp_path, label)
        if reading["ok"]:
            break
        time.sleep(0.5)
    assert reading["ok"], reading
    assert reading["on_box"] > 0.95  # green text on black: the dark box, readable on any picture

    subprocess.run(["xdotool", "windowfocus", "--sync", window, "key", "q"], env=env, check=True)
    out, err = run.communicate(timeout=30)
    assert run.returncode == 0, err
    assert "(quit)" in err and time.time() - started < 150 / 15 + 30  # the summary: stderr
    assert "QFontDatabase" not in err and "Traceback" not in err
