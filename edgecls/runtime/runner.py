"""The classify loop behind ``edgecls run``: frames in, labels out, with a summary.

Example::

    from edgecls.runtime import Classifier
    from edgecls.runtime.runner import RunOptions, run_stream
    from edgecls.runtime.sources import open_source

    clf = Classifier("model_int8.tflite", threads=1)
    with open_source("video.mp4") as src:
        summary = run_stream(clf, src, RunOptions(jsonl="-", headless=True))
    print(summary["fps"], summary["latency_ms"]["total"]["p50"])
"""

from __future__ import annotations

import collections
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edgecls import console, fileio
from edgecls.errors import EdgeclsError, clean_text
from edgecls.runtime import confidence, postprocess, window
from edgecls.runtime.preprocess import resize
from edgecls.runtime.stats import Reservoir


@dataclass
class RunOptions:
    top_k: int = 1
    threshold: float = 0.0        # below it the label is "unknown"
    smooth: int = 1               # average scores over the last N frames
    headless: bool | None = None  # None: headless when there is no display
    save: str | None = None       # annotated video
    jsonl: str | None = None      # path or "-" for stdout
    max_frames: int | None = None
    snapshot_dir: str = "."
    classes: list[str] | None = None   # only these (and unknown) may be named
    exclude: list[str] | None = None   # never these


