"""Preprocessing: the area steps against one INTER_AREA step and the exact area mean, speed and answers, in one run.

    python benchmarks/preprocess_speed.py [--model28 KERAS] [--model224 KERAS] [--frames 1000]
        [--data fashion-mnist-mini] [--answers-only] [--json benchmarks/results/preprocess_speed.json]

``to_model_input`` shrinks a frame with :func:`edgecls.runtime.preprocess.area_resize`: 2x2
block averages (OpenCV's fastest INTER_AREA path) while the halved frame stays at least 8x the model's
size (``HALVE_ABOVE``), then one small area resize of the rest, before converting colours. The old
path was one INTER_AREA call at a fractional factor (OpenCV's general path), after converting gray
models' colours. Both keep the whole centred region.

Speed: 1 OpenCV thread, p50 of 300 calls each, the two alternating, per frame size, model size,
colour and resize mode. Answers: top-1 of real Keras models on real test photos (the sample's
Fashion-MNIST test images, upscaled bicubic into the centre of a camera-sized frame over a smooth
background), preprocessed by the steps, by the previous one-step path and exactly (the float64 area
mean of the luminance or of each channel, rounded once); the share of frames where the answers agree,
and the largest pixel difference between the steps and the one-step path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from edgecls.runtime.preprocess import center_crop, convert_color, to_model_input

RESULTS = Path(__file__).parent / "results"
FRAMES = ((480, 640), (720, 1280))
MODELS = ((28, "GRAY"), (32, "RGB"), (224, "RGB"))


def one_step(frame: np.ndarray, size: int, color: str, mode: str) -> np.ndarray:
    """The previous path: gray models converted first, then one INTER_AREA resize of the whole region."""
    if mode == "crop":
        frame = center_crop(frame, size, size)
    if color == "GRAY":
        frame = convert_color(frame, color)
    out = cv2.resize(frame, (size, size), interpolation=cv2.INTER_AREA)
    out = convert_color(out, color) if color != "GRAY" else out
    return np.ascontiguousarray(out if out.ndim == 3 else out[:, :, None])


def camera_frames(images: np.ndarray, height: int, width: int, seed: int = 0):
    """Each image (gray HxW) upscaled bicubic into the centre square of a BGR frame over a smooth background."""
    rng = np.random.default_rng(seed)
    for image in images:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (31, 31), 8)
        left = (width - height) // 2
        big = cv2.resize(image, (height, height), interpolation=cv2.INTER_CUBIC)
        frame[:, left : left + height] = big[..., None]
        yield frame


def p50_us(calls: dict, rounds: int = 300) -> dict[str, float]:
    """Per-call p50 of each function, the functions alternating call by call."""
    times = {name: [] for name in calls}
    for _ in range(rounds):
        for name, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t) * 1e6) for name, t in times.items()}


def speed_rows() -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for height, width in FRAMES:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (9, 9), 3)
        for size, color in MODELS:
            for mode in ("crop", "stretch"):
                t = p50_us({"steps": lambda: to_model_input(frame, size, size, color, mode),
                            "one_step": lambda: one_step(frame, size, color, mode)})
                rows.append({"frame": f"{width}x{height}", "model": f"{size}x{size} {color}", "resize": mode,
                             "steps_us": round(t["steps"]), "one_step_us": round(t["one_step"]),
                             "ratio": round(t["steps"] / t["one_step"], 2)})
                print(rows[-1])
    return rows


def exact(frame: np.ndarray, size: int, color: str, mode: str) -> np.ndarray:
    """The area mean in float64, rounded once: luminance 0.299 R + 0.587 G + 0.114 B per source pixel for gray
    models (OpenCV's documented weights), then the exact area average of the region."""
    if mode == "crop":
        frame = center_crop(frame, size, size)
    pixels = frame[..., ::-1].astype(np.float64)  # RGB
    if color == "GRAY":
        pixels = pixels @ np.array([0.299, 0.587, 0.114])
    out = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
    return out if out.ndim == 3 else out[:, :, None]


def answer_rows(models: dict, images: np.ndarray, chunk: int = 1000) -> list[dict]:
    """Top-1 of the area steps (to_model_input) against the previous one-step path and against the exact mean."""
    import keras

    rows = []
    for label, path in models.items():
        model = keras.models.load_model(path, compile=False)
        size, channels = int(model.input_shape[1]), int(model.input_shape[-1])
        color = "GRAY" if channels == 1 else "RGB"
        for height, width in FRAMES:
            for mode in ("crop", "stretch"):
                agree = {("steps", "one_step"): 0, ("steps", "exact"): 0, ("one_step", "exact"): 0}  # top-1 matches
                worst = 0
                for start in range(0, len(images), chunk):  # frames a chunk at a time: 1 000 720p frames are 2.8 GB
                    frames = list(camera_frames(images[start : start + chunk], height, width, seed=start))
                    pixels = {"steps": np.stack([to_model_input(f, size, size, color, mode) for f in frames]),
                              "one_step": np.stack([one_step(f, size, color, mode) for f in frames]),
                              "exact": np.stack([exact(f, size, color, mode) for f in frames])}
                    top1 = {k: model.predict(v, verbose=0, batch_size=250).argmax(1) for k, v in pixels.items()}
                    for a, b in agree:
                        agree[a, b] += int((top1[a] == top1[b]).sum())
                    worst = max(worst, int(np.abs(pixels["steps"].astype(int) - pixels["one_step"]).max()))
                n = len(images)
                rows.append({"model": label, "frame": f"{width}x{height}", "resize": mode, "frames": n,
                             "top1_agreement": round(agree["steps", "one_step"] / n, 5),
                             "top1_agreement_with_exact": round(agree["steps", "exact"] / n, 5),
                             "one_step_top1_agreement_with_exact": round(agree["one_step", "exact"] / n, 5),
                             "max_pixel_difference": worst})
                print(rows[-1], flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model28", default="benchmarks/models/fashion-mnist-edge-cnn/model.keras")
    parser.add_argument("--model224", help="a 224x224 RGB Keras model trained on photos (e.g. the folder benchmark's)")
    parser.add_argument("--frames", type=int, default=1000)
    parser.add_argument("--data", default="fashion-mnist-mini", help="whose test photos (fashion-mnist: 10 000)")
    parser.add_argument("--answers-only", action="store_true", help="no speed rows (for a separate --json)")
    parser.add_argument("--json", default=str(RESULTS / "preprocess_speed.json"))
    args = parser.parse_args()
    cv2.setNumThreads(1)
    from edgecls.toolkit.data import load_dataset

    images = load_dataset(args.data).x_test[: args.frames, :, :, 0]
    models = {"edge-cnn 28x28 GRAY (full Fashion-MNIST)": args.model28}
    if args.model224:
        models["mobilenet_v2 224x224 RGB (photo folder)"] = args.model224
    result = {"opencv": cv2.__version__, "threads": 1, "data": args.data}
    if not args.answers_only:
        result["speed"] = speed_rows()
    result["answers"] = answer_rows(models, images)
    Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
