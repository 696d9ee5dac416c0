"""A live stream on the loopback: the real OpenCV/FFmpeg capture reading a real MJPEG-over-HTTP
server that drops, comes back, and finally goes away for good (issue 13, D13)."""

import json
import subprocess
import sys
import threading
import time

import cv2
import pytest

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


def _serve_over_http(tmp_path, exported, *run_args, name: str = "clip.avi"):
    """Serve ``tmp_path`` on 127.0.0.1 and run the classifier on clip.avi there: (process, summary, GETs)."""
    import functools
    import http.server

    gets = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            gets.append(args)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Handler, directory=str(tmp_path)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/{name}"
        proc = subprocess.run([sys.executable, "-m", "edgecls.cli", "run", str(exported / "model_int8.tflite"),
                               "--source", url, "--headless", "--summary-json", str(tmp_path / "s.json"),
                               *run_args], capture_output=True, text=True, timeout=120)
    finally:
        server.shutdown()
    summary = tmp_path / "s.json"
    return proc, json.loads(summary.read_text()) if summary.exists() else None, gets


@pytest.mark.parametrize("first, container", [("black", "ts"), ("picture", "ts")])
def test_finite_file_over_http_is_read_once(tmp_path, exported, sample, first, container):
    """Issues 22.8 and 31.11: a clip served over HTTP has a length (the response's Content-Length; an AVI
    also counts its frames), so it is read once, every frame in order, whatever its first frame shows. An
    MPEG-TS clip, which declares no frame count, once replayed until --max-frames."""
    from edgecls.toolkit.data.video import FRAME_H, FRAME_W, frame_from

    images = sample.x_test[:10].copy()
    if first == "black":
        images[0] = 0
    fourcc = {"ts": "mp4v", "avi": "MJPG"}[container]
    writer = cv2.VideoWriter(str(tmp_path / f"clip.{container}"), cv2.VideoWriter_fourcc(*fourcc), 15, (FRAME_W, FRAME_H))
    rng = __import__("numpy").random.default_rng(0)
    for image in images:
        writer.write(frame_from(image, rng))
    writer.release()
    proc, s, gets = _serve_over_http(tmp_path, exported, "--max-frames", "100", name=f"clip.{container}")
    assert proc.returncode == 0, proc.stderr
    assert s["end"] == "end of stream" and s["frames"] == 10 and s["dropped"] == 0 and s["reconnects"] == 0, s
    assert len([g for g in gets if "GET" in str(g)]) == 1 and "error" not in s


def test_file_cut_half_way_over_http_is_an_error_with_the_frames_done(tmp_path, exported, sample):
    """Issue 31.11: a clip whose bytes stop half-way is not a clean end of stream."""
    from edgecls.toolkit.data.video import write_video

    write_video(tmp_path / "full.avi", sample.x_test[:20], lossless=False)
    data = (tmp_path / "full.avi").read_bytes()
    (tmp_path / "clip.avi").write_bytes(data[: len(data) // 2])
    proc, s, _ = _serve_over_http(tmp_path, exported)
    assert proc.returncode == 1, proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error")]
    assert len(errors) == 1 and "ended early" in errors[0] and "of its 20 frames" in errors[0], proc.stderr
    assert s["end"] == "error" and 1 <= s["frames"] < 20, s


def test_still_scene_on_a_live_camera_survives_a_drop(tmp_path, exported, sample):
    """Issue 31.11: a camera showing one still picture that drops and comes back goes on (a repeated frame
    once read as 'a file served again' and stopped the run for good after one failed read)."""
    still = cv2.resize(cv2.cvtColor(sample.x_test[0], cv2.COLOR_GRAY2BGR), (112, 112))
    camera = MjpegCamera([still], fps=30, stamp=False)
    summary = tmp_path / "summary.json"
    proc = subprocess.Popen([sys.executable, "-m", "edgecls.cli", "run", str(exported / "model_int8.tflite"),
                             "--source", camera.url, "--headless", "--threads", "1", "--summary-json", str(summary)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)
    camera.stop()
    time.sleep(0.5)
    camera.start()
    sent_before = camera.sent
    time.sleep(3.0)
    camera.stop()
    out, err = proc.communicate(timeout=120)
    s = json.loads(summary.read_text())
    assert s["reconnects"] >= 1 and camera.sent > sent_before + 30, (s, err)
    assert s["end"] == "dropped" and s["frames"] > 60, s  # it read on after the reconnect until the camera left