def draw_overlay(frame: np.ndarray, top: list[tuple[str, float]], fps: float, latency_ms: float) -> np.ndarray:
    """Label, score, FPS and latency on a dark box in the top-left corner of a copy of the frame (BGR).

    The box keeps the text readable on any picture; labels come cleaned of control
    characters (the Classifier cleans them) and OpenCV draws only ASCII, so anything else
    shows as ``?``.
    """
    out = frame if frame.ndim == 3 and frame.shape[2] == 3 else cv2.cvtColor(
        frame, cv2.COLOR_GRAY2BGR if frame.ndim == 2 or frame.shape[2] == 1 else cv2.COLOR_BGRA2BGR)
    out = out.copy()
    scale = max(0.5, out.shape[1] / 700)
    thickness = max(1, round(scale * 2))
    lines = [f"{label} {score:.2f}" for label, score in top] + [f"{fps:.1f} FPS  {latency_ms:.1f} ms"]
    lines = [line.encode("ascii", "replace").decode() for line in lines]
    font = cv2.FONT_HERSHEY_SIMPLEX
    sizes = [cv2.getTextSize(line, font, scale, thickness)[0] for line in lines]
    step, pad = int(max(h for _, h in sizes) * 1.8), int(8 * scale)
    width = min(out.shape[1], max(w for w, _ in sizes) + 2 * pad)
    cv2.rectangle(out, (0, 0), (width, step * len(lines) + pad), (0, 0, 0), cv2.FILLED)
    for i, text in enumerate(lines):
        cv2.putText(out, text, (pad, step * (i + 1) - pad // 2), font, scale,
                    (0, 255, 0) if i < len(top) and i == 0 else (255, 255, 255), thickness, cv2.LINE_AA)
    return out


class _Outputs:
    """The JSON-lines stream, the annotated video and the window, opened as needed."""

    def __init__(self, opts: RunOptions, fps: float, live: bool = True):
        self.opts, self.fps = opts, fps or 30.0
        self.paced, self.last_shown = not live and fps > 0, 0.0
        self.jsonl = None
        if opts.jsonl == "-":
            self.jsonl = sys.stdout
        elif opts.jsonl:
            self.jsonl = fileio.open_stream(opts.jsonl)
        self.writer = None
        show = not (opts.headless if opts.headless is not None else not window.available())
        self.window = window.Window("edgecls") if show else None
        self.save_tmp = None
        self.counts: collections.Counter = collections.Counter()
        self.last_label = None

    def announce(self, record: dict, top) -> None:
        """Without a window, say what was classified: each image, or each change of label in a video.

        The answers are the result, on stdout (``| grep Sneaker``), unless the JSON lines are there."""
        label, score = top[0]
        self.counts[label] += 1
        say = console.info if self.opts.jsonl == "-" else console.result
        if not self.window and "source" in record:
            say(f"{clean_text(record['source'])}: {label} {score:.2f}")
        elif not self.window and label != self.last_label:
            say(f"frame {record['frame']}: {label} {score:.2f}")
        self.last_label = label

    def frame(self, frame: np.ndarray, record: dict, top, fps: float, latency: float) -> str | None:
        """Emit one frame; return "quit" when the user asked to stop."""
        self.announce(record, top)
        if self.jsonl:
            self.jsonl.write(json.dumps(record) + "\n")
        if not (self.opts.save or self.window):
            return None
        annotated = draw_overlay(frame, top, fps, latency)
        if self.opts.save:
            if self.writer is None:
                h, w = annotated.shape[:2]
                target = Path(self.opts.save)
                self.save_tmp = target.with_name(f".{target.stem}.partial{target.suffix}")
                fourcc = cv2.VideoWriter_fourcc(*("mp4v" if target.suffix.lower() == ".mp4" else "MJPG"))
                self.writer = cv2.VideoWriter(str(self.save_tmp), fourcc, self.fps, (w, h))
                self.size = (h, w)
                if not self.writer.isOpened():
                    raise EdgeclsError(f"cannot write video {self.opts.save}")
            if annotated.shape[:2] != self.size:  # another size (a folder of images): letterboxed, never dropped
                annotated = resize(annotated, *self.size, mode="pad")
            self.writer.write(annotated)
        if self.window:
            return self._interact(annotated, record["frame"])
        return None

    def _interact(self, annotated: np.ndarray, frame_number: int) -> str | None:
        """Show the frame; q or Esc quits, s saves a snapshot, space pauses until pressed again."""
        self.window.show(annotated)
        action = self.window.action(self._pace())
        if action == "snapshot":
            cv2.imwrite(str(Path(self.opts.snapshot_dir) / f"snapshot-{frame_number:06d}.png"), annotated)
        while action == "pause":
            action = {"pause": "resume", "quit": "quit"}.get(self.window.action(50), "pause")
        return "quit" if action == "quit" else None

    def _pace(self) -> int:
        """Milliseconds to wait so a file plays at its own frame rate in the window (1 for live sources)."""
        if not self.paced:
            return 1
        now = time.perf_counter()
        due = self.last_shown + 1.0 / self.fps
        self.last_shown = max(now, due)
        return max(1, int((due - now) * 1000))

    def close(self) -> None:
        if self.jsonl and self.jsonl is not sys.stdout:
            self.jsonl.close()
        if self.writer is not None:
            self.writer.release()
            os.replace(self.save_tmp, self.opts.save)
        if self.window:
            self.window.close()


def run_stream(clf, source, opts: RunOptions | None = None) -> dict:
    """Classify every frame of ``source`` (newest frame for live sources); return the summary."""
    opts = opts or RunOptions()
    if opts.smooth < 1 or opts.top_k < 1:
        raise EdgeclsError("--smooth and --top-k must be at least 1")
    smoother = postprocess.Smoother(opts.smooth)
    mask = postprocess.class_mask(clf.labels, opts.classes, opts.exclude)
    unknown = clf.unknown
    stats = {k: Reservoir() for k in ("preprocess", "inference", "postprocess", "total")}
    outputs = _Outputs(opts, getattr(source, "fps", 0.0), live=source.live)
    frames, start, fps, end = 0, time.perf_counter(), 0.0, "end of stream"
    segment = None
    try:
        while True:
            if opts.max_frames is not None and frames >= opts.max_frames:
                end = "--max-frames"
                break
            frame = source.read()
            if frame is None:
                break
            if source.segment != segment:  # a new file or a reconnect: the frames before are another scene
                smoother.reset()
                segment = source.segment
            t0 = time.perf_counter()
            pixels = clf.preprocess(frame)
            t1 = time.perf_counter()
            probs = clf.predict(pixels)[0]
            t2 = time.perf_counter()
            smoothed = smoother.update(probs)
            top = postprocess.answer(postprocess.top_k(smoothed, opts.top_k, clf.labels, mask), opts.threshold)
            t3 = time.perf_counter()
            for key, value in zip(stats, (t1 - t0, t2 - t1, t3 - t2, t3 - t0)):
                stats[key].add(value * 1e3)
            frames += 1
            fps = frames / max(t3 - start, 1e-9)
            record = _record(frames - 1, top, (t1 - t0, t2 - t1, t3 - t2, t3 - t0), smoothed, unknown, source)
            if outputs.frame(frame, record, top, fps, (t3 - t0) * 1e3) == "quit":
                end = "quit"
                break
    except KeyboardInterrupt:
        end = "interrupted"
    finally:
        outputs.close()
    elapsed = time.perf_counter() - start
    error = getattr(source, "error", None)
    if error and end == "end of stream":
        end = "dropped" if source.live else "error"
    summary = {"source": source.name, "frames": frames, "dropped": int(getattr(source, "dropped", 0)),
               "reconnects": int(getattr(source, "reconnects", 0)), "labels": dict(outputs.counts.most_common()),
               "seconds": round(elapsed, 3), "fps": round(frames / elapsed, 2) if elapsed > 0 else 0.0,
               "end": end, "latency_ms": {k: {q: round(v, 3) for q, v in s.percentiles().items()}
                                          for k, s in stats.items()}}
    if error:
        summary["error"] = error
    return summary


def _record(frame: int, top, seconds: tuple, probs: np.ndarray, unknown: dict | None, source) -> dict:
    """One frame's JSON line: its answers, the latency of each step, how far an unknown one is from what
    the model knows (beside its threshold), and which file it came from."""
    record = {"frame": frame, "timestamp": round(time.time(), 6),
              "top_k": [[label, round(score, 6)] for label, score in top],
              "latency_ms": {k: round(v * 1e3, 3) for k, v in
                             zip(("preprocess", "inference", "postprocess", "total"), seconds)}}
    if unknown is not None and top[0][0] == postprocess.UNKNOWN:
        record["distance"] = confidence.distance(float(probs[-1]), unknown)
        record["threshold"] = unknown.get("threshold")
    if getattr(source, "current", None) is not None:
        record["source"] = str(source.current)
    return record


def format_summary(s: dict) -> str:
    lat = s["latency_ms"]
    lines = [f"{s['frames']} frames from {clean_text(s['source'])} in {s['seconds']:.1f} s: {s['fps']:.1f} FPS, "
             f"{s['dropped']} dropped ({s['end']})"]
    for key in ("preprocess", "inference", "postprocess", "total"):
        p = lat[key]
        lines.append(f"  {key:<11} p50 {p['p50']:7.3f} ms  p95 {p['p95']:7.3f} ms  p99 {p['p99']:7.3f} ms")
    if s.get("labels"):
        lines.append("  top-1 labels: " + ", ".join(f"{label} {n}" for label, n in s["labels"].items()))
    return "\n".join(lines)
