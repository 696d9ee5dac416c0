"""edgecls' runtime beside MediaPipe Tasks and a hand-written OpenCV + LiteRT loop, same .tflite, one run.

    python benchmarks/peers.py EXPORT_DIR [EXPORT_DIR ...] [--rounds 7] [--frames 40]
        [--json benchmarks/results/peers.json] [--markdown benchmarks/results/peers.md]
    python benchmarks/peers.py --from-json benchmarks/results/peers.json   # the tables again, no measuring

For each export folder's ``model_int8.tflite`` and ``model_fp32.tflite``, each frame size
(640x480, 1280x720 BGR, as OpenCV gives camera frames), resize mode (crop: the centred square;
stretch: the whole frame) and thread count (1 and every core), three contenders classify the
same frames, conversion from BGR included:

- edgecls: ``Classifier(path, threads=N, resize=MODE).classify(frame)``;
- by hand: ``cv2.cvtColor`` to RGB, ``cv2.resize`` (its default, bilinear) of the frame or of
  its centred square, LiteRT ``set_tensor`` / ``invoke`` / ``get_tensor``;
- MediaPipe Tasks' ``ImageClassifier`` (IMAGE mode; crop as its ``region_of_interest``), in its
  own virtual environment (``$EDGECLS_TEST_VENVS/mediapipe-1.2.2``, made by the tests), a worker
  process fed the same frames. MediaPipe's Python API has no thread count; on desktop Linux its XNNPACK
  delegate defaults to 1 thread (``GetXnnpackDefaultNumThreads`` in mediapipe/calculators/tensor/
  inference_calculator_utils.cc; measured: 1.01 CPU seconds per second of classifying), so the 1-thread
  rows are like for like and in the other rows MediaPipe still runs 1 thread.

A fourth column times LiteRT's ``invoke`` alone on the hand loop's interpreter (its input already
set): the floor under any runtime that runs this file, so ``invoke / by hand`` is the lowest ratio
to the hand loop that any preprocessing could reach.

The contenders alternate frame by frame (each frame goes to all of them in turn, the first to run
rotating), so a slow second on a shared machine falls on all alike; each round times every
frame once per contender and keeps the median; a row reports the p50 of the round medians and the
ratios edgecls / MediaPipe and edgecls / by hand, with the top-1 agreement of each peer with edgecls
on the same frames.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VENVS = Path(os.environ.get("EDGECLS_TEST_VENVS", Path.home() / ".cache" / "edgecls" / "test-venvs"))
MEDIAPIPE = VENVS / "mediapipe-1.2.2" / "bin" / "python"
FRAMES = ((480, 640), (720, 1280))

WORKER = r'''
import json, sys, time
import numpy as np
import mediapipe as mp
from mediapipe.tasks import python as tasks
from mediapipe.tasks.python import vision
from mediapipe.tasks.python.components.containers.rect import RectF

classifier, frames, options = None, None, None
for line in sys.stdin:
    cmd = json.loads(line)
    if cmd["op"] == "open":
        if classifier is not None:
            classifier.close()
        classifier = vision.ImageClassifier.create_from_options(vision.ImageClassifierOptions(
            base_options=tasks.BaseOptions(model_asset_path=cmd["model"]), max_results=1))
        frames = np.load(cmd["frames"])
        h, w = frames.shape[1:3]
        side = min(h, w)
        roi = RectF(left=(w - side) / 2 / w, top=(h - side) / 2 / h, right=(w + side) / 2 / w, bottom=(h + side) / 2 / h)
        options = vision.ImageProcessingOptions(region_of_interest=roi) if cmd["crop"] else None
        for frame in frames[:3]:  # warm-up, as the other contenders get
            classifier.classify(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame[:, :, ::-1])),
                                image_processing_options=options)
        print(json.dumps({"ok": True}), flush=True)
    else:  # one frame, timed here: the pipe's round trip stays outside the time
        t0 = time.perf_counter()
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frames[cmd["i"]][:, :, ::-1]))
        result = classifier.classify(image, image_processing_options=options)
        ms = (time.perf_counter() - t0) * 1000
        print(json.dumps({"ms": ms, "answer": result.classifications[0].categories[0].index}), flush=True)
if classifier is not None:
    classifier.close()
'''


class MediaPipe:
    """A worker process in MediaPipe's own environment, timing frames it was given."""

    def __init__(self):
        self.proc = subprocess.Popen([str(MEDIAPIPE), "-c", WORKER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, env={**os.environ, "GLOG_minloglevel": "2"})

    def ask(self, **cmd) -> dict:
        self.proc.stdin.write(json.dumps(cmd) + "\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def classify(self, i: int) -> tuple[float, int]:
        """Frame ``i`` of the frames it opened: (milliseconds, as the worker timed them; class index)."""
        got = self.ask(op="one", i=i)
        return got["ms"], got["answer"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=60)


class ByHand:
    """The loop a user writes: cvtColor, resize (bilinear), set_tensor / invoke / get_tensor."""

    def __init__(self, path: Path, threads: int, crop: bool):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        detail = self.interpreter.get_input_details()[0]
        self.index, self.dtype = detail["index"], detail["dtype"]
        self.size = (int(detail["shape"][2]), int(detail["shape"][1]))
        self.output = self.interpreter.get_output_details()[0]["index"]
        self.crop = crop

    def classify(self, frame: np.ndarray) -> int:
        if self.crop:
            h, w = frame.shape[:2]
            side = min(h, w)
            frame = frame[(h - side) // 2 : (h + side) // 2, (w - side) // 2 : (w + side) // 2]
        rgb = cv2.cvtColor(cv2.resize(frame, self.size), cv2.COLOR_BGR2RGB)
        self.interpreter.set_tensor(self.index, rgb[None].astype(self.dtype, copy=False))
        self.interpreter.invoke()
        return int(self.interpreter.get_tensor(self.output)[0].argmax())

    def invoke(self, frame: np.ndarray) -> None:
        """The inference alone, on the input the last frame left: no runtime running this file does less."""
        self.interpreter.invoke()


def camera_frames(count: int, height: int, width: int) -> np.ndarray:
    """Real test photos (the embedded sample), upscaled bicubic into the centre of a frame over a smooth background."""
    from edgecls.toolkit.data import load_dataset

    rng = np.random.default_rng(0)
    frames = []
    for image in load_dataset("fashion-mnist-mini").x_test[:count, :, :, 0]:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (31, 31), 8)
        left = (width - height) // 2
        frame[:, left : left + height] = cv2.resize(image, (height, height), interpolation=cv2.INTER_CUBIC)[..., None]
        frames.append(frame)
    return np.stack(frames)


def _timed(fn, frame: np.ndarray) -> tuple[float, int]:
    t0 = time.perf_counter()
    answer = fn(frame)
    return (time.perf_counter() - t0) * 1000, answer


def measure(path: Path, frames: np.ndarray, mode: str, threads: int, rounds: int, mediapipe, stash: Path) -> dict:
    from edgecls.runtime import Classifier

    clf = Classifier(path, threads=threads, resize=mode)
    hand = ByHand(path, threads, mode == "crop")
    index = {label: i for i, label in enumerate(clf.labels)}
    local = {"edgecls": lambda f: index[clf.classify(f, top_k=1)[0][0]], "by_hand": hand.classify,
             "invoke": hand.invoke}
    contenders = {name: (lambda i, fn=fn: _timed(fn, frames[i])) for name, fn in local.items()}
    if mediapipe:
        np.save(stash, frames)
        mediapipe.ask(op="open", model=str(path), frames=str(stash), crop=mode == "crop")
        contenders["mediapipe"] = mediapipe.classify
    for fn in local.values():  # warm-up (MediaPipe's worker warms up on opening)
        for frame in frames[:3]:
            fn(frame)
    names = list(contenders)
    medians = {name: [] for name in names}
    for _ in range(rounds):
        times, answers = {name: [] for name in names}, {name: [] for name in names}
        for i in range(len(frames)):
            for name in names[i % len(names) :] + names[: i % len(names)]:  # the first to run rotates
                ms, answer = contenders[name](i)
                times[name].append(ms)
                answers[name].append(answer)
        for name in names:
            medians[name].append(float(np.median(times[name])))
    p50 = {name: float(np.median(m)) for name, m in medians.items()}
    ours = np.array(answers["edgecls"])
    row = {"p50_ms": {k: round(v, 4) for k, v in p50.items()},
           "edgecls_over_by_hand": round(p50["edgecls"] / p50["by_hand"], 3),
           "invoke_over_by_hand": round(p50["invoke"] / p50["by_hand"], 3),
           "agreement_with_edgecls": {k: round(float((np.array(v) == ours).mean()), 4)
                                      for k, v in answers.items() if k not in ("edgecls", "invoke")}}
    if "mediapipe" in p50:
        row["edgecls_over_mediapipe"] = round(p50["edgecls"] / p50["mediapipe"], 3)
    return row


def summary(rows: list[dict]) -> str:
    """One line per model, file and frame size: the range of each ratio over crop/stretch and thread counts."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["model"], r["file"], r["frame"]), []).append(r)
    lines = ["| model | file | frame | edgecls ms | edgecls / MediaPipe | edgecls / by hand | invoke / by hand |",
             "|" + "---|" * 7]
    span = lambda values: f"{min(values):.2f}-{max(values):.2f}"
    for (model, file, frame), group in groups.items():
        lines.append(f"| {model} | {file} | {frame} | {span([r['p50_ms']['edgecls'] for r in group])} | "
                     f"{span([r.get('edgecls_over_mediapipe', float('nan')) for r in group])} | "
                     f"{span([r['edgecls_over_by_hand'] for r in group])} | "
                     f"{span([r.get('invoke_over_by_hand', float('nan')) for r in group])} |")
    return "\n".join(lines) + "\n"


def markdown(rows: list[dict]) -> str:
    lines = ["| model | file | frame | resize | threads | edgecls ms | by hand ms | MediaPipe ms | invoke ms "
             "| edgecls / MediaPipe | edgecls / by hand | agree hand | agree MediaPipe |", "|" + "---|" * 13]
    for r in rows:
        p = r["p50_ms"]
        agree = r["agreement_with_edgecls"]
        lines.append(f"| {r['model']} | {r['file']} | {r['frame']} | {r['resize']} | {r['threads']} | "
                     f"{p['edgecls']:.3f} | {p['by_hand']:.3f} | {p.get('mediapipe', float('nan')):.3f} | "
                     f"{p.get('invoke', float('nan')):.3f} | "
                     f"{r.get('edgecls_over_mediapipe', '-')} | {r['edgecls_over_by_hand']} | "
                     f"{agree.get('by_hand', '-')} | {agree.get('mediapipe', '-')} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exports", nargs="*", type=Path, help="export folders; a folder's parent names the model")
    parser.add_argument("--from-json", type=Path, help="write the tables of an earlier run's JSON, measuring nothing")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--json", default=str(ROOT / "benchmarks" / "results" / "peers.json"))
    parser.add_argument("--markdown", default=str(ROOT / "benchmarks" / "results" / "peers.md"))
    args = parser.parse_args()
    if args.from_json:
        rows = json.loads(args.from_json.read_text())["rows"]
        Path(args.markdown).write_text(summary(rows) + "\n" + markdown(rows))
        return
    mediapipe = MediaPipe() if MEDIAPIPE.is_file() else None
    if mediapipe is None:
        print(f"MediaPipe's environment is not at {MEDIAPIPE} (the tests make it): its columns stay empty",
              file=sys.stderr)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for height, width in FRAMES:
            frames = camera_frames(args.frames, height, width)
            for export in args.exports:
                for name in ("model_int8.tflite", "model_fp32.tflite"):
                    for mode in ("crop", "stretch"):
                        for threads in (1, os.cpu_count()):
                            row = measure(export / name, frames, mode, threads, args.rounds, mediapipe,
                                          Path(tmp) / "frames.npy")
                            rows.append({"model": export.parent.name, "file": name, "frame": f"{width}x{height}",
                                         "resize": mode, "threads": threads, **row})
                            print(json.dumps(rows[-1]), flush=True)
    if mediapipe:
        mediapipe.close()
    result = {"machine": f"{cpu_name()}, {os.cpu_count()} cores",
              "rounds": args.rounds, "frames": args.frames, "rows": rows}
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    Path(args.markdown).write_text(summary(rows) + "\n" + markdown(rows))


def cpu_name() -> str:
    """The CPU's model name as Linux reports it (``platform.machine()`` elsewhere)."""
    import platform

    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in (cpuinfo.read_text().splitlines() if cpuinfo.exists() else [])
             if line.startswith("model name")]
    return names[0] if names else platform.machine()


if __name__ == "__main__":
    main()
