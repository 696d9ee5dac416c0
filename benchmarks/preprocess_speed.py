"""Preprocessing: the runtime's exact area average against 2x2 block-mean steps, speed and answers, in one run.

    python benchmarks/preprocess_speed.py [--model28 KERAS] [--model224 KERAS] [--frames 1000]
        [--data fashion-mnist-mini] [--answers-only] [--json benchmarks/results/preprocess_speed.json]

``to_model_input`` shrinks a frame with one INTER_AREA resize of the whole view (every pixel
averaged, rounded once), converting a GRAY model's frame first and swapping an RGB model's channels
after. The alternative measured here and taken out again (stop 36 shipped it; its answers below are why):
halve by 2x2 block means (OpenCV's fastest area path) while the halved image stays at least 8x the
model's size, then one small area resize, each step rounded to 8 bits.

Speed: 1 OpenCV thread, p50 of 300 calls each, the two alternating, per frame size, model size,
colour and resize mode. Answers: top-1 of real Keras models on real test photos (Fashion-MNIST
test images, upscaled bicubic into the centre of a camera-sized frame over a smooth background),
preprocessed by the runtime, by the steps and exactly (the float64 area mean of the luminance or of
each channel, rounded once); the share of frames where the answers agree, and the largest pixel
difference from the exact mean.
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


HALVE_ABOVE = 8  # the steps halve while the result keeps 8 or more source pixels per output pixel and side


def halving_steps(frame: np.ndarray, size: int, color: str, mode: str) -> np.ndarray:
    """The alternative not taken: 2x2 block means while the halved image stays >= 8x the model, then one area
    resize, colours converted after (stop 36's path)."""
    image = center_crop(frame, size, size) if mode == "crop" else frame
    whole = image.shape[0] % size == 0 and image.shape[1] % size == 0  # whole factors: one exact block mean
    while not whole and image.shape[0] % 2 == 0 and image.shape[1] % 2 == 0 \
            and min(image.shape[:2]) >= 2 * HALVE_ABOVE * size:
        image = cv2.resize(image, (image.shape[1] // 2, image.shape[0] // 2), interpolation=cv2.INTER_AREA)
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(convert_color(out, color))


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
                t = p50_us({"runtime": lambda: to_model_input(frame, size, size, color, mode),
                            "steps": lambda: halving_steps(frame, size, color, mode)})
                rows.append({"frame": f"{width}x{height}", "model": f"{size}x{size} {color}", "resize": mode,
                             "runtime_us": round(t["runtime"]), "steps_us": round(t["steps"]),
                             "steps_over_runtime": round(t["steps"] / t["runtime"], 2)})
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
    """Top-1 of the runtime's pixels and of the steps' against the exact mean's, and their largest pixel error."""
    import keras

    rows = []
    paths = {"runtime": lambda f, size, color, mode: to_model_input(f, size, size, color, mode),
             "steps": halving_steps, "exact": exact}
    for label, path in models.items():
        model = keras.models.load_model(path, compile=False)
        size, channels = int(model.input_shape[1]), int(model.input_shape[-1])
        color = "GRAY" if channels == 1 else "RGB"
        for height, width in FRAMES:
            for mode in ("crop", "stretch"):
                agree, worst = {"runtime": 0, "steps": 0}, {"runtime": 0, "steps": 0}
                for start in range(0, len(images), chunk):  # frames a chunk at a time: 1 000 720p frames are 2.8 GB
                    frames = list(camera_frames(images[start : start + chunk], height, width, seed=start))
                    pixels = {k: np.stack([fn(f, size, color, mode) for f in frames]) for k, fn in paths.items()}
                    top1 = {k: model.predict(v, verbose=0, batch_size=250).argmax(1) for k, v in pixels.items()}
                    for k in agree:
                        agree[k] += int((top1[k] == top1["exact"]).sum())
                        worst[k] = max(worst[k], int(np.abs(pixels[k].astype(int) - pixels["exact"]).max()))
                n = len(images)
                rows.append({"model": label, "frame": f"{width}x{height}", "resize": mode, "frames": n,
                             **{f"{k}_top1_agreement_with_exact": round(v / n, 5) for k, v in agree.items()},
                             **{f"{k}_max_pixel_error": v for k, v in worst.items()}})
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
