"""A live stream on the loopback: the real OpenCV/FFmpeg capture reading a real MJPEG-over-HTTP
server that drops, comes back, and finally goes away for good (issue 13, D13)."""

import json
import subprocess
import sys
import threading
import time

import cv2
import numpy as np

from mjpeg_camera import MjpegCamera


def test_stream_reconnects_then_ends_with_one_line_and_complete_jsonl(tmp_path, exported, sample):
    frames = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_GRAY2BGR), (112, 112), interpolation=cv2.INTER_NEAREST)
              for x in sample.x_test[:20]]
    camera = MjpegCamera(frames, fps=30)
    jsonl, summary = tmp_path / "frames.jsonl", tmp_path / "summary.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgecls.cli", "run", str(exported / "model_int8.tflite"),
                             "--source", camera.url, "--headless", "--threads", "1", "--jsonl", str(jsonl),
                             "--summary-json", str(summary)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def outage():
        time.sleep(3.0)
        camera.stop()          # the camera drops ...
        time.sleep(0.8)
        camera.start()         # ... and comes back within the retry budget
        time.sleep(2.0)
        camera.stop()          # then it is gone for good

    timeline = threading.Thread(target=outage)
    timeline.start()
    out, err = proc.communicate(timeout=120)
    timeline.join()

    assert proc.returncode == 1, err
    errors = [line for line in err.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "stream dropped and did not come back after 3 retries" in errors[0], err
    assert "Traceback" not in err and "[http @" not in err and "tcp @" not in err  # FFmpeg's chatter stays out
    s = json.loads(summary.read_text())
    assert s["reconnects"] >= 1 and camera.connections >= 2 and s["end"] == "dropped"
    records = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line complete
    assert len(records) == s["frames"] > 30 and [r["frame"] for r in records] == list(range(s["frames"]))
    assert s["frames"] + s["dropped"] <= camera.sent  # nothing classified that was not sent
