"""A live stream on the loopback: the real OpenCV/FFmpeg capture reading a real MJPEG-over-HTTP
server that drops, comes back, and finally goes away for good (issue 13, D13)."""

import json
import subprocess
import sys
import threading
import time

import cv2

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


def test_finite_file_over_http_ends_as_end_of_stream(tmp_path, exported, sample):
    """Issue 22.8: a 20-frame clip served over HTTP is classified once, not replayed until --max-frames."""
    import functools
    import http.server

    from edgecls.toolkit.data.video import write_video

    write_video(tmp_path / "clip.avi", sample.x_test[:20], lossless=False)
    gets = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            gets.append(args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/clip.avi"
        proc = subprocess.run([sys.executable, "-m", "edgecls.cli", "run", str(exported / "model_int8.tflite"),
                               "--source", url, "--headless", "--max-frames", "100", "--summary-json",
                               str(tmp_path / "s.json")], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    assert proc.returncode == 0, proc.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["end"] == "end of stream" and 1 <= s["frames"] <= 20 and s["frames"] + s["dropped"] <= 20, s
    assert len(gets) <= 2 and "error" not in s
