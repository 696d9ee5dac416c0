"""``edgecls verify``: the parity gate again, on the device, without TensorFlow.

``edgecls export`` writes ``reference.npz`` beside the artifacts: a class-stratified few
hundred test images as the uint8 pixels the artifacts take, their true classes and the
original model's probabilities. On the device every artifact classifies them again with
the device's own kernels (int8 rounding differs between x86-64 and arm64), and the gate of
``parity.json`` applies to what it gives there. ``images=`` adds the user's own frames,
where no original runs: there each artifact is compared with the export's float one.

Example::

    from edgecls.runtime.verify import verify_export
    report = verify_export("runs/mini/export")
    print(report["passed"], [r["agreement"] for r in report["artifacts"]])
"""

from __future__ import annotations

import io
import platform
import time
import zipfile
from pathlib import Path

import numpy as np

from edgecls import fileio, limits
from edgecls.errors import EdgeclsError, clean_text
from edgecls.runtime import parity
from edgecls.runtime.classifier import Classifier
from edgecls.runtime.sources import list_images, read_image
from edgecls.runtime.stats import Reservoir

REFERENCE = "reference.npz"
REFERENCE_BYTES = 1 << 20  # pixels kept: about 1 MB, at least MIN_IMAGES and at most MAX_IMAGES images
MIN_IMAGES, MAX_IMAGES = 32, 500
ARRAYS = {"x": np.uint8, "y": np.int64, "probs": np.float32}


def reference_count(image_shape: tuple[int, ...]) -> int:
    """How many test images the reference set keeps at this image size.

    >>> reference_count((28, 28, 1)), reference_count((32, 32, 3)), reference_count((224, 224, 3))
    (500, 341, 32)
    """
    return int(np.clip(REFERENCE_BYTES // int(np.prod(image_shape)), MIN_IMAGES, MAX_IMAGES))


def reference_bytes(x: np.ndarray, y: np.ndarray, probs: np.ndarray) -> bytes:
    """The reference set as compressed .npz bytes (no pickled objects: names live in parity.json)."""
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x.astype(np.uint8), y=y.astype(np.int64), probs=probs.astype(np.float32))
    return buffer.getvalue()


def load_reference(path: Path) -> dict[str, np.ndarray]:
    """The reference arrays, checked: sizes before decompressing, then dtypes and shapes."""
    limits.check_zip(path, "reference set written by edgecls export")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in ARRAYS}
    except EdgeclsError:
        raise
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise EdgeclsError(f"{path}: not a reference set written by edgecls export ({exc})") from exc
    x, y, probs = arrays["x"], arrays["y"], arrays["probs"]
    if any(arrays[name].dtype != dtype for name, dtype in ARRAYS.items()) or x.ndim != 4 or \
            y.shape != (len(x),) or probs.ndim != 2 or len(probs) != len(x) or not len(x):
        raise EdgeclsError(f"{path}: damaged reference set (shapes {x.shape}, {y.shape}, {probs.shape})")
    return arrays


def frame_latency(clf: Classifier, x: np.ndarray, frames: int = 100) -> dict[str, float]:
    """Per-frame latency in ms (p50, p95) of ``clf`` on up to ``frames`` reference images, one at a time."""
    times = Reservoir(frames)
    for i in range(min(frames, len(x))):
        start = time.perf_counter()
        clf.predict(x[i : i + 1])
        times.add((time.perf_counter() - start) * 1000)
    return times.percentiles((50, 95))


def _artifacts(folder: Path, report: dict, only: list[str] | None = None) -> list[Path]:
    """The export's artifacts as parity.json lists them, or the ``only`` ones among them."""
    names = [Path(row["artifact"]).name for row in report.get("artifacts", [])]
    if not names:
        raise EdgeclsError(f"{folder}/parity.json lists no artifacts")
    unknown = sorted(set(only or []) - set(names))
    if unknown:
        raise EdgeclsError(f"--artifact {clean_text(', '.join(unknown))}: not in this export "
                           f"(it has {', '.join(names)})")
    return [folder / name for name in names if not only or name in only]


