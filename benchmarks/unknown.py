"""Does the exported ``unknown`` class know when the model doesn't? Figures for the README (issue 32).

    python benchmarks/unknown.py                       # both parts, about 10 minutes on 2 cores
    python benchmarks/unknown.py --part heldout        # the near-distribution check alone (the sample)
    python benchmarks/unknown.py --part heldout --heldout-data fashion-mnist   # on the full data (trains ~20 min)
    python benchmarks/unknown.py --from-json benchmarks/results/unknown.json  # the README's tables, no measuring

Two parts, every figure measured in this one run and written to ``benchmarks/results/unknown.json``:

1. **Held-out classes** (runs on the embedded sample, anyone can repeat it): edge-cnn trained on 8 of
   the 10 Fashion-MNIST classes; frames of the other 2 (Bag, Ankle boot) should be unknown. Each
   detector is scored on the same features at the same acceptance of known test images (the share
   the exported file keeps): the top-probability threshold (all MediaPipe Tasks offers), energy,
   kNN on normalised features, Mahalanobis at several shrinkages and relative Mahalanobis. The
   exported int8 TFLite file is then measured itself.
2. **The full model** (needs ``apt-get install dataset-fashion-mnist``): the committed full
   Fashion-MNIST edge-cnn exported with its unknown class, int8 TFLite: test images kept, their
   accuracy, ECE before and after calibration, false accepts on flat, noise and blurred-texture
   frames and on real handwritten digits (scikit-learn's bundled digits, upscaled), beside the
   top-probability threshold at the same acceptance; and what the extra output costs in latency
   (int8 with and without it, alternating rounds, medians).
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

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "unknown.json"
FULL_MODEL = ROOT / "benchmarks" / "models" / "fashion-mnist-edge-cnn"
HELD_OUT = ["Bag", "Ankle boot"]


def edgecls(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "edgecls.cli", *args], check=True)


def held_out_data(folder: Path, data: str = "fashion-mnist-mini"):
    """``data`` without the held-out classes as an .npz, and the held-out images (train and test)."""
    from edgecls.toolkit.data import load_dataset

    ds = load_dataset(data)
    out = [ds.class_names.index(n) for n in HELD_OUT]
    x, y = np.concatenate([ds.x_train, ds.x_val]), np.concatenate([ds.y_train, ds.y_val])
    keep, keep_test = ~np.isin(y, out), ~np.isin(ds.y_test, out)
    names = [n for n in ds.class_names if n not in HELD_OUT]
    remap = {c: i for i, c in enumerate(c for c in range(10) if c not in out)}
    npz = folder / "fm8.npz"
    np.savez(npz, x_train=x[keep][..., 0], y_train=[remap[c] for c in y[keep]], x_test=ds.x_test[keep_test][..., 0],
             y_test=[remap[c] for c in ds.y_test[keep_test]], class_names=np.array(names))
    return npz, np.concatenate([x[~keep], ds.x_test[~keep_test]])


def detectors(model, ds, probes: dict[str, np.ndarray]) -> dict:
    """Each method's false accepts on every probe set, at 95% acceptance of validation images, with
    thresholds set on validation images. The distances read edgecls' description (the classifier's
    features and each earlier stage's average); the last row reads the classifier's features alone."""
    from edgecls.runtime import confidence
    from edgecls.toolkit.unknown import BETA, SHRINKAGE, _described, classifier_parts

    described = {"train": _described(model, ds.x_train), "val": _described(model, ds.x_val),
                 "test": _described(model, ds.x_test), **{n: _described(model, x) for n, x in probes.items()}}
    f_train = described["train"][0]
    temperature = confidence.fit_temperature(described["val"][1], ds.y_val)

    def msp(f, z):
        return -confidence.softmax(z / temperature).max(axis=1)

    def energy(f, z):
        z = z / temperature
        return -(z.max(axis=1) + np.log(np.exp(z - z.max(axis=1, keepdims=True)).sum(axis=1)))

    def mahalanobis(ridge):
        means, precision = confidence.fit_gaussian(f_train, ds.y_train, ds.num_classes, ridge)
        return lambda f, z: confidence.min_distance(f, means, precision)

    def relative(beta, columns=slice(None)):
        means, precision = confidence.fit_gaussian(f_train[:, columns], ds.y_train, ds.num_classes, SHRINKAGE)
        priors = np.bincount(ds.y_train, minlength=ds.num_classes) / len(ds.y_train)
        return lambda f, z: confidence.relative_distance(f[:, columns], means, precision, priors, beta)

    unit = f_train / np.linalg.norm(f_train, axis=1, keepdims=True).clip(1e-12)

    def knn(f, z, k=50):
        g = f / np.linalg.norm(f, axis=1, keepdims=True).clip(1e-12)
        return -np.sort(g @ unit.T, axis=1)[:, -k]

    features = slice(f_train.shape[1] - classifier_parts(model)[0][-1].shape[-1], None)  # the classifier's input, last
    methods = {"top probability (calibrated)": msp, "energy": energy, "kNN, normalised features (k=50)": knn,
               **{f"Mahalanobis, shrinkage {r:g}": mahalanobis(r) for r in (1e-3, 0.1, 1.0)},
               "relative Mahalanobis (Ren et al.), shrinkage 1": relative(1.0),
               f"half relative, shrinkage 1 (edgecls' unknown, beta {BETA})": relative(BETA),
               "half relative, classifier features alone (edgecls before stages)": relative(BETA, features)}
    rows = {}
    for name, score in methods.items():
        threshold = np.quantile(score(*described["val"]), 0.95)
        rows[name] = {"kept_test": round(float((score(*described["test"]) <= threshold).mean()), 4),
                      **{s: round(float((score(*described[s]) <= threshold).mean()), 4) for s in probes}}
    return rows


def top_probability_baseline(model, x_test, kept: float, sets: dict[str, np.ndarray]) -> dict:
    """The raw model's top probability thresholded to keep ``kept`` of the test images (MediaPipe Tasks'
    score_threshold): its false accepts on each set."""
    from edgecls.toolkit.evaluate import predict

    threshold = np.quantile(predict(model, x_test).max(axis=1), 1 - kept)
    return {name: round(float((predict(model, x).max(axis=1) >= threshold).mean()), 4) for name, x in sets.items()}


def artifact_figures(path: Path, x_test, y_test, sets: dict[str, np.ndarray]) -> dict:
    from edgecls.runtime import Classifier, confidence

    clf = Classifier(path, threads=1)
    figures = confidence.unknown_figures(clf.predict(x_test), y_test, {n: clf.predict(x) for n, x in sets.items()})
    return figures


def part_heldout(work: Path, data: str = "fashion-mnist-mini", run: Path | None = None) -> dict:
    """Trains on ``data`` less the held-out classes, or measures ``run``, an edge-cnn already trained so
    (its config names the .npz it trained on)."""
    import keras

    from edgecls.runtime.probes import probes
    from edgecls.toolkit.data import load_dataset

    npz, held = held_out_data(work, data)
    if run is None:
        run = work / "fm8"
        edgecls("train", "--data", str(npz), "--out", str(run), "--overwrite")
    else:
        npz = Path(json.loads((run / "config.json").read_text())["data"])
    edgecls("export", str(run), "--formats", "tflite-int8", "--overwrite", "--out", str(work / "fm8-export"))
    ds = load_dataset(str(npz))
    sets = {**probes(28, 28, 1), "held-out classes": held}
    model = keras.models.load_model(run / "model.keras")
    art = artifact_figures(work / "fm8-export" / "model_int8.tflite", ds.x_test, ds.y_test, sets)
    return {"data": data, "test_images": int(len(ds.y_test)), "held_out": HELD_OUT, "held_out_images": int(len(held)), "detectors": detectors(model, ds, sets),
            "int8_tflite": art, "top_probability_same_acceptance": top_probability_baseline(
                model, ds.x_test, art["accepted"], sets)}


def digits() -> np.ndarray:
    """Real handwritten digits (scikit-learn's bundled 1 797, 8x8, 17 grey levels) at 28x28."""
    import cv2
    from sklearn.datasets import load_digits

    return np.stack([cv2.resize((d * 255 / 16).astype(np.uint8), (28, 28), interpolation=cv2.INTER_LINEAR)
                     for d in load_digits().images])[..., None]


def latency_cost(with_unknown: Path, without: Path, x, rounds: int = 7) -> dict:
    """Median per-frame latency of both int8 files, 1 thread, alternating rounds."""
    from edgecls.runtime import Classifier

    clfs = {"with": Classifier(with_unknown, threads=1), "without": Classifier(without, threads=1)}
    medians = {k: [] for k in clfs}
    for _ in range(rounds):
        for key, clf in clfs.items():
            times = []
            for i in range(300):
                t0 = time.perf_counter()
                clf.predict(x[i % len(x)][None])
                times.append(time.perf_counter() - t0)
            medians[key].append(float(np.median(times)) * 1e3)
    p50 = {k: float(np.median(v)) for k, v in medians.items()}
    return {"p50_ms_with": round(p50["with"], 4), "p50_ms_without": round(p50["without"], 4),
            "ratio": round(p50["with"] / p50["without"], 3), "rounds": rounds}


def part_full(work: Path) -> dict:
    import keras

    from edgecls.runtime.probes import probes
    from edgecls.toolkit.data import load_dataset

    if not Path("/usr/share/datasets/fashion-mnist").is_dir():
        return {"skipped": "needs apt-get install dataset-fashion-mnist"}
    out_on, out_off = work / "full-unknown", work / "full-plain"
    edgecls("export", str(FULL_MODEL), "--formats", "tflite-int8", "--out", str(out_on))
    edgecls("export", str(FULL_MODEL), "--formats", "tflite-int8", "--unknown", "off", "--out", str(out_off))
    config = json.loads((FULL_MODEL / "config.json").read_text())
    ds = load_dataset("fashion-mnist", seed=config.get("split_seed") or config.get("seed", 0))
    sets = {**probes(28, 28, 1), "handwritten digits": digits()}
    art = artifact_figures(out_on / "model_int8.tflite", ds.x_test, ds.y_test, sets)
    report = json.loads((out_on / "parity.json").read_text())
    model = keras.models.load_model(FULL_MODEL / "model.keras")
    return {"test_images": int(len(ds.y_test)), "calibration": report["unknown"], "int8_tflite": art,
            "top_probability_same_acceptance": top_probability_baseline(model, ds.x_test, art["accepted"], sets),
            "latency": latency_cost(out_on / "model_int8.tflite", out_off / "model_int8.tflite", ds.x_test)}


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def markdown(result: dict) -> str:
    """The README's two tables from a run's JSON: the int8 files beside the top probability (the full model, the
    held-out check on the full data and on the sample), and the detectors on the held-out model's features."""
    parts = [(result.get(key), title) for key, title in (
        ("full", "full Fashion-MNIST model"), ("heldout-fashion-mnist", "8 classes, 2 held out (full data)"),
        ("heldout", "8 classes, 2 held out (sample)")) if result.get(key)]
    held = result.get("heldout-fashion-mnist") or result.get("heldout", {})
    names = {"flat": "flat grey frames (32 levels)", "noise": "sensor noise (96)", "texture": "blurred textures (96)",
             "handwritten digits": "handwritten digits (scikit-learn's 1 797)",
             "held-out classes": f"the 2 held-out classes ({', '.join(HELD_OUT)})"}
    lines = ["| frames of nothing it knows | " + " | ".join(f"{t}: `unknown` | top probability" for _, t in parts) + " |",
             "|---|" + "---:|---:|" * len(parts),
             "| known test images kept | " + " | ".join(
                 f"{_pct(p['int8_tflite']['accepted'])} (accuracy {_pct(p['int8_tflite']['accepted_accuracy'])}) | same"
                 for p, _ in parts) + " |"]
    for key, name in names.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{_pct(p['int8_tflite']['false_accepts'].get(key))} | {_pct(p['top_probability_same_acceptance'].get(key))}"
            for p, _ in parts) + " |")
    sets = ["flat", "noise", "texture", "held-out classes"]
    lines += ["", "| detector | known kept | " + " | ".join(sets) + " |", "|---|---:|" + "---:|" * len(sets)]
    lines += [f"| {name} | {_pct(row['kept_test'])} | " + " | ".join(_pct(row.get(s)) for s in sets) + " |"
              for name, row in held.get("detectors", {}).items()]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--part", choices=["heldout", "full", "both"], default="both")
    parser.add_argument("--heldout-data", default="fashion-mnist-mini",
                        help="dataset of the held-out part (fashion-mnist: the full one; trains for a long while)")
    parser.add_argument("--heldout-run", type=Path, help="an 8-class edge-cnn run already trained for it")
    parser.add_argument("--from-json", type=Path, help="print the README's tables of an earlier run, measuring nothing")
    args = parser.parse_args()
    if args.from_json:
        print(markdown(json.loads(args.from_json.read_text())))
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    result = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    with tempfile.TemporaryDirectory(prefix="edgecls-unknown-") as tmp:
        if args.part in ("heldout", "both"):
            key = "heldout" if args.heldout_data == "fashion-mnist-mini" else f"heldout-{args.heldout_data}"
            result[key] = part_heldout(Path(tmp), args.heldout_data, args.heldout_run)
        if args.part in ("full", "both"):
            result["full"] = part_full(Path(tmp))
    result["machine"] = f"{os.cpu_count()} cores, {sys.platform}"
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