def verify_export(folder: str | Path, *, images: str | Path | None = None, threads: int | None = None,
                  device: str = "auto", only: list[str] | None = None) -> dict:
    """Every artifact of an export (or the ``only`` ones) on its reference set (and on ``images``),
    gated as at export."""
    folder = Path(folder)
    for needed in ("parity.json", REFERENCE):
        if not (folder / needed).is_file():
            raise EdgeclsError(f"{clean_text(folder)} has no {needed}: verify takes an export folder written by "
                               "`edgecls export` (export again with this version for a reference set)")
    report = fileio.read_json(folder / "parity.json")
    gate = report.get("gate", {})
    ref = load_reference(folder / REFERENCE)
    rows, classifiers = [], {}
    for path in _artifacts(folder, report, only):
        clf = classifiers[path.name] = Classifier(path, threads=threads, device=device, warmup=False)
        probs = clf.predict(ref["x"])
        row = {"artifact": path.name, "size_bytes": path.stat().st_size, "device": clf.backend.device,
               **parity.compare(ref["probs"], probs, ref["y"], clf.labels or [str(c) for c in range(probs.shape[1])])}
        row["failures"] = parity.gate_failures(row, gate.get("max_drop_points", 1.0), gate.get("min_agreement", 0.99),
                                               gate.get("max_class_drop_points"))
        row["passed"] = not row["failures"]
        row["latency_ms"] = frame_latency(clf, ref["x"])
        rows.append(row)
    result = {"export": str(folder), "machine": f"{platform.system()} {platform.machine()}",
              "python": platform.python_version(), "samples": int(len(ref["y"])), "gate": gate,
              "artifacts": rows, "passed": all(r["passed"] for r in rows)}
    if images is not None:
        base = float_reference(folder, report)
        reference = classifiers.get(base.name) or Classifier(base, threads=threads, device=device, warmup=False)
        result["images"] = agreement_on_images(classifiers, reference, Path(images))
    return result


def fastest_passing(folder: str | Path, *, threads: int | None = None, device: str = "auto",
                    kind: str | None = None) -> tuple[Path, str]:
    """The file of an export to run here: of those that pass their gate on this machine (verified on its
    reference set with this machine's kernels), the one with the lowest per-frame p50; and a line saying
    which and why. int8 is not always the fastest on x86 (a repaired file can be slower than fp32).
    ``kind`` ("tflite" or "onnx") limits the choice to one runtime."""
    from edgecls.runtime.metadata import artifact_kind

    folder = Path(folder)
    if not (folder / "parity.json").is_file():
        raise EdgeclsError(f"{clean_text(folder)} is a folder without parity.json: give a model file, or an export "
                           "folder written by `edgecls export`")
    result = verify_export(folder, threads=threads, device=device)
    rows = sorted((r for r in result["artifacts"] if r["passed"] and
                   (kind is None or artifact_kind(folder / r["artifact"]) == kind)),
                  key=lambda r: r["latency_ms"]["p50"])
    if not rows:
        raise EdgeclsError(f"{clean_text(folder)}: no {kind or 'model'} file there passes its gate on this machine "
                           f"(`edgecls verify {clean_text(folder)}` shows each one)")
    best, others = rows[0], ", ".join(f"{r['artifact']} {r['latency_ms']['p50']:.3f}" for r in rows[1:])
    why = (f"{best['artifact']}: the fastest of the {len(rows)} files that pass the gate on this machine "
           f"({best['latency_ms']['p50']:.3f} ms a frame, p50{'; ' + others + ' ms' if others else ''})")
    return folder / best["artifact"], why


def float_reference(folder: Path, report: dict) -> Path:
    """The export's fp32 artifact: where no original runs, the closest thing to it (the first fp32 file
    parity.json lists, whether or not it is among those verified)."""
    for row in report.get("artifacts", []):
        if str(row.get("format", "")).endswith("-fp32") and (folder / Path(row["artifact"]).name).is_file():
            return folder / Path(row["artifact"]).name
    raise EdgeclsError(f"--images: {clean_text(folder)} has no fp32 artifact to compare with (export it too: "
                       "--formats tflite-fp32,...)")


def agreement_on_images(classifiers: dict[str, Classifier], reference: Classifier, images: Path) -> dict:
    """Top-1 agreement of every artifact (name -> its open Classifier) with ``reference`` (the export's
    fp32 one) on the user's own frames."""
    paths = list_images(images) if images.is_dir() else [images]
    if not paths:
        raise EdgeclsError(f"--images {clean_text(images)}: no images there")
    frames = [read_image(p) for p in paths[:MAX_IMAGES]]

    def answers(clf: Classifier) -> np.ndarray:
        return clf.predict(np.stack([clf.preprocess(f) for f in frames])).argmax(1)

    expected = answers(reference)
    return {"images": len(frames), "against": Path(reference.path).name,
            "agreement": {n: float((answers(clf) == expected).mean()) for n, clf in classifiers.items()}}


def format_report(result: dict) -> str:
    """The export's parity table, measured here, then latency on this device and the images' agreement."""
    count = len(result["artifacts"])
    lines = [f"{result['machine']}, Python {result['python']}: {count} artifact{'s' * (count != 1)} on "
             f"{result['samples']} reference images",
             parity.format_table(result["artifacts"]), "",
             f"{'artifact':<20} {'device':<24} {'p50 ms':>8} {'p95 ms':>8}"]
    for r in result["artifacts"]:
        lines.append(f"{r['artifact']:<20} {r['device']:<24} {r['latency_ms']['p50']:>8.3f} "
                     f"{r['latency_ms']['p95']:>8.3f}")
    if "images" in result:
        seen = result["images"]
        lines.append(f"\non {seen['images']} of your images, top-1 agreement with {seen['against']}: " +
                     ", ".join(f"{n} {a:.4f}" for n, a in seen["agreement"].items()))
    return "\n".join(lines)
