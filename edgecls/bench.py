"""``edgecls bench``: size, accuracy, agreement and speed of every format beside the original.

All numbers come from one process on the same inputs (cold start and peak memory from a
fresh subprocess per artifact, so they are not polluted by the others).

Example::

    from edgecls.bench import bench
    rows = bench("runs/mini", iterations=200)
    print(format_markdown(rows))
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from edgecls import console
from edgecls.errors import EdgeclsError, first_line
from edgecls.runtime import confidence
from edgecls.runtime.devices import onnx_providers


COLD_START = """
import json, sys, time
t0 = time.perf_counter()
from edgecls.runtime import Classifier
import numpy as np
clf = Classifier(sys.argv[1], warmup=False, threads=1)
clf.predict(np.zeros((1, clf.height, clf.width, clf.channels), np.uint8))
first = time.perf_counter() - t0
x = np.load(sys.argv[2])
for i in range(len(x)):
    clf.predict(x[i : i + 1])
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0].split()[1]  # kB; reset by exec, unlike ru_maxrss
print(json.dumps({"cold_start_s": first, "peak_rss_mb": int(hwm) / 1024}))
"""


def time_calls(fn, *, iterations: int, seconds: float, warmup: int = 10) -> np.ndarray:
    """Per-call seconds of ``fn()``: ``warmup`` untimed calls, then up to ``iterations`` or ``seconds``."""
    for _ in range(warmup):
        fn()
    times = []
    deadline = time.perf_counter() + seconds
    while len(times) < iterations and (len(times) < 5 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.array(times)


def _latency(times: np.ndarray) -> dict:
    p50, p95, p99 = np.percentile(times * 1e3, [50, 95, 99])
    return {"p50_ms": float(p50), "p95_ms": float(p95), "p99_ms": float(p99), "n": int(len(times))}


def cold_start(path: Path, images_npy: Path) -> dict:
    """Import + load + first inference, and peak RSS after the saved images, in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", COLD_START, str(path), str(images_npy)],
                          capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise EdgeclsError(f"{path}: cold-start run failed: {first_line(proc.stderr.strip().splitlines()[-1:] or ['?'])}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _artifact_paths(src, artifacts: list[str] | None, source: str) -> list[Path]:
    """The artifacts to measure: those given, else every registered one in the run's export/."""
    from edgecls.export.artifacts import FILENAMES
    from edgecls.runtime.metadata import read_metadata
    from edgecls.toolkit.rundir import sha256

    export = src.default_export
    paths = [Path(a) for a in artifacts] if artifacts else [export / n for n in FILENAMES if (export / n).exists()]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise EdgeclsError(f"artifact not found: {', '.join(missing)} (run `edgecls export {source} --int8` first)")
    if not paths:
        raise EdgeclsError(f"no artifacts in {export}: run `edgecls export {source} --int8` first")
    model_sha = sha256(src.model_path)
    for path in paths:
        made_from = (read_metadata(path) or {}).get("source_sha256")
        if made_from and made_from != model_sha:
            raise EdgeclsError(f"{path} was exported from another version of {src.model_path.name} "
                               f"(source_sha256 differs): run `edgecls export {source}` again")
    return paths


def _device_for(path: Path, device: str, notes: list[str]) -> str:
    """``device`` for an .onnx; a .tflite runs on LiteRT's CPU kernels whatever was asked (said once)."""
    if device == "gpu" and path.suffix.lower() == ".tflite":
        note = "--device gpu: .tflite files measured on the CPU (LiteRT XNNPACK); .onnx files on the GPU"
        if note not in notes:
            notes.append(note)
        return "cpu"
    return device


def _keras_device() -> str:
    """CPU or GPU: where Keras places the original model (its backend's first device)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.devices()[0].platform.upper()
    import tensorflow as tf

    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def _keras_row(model, model_path: Path, x, y, reference, iterations: int, seconds: float, many) -> dict:
    """The original Keras model, per frame (``model(x)``) and on a batch (``predict``), all cores."""
    one = x[:1]
    per_frame = time_calls(lambda: model(one, training=False), iterations=iterations, seconds=seconds)
    batched = time_calls(lambda: model.predict(many, verbose=0), iterations=max(iterations // 10, 5),
                         seconds=seconds, warmup=2)
    return {"format": "keras", "artifact": model_path.name, "device": _keras_device(),
            "size_bytes": model_path.stat().st_size,
            "accuracy": float((reference.argmax(1) == y).mean()), "agreement": 1.0,
            "accepted": None, "latency_1thread": None, "latency_all_cores": _latency(per_frame),
            "throughput_batch": float(len(many) / np.median(batched)),
            "latency_predict_batch": _latency(batched), "cold_start_s": None, "peak_rss_mb": None}


def _artifact_row(path: Path, x, y, reference, device: str, cores: int, iterations: int, seconds: float,
                  many, images_npy: Path) -> dict:
    """Accuracy, agreement, latency at 1 and all threads, batch throughput and cold start of one file."""
    from edgecls.runtime import Classifier

    first = Classifier(path, threads=cores, device=device)
    out = first.predict(x)
    with_unknown = first.unknown is not None
    kept = confidence.accepted(out) if with_unknown else np.ones(len(out), bool)  # accuracy and agreement on these
    answers = out.argmax(1)

    def share_right(truth):  # of the images kept (none kept: none right)
        return None if truth is None else float((answers == truth)[kept].mean()) if kept.any() else 0.0

    row = {"format": f"{path.suffix[1:]}-{path.stem.split('_', 1)[-1]}", "artifact": path.name,
           "device": first.backend.device, "size_bytes": path.stat().st_size, "accuracy": share_right(y),
           "agreement": share_right(None if reference is None else reference.argmax(1)),
           "accepted": float(kept.mean()) if with_unknown else None}
    for threads, key in ((1, "latency_1thread"), (cores, "latency_all_cores")):
        clf = Classifier(path, threads=threads, device=device)
        row[key] = _latency(time_calls(lambda: clf.predict(x[:1]), iterations=iterations, seconds=seconds))
    row["throughput_batch"] = None
    if clf.supports_batch:
        t = time_calls(lambda: clf.predict(many), iterations=max(iterations // 10, 5), seconds=seconds, warmup=2)
        row["throughput_batch"] = float(len(many) / np.median(t))
    return row | cold_start(path, images_npy)


UNKNOWN_NOTE = ("files with an unknown class: accuracy and agreement on the test images each one keeps "
                "(known kept: their share; the rest it calls unknown)")


def _notes_for(rows: list[dict], notes: list[str]) -> list[str]:
    """``notes``, and what the columns mean where a file has an unknown class."""
    return notes + [UNKNOWN_NOTE] * any(r.get("accepted") is not None for r in rows)


def is_artifact(source: str) -> bool:
    """Whether ``source`` is an exported .tflite/.onnx file (benchmarked alone) rather than a run or model."""
    return Path(source).is_file() and Path(source).suffix.lower() in (".tflite", ".onnx")


def _test_images(ds, limit: int | None):
    """The test split, or a class-stratified sample of ``limit`` images of it."""
    from edgecls.toolkit.data import stratified_sample

    keep = stratified_sample(ds.y_test, limit, 0) if limit else np.arange(len(ds.y_test))  # every class, in proportion
    return ds.x_test[keep], ds.y_test[keep]


def _artifact_test_images(clf, data: str, limit: int | None):
    """``data``'s test split as ``clf`` takes it: split as the artifact's run split it (its metadata's
    ``split_seed``), decoded at its size, and converted to its colours as the runtime converts a frame
    (gray images for an RGB input, as every .tflite takes). Returns (x, y), the dataset's name, and a
    note when the run's split is unknown."""
    from edgecls.toolkit.data import load_dataset

    seed = (clf.metadata or {}).get("split_seed")
    seed = seed if isinstance(seed, int) and 0 <= seed < 2**32 else None  # metadata is untrusted
    record = source_split_record(clf, data)
    ds = load_dataset(data, image_size=clf.height, channels=clf.channels, resize=clf.resize,
                      seed=0 if seed is None else int(seed), split_record=record or None)
    if ds.image_shape[:2] != (clf.height, clf.width):
        raise EdgeclsError(f"--data {ds.name} has {ds.image_shape} images but {clf.path} takes "
                           f"{(clf.height, clf.width, clf.channels)}")
    x, y = _test_images(ds, limit)
    if ds.image_shape[2] != clf.channels:
        x = np.stack([clf.preprocess(image, source="RGB") for image in x])
    note = None
    if seed is None and ds.split.get("test_carved"):
        note = (f"measured on all {len(y)} test images of {ds.name} split with seed 0: {clf.path.name} does not "
                "record its run's split, so some may be images it was trained on")
    elif not record and ds.split.get("test_carved"):
        note = (f"split with its run's seed {seed} (the run's split.csv is not beside {clf.path.name}): if files were "
                "added since training, or the run used --init, a few test images may be ones it was trained on")
    return (x, y), ds.name, note


def source_split_record(clf, data: str) -> dict[str, str]:
    """The split file by file of the run the artifact was exported from, where the artifact still sits in
    that run's export folder (``RUN/export/FILE``), the run's model is the one it was made from (its
    ``source_sha256``) and the run trained on ``data``: with it, files added to the folder since never
    bring training images into the test split. Empty otherwise."""
    from edgecls.toolkit.rundir import RunDir, sha256

    run = RunDir(Path(clf.path).resolve().parent.parent)
    if not run.finished() or not Path(data).is_dir():
        return {}
    try:
        record, trained_on = run.split_record(), run.config().get("data")
    except (EdgeclsError, AttributeError):  # files of that name that are not an edgecls run's
        return {}
    same_data = bool(record) and isinstance(trained_on, str) and Path(trained_on).resolve() == Path(data).resolve()
    return record if same_data and sha256(run.model) == (clf.metadata or {}).get("source_sha256") else {}


def bench_artifact(path: str, *, data: str | None = None, iterations: int = 300, seconds: float = 2.0,
                   batch: int = 32, device: str = "auto", limit: int | None = None) -> dict:
    """One exported file alone, without its run or Keras: size, latency, throughput, cold start,
    and its accuracy when ``data`` names a labelled dataset (decoded as the file's metadata says)."""
    from edgecls.runtime import Classifier

    clf = Classifier(path, warmup=False)
    x, y, name = np.random.default_rng(0).integers(0, 256, (batch, clf.height, clf.width, clf.channels),
                                                  dtype=np.uint8), None, None
    notes: list[str] = []
    if data:
        (x, y), name, note = _artifact_test_images(clf, data, limit)
        notes += [note] if note else []
    with tempfile.TemporaryDirectory(prefix="edgecls-bench-") as inputs_dir:
        np.save(Path(inputs_dir) / "inputs.npy", x[:200])
        row = _artifact_row(Path(path), x, y, None, device, os.cpu_count() or 1, iterations, seconds, x[: min(batch, len(x))], Path(inputs_dir) / "inputs.npy")
    return {"source": str(path), "dataset": name, "samples": 0 if y is None else int(len(y)), "batch": min(batch, len(x)),
            "cores": os.cpu_count() or 1, "device": device, "notes": _notes_for([row], notes), "rows": [row]}


def bench(source: str, *, artifacts: list[str] | None = None, data: str | None = None, labels: str | None = None,
          iterations: int = 300, seconds: float = 2.0, batch: int = 32, device: str = "auto", limit: int | None = None,
          include_original: bool = True, contract=None) -> dict:
    """Benchmark the run's original model and its exported artifacts (or the given ones).

    A model file trained elsewhere gets its input contract declared (``contract``) or measured.
    """
    from edgecls.toolkit.contract import adopt
    from edgecls.toolkit.evaluate import predict
    from edgecls.toolkit.modelfile import load_model
    from edgecls.toolkit.rundir import resolve_source

    src = resolve_source(source, labels, data, contract)
    paths = _artifact_paths(src, artifacts, source)
    if device == "gpu" and any(p.suffix.lower() == ".onnx" for p in paths):
        onnx_providers("gpu")  # no GPU provider: one line now, not after the TFLite rows
    model = load_model(str(src.model_path))
    src.fit_options(model)
    ds = src.load()
    x, y = _test_images(ds, limit)
    notes: list[str] = []
    cores = os.cpu_count() or 1
    if src.foreign:  # measured like export does, so the reference is the model under its own contract
        model, _, line = adopt(model, src.contract, ds, src.options.get("seed", 0))
        console.info(line)
    if tuple(model.input_shape[1:]) != ds.image_shape:
        raise EdgeclsError(f"--data {ds.name} has {ds.image_shape} images but the model takes {tuple(model.input_shape[1:])}")
    reference = predict(model, x)
    many = x[: min(batch, len(x))]
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecls-bench-") as inputs_dir:
        images_npy = Path(inputs_dir) / "inputs.npy"
        np.save(images_npy, x[:200])  # what every cold-start process classifies
        if include_original:
            console.progress(0, len(paths) + 1, "original Keras model")
            rows.append(_keras_row(model, src.model_path, x, y, reference, iterations, seconds, many))
        for i, path in enumerate(paths):
            console.progress(i + 1, len(paths) + 1, path.name)
            rows.append(_artifact_row(path, x, y, reference, _device_for(path, device, notes), cores, iterations,
                                      seconds, many, images_npy))
        console.progress(len(paths) + 1, len(paths) + 1, "done")
    return {"source": str(src.model_path), "dataset": ds.name, "samples": int(len(y)),
            "class_counts": np.bincount(y, minlength=ds.num_classes).tolist(), "batch": int(len(many)),
            "cores": cores, "device": device, "notes": _notes_for(rows, notes), "rows": rows}


def _cells(r: dict) -> list[str]:
    """One row's values as text, in the column order of both tables."""
    one, allc = r["latency_1thread"] or {}, r["latency_all_cores"]

    def ms(d, key):
        return f"{d[key]:.3f}" if d else "-"

    def share(value):
        return "-" if value is None else f"{value:.4f}"

    return [r["artifact"], r.get("device") or "-", f"{r['size_bytes'] / 1024:.0f}", share(r["accuracy"]), share(r["agreement"]),
            share(r.get("accepted")),
            ms(one, "p50_ms"), ms(one, "p95_ms"), ms(one, "p99_ms"), ms(allc, "p50_ms"),
            f"{r['throughput_batch']:.0f}" if r.get("throughput_batch") else "-",
            f"{r['cold_start_s']:.3f}" if r.get("cold_start_s") is not None else "-",
            f"{r['peak_rss_mb']:.0f}" if r.get("peak_rss_mb") is not None else "-"]


def _headers(result: dict) -> list[str]:
    return ["artifact", "device", "size KB", "accuracy", "agreement", "known kept", "p50 ms 1 thread", "p95 ms", "p99 ms",
            f"p50 ms {result['cores']} threads", f"img/s batch {result['batch']}", "cold start s", "peak RSS MB"]


def format_table(result: dict) -> str:
    """Aligned text; the keras row times ``model(x, training=False)`` per frame on all cores
    (Keras has no per-call thread setting, so its 1-thread columns are empty)."""
    rows = [_headers(result)] + [_cells(r) for r in result["rows"]]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + result["notes"])


def format_markdown(result: dict) -> str:
    rows = [_headers(result)] + [_cells(r) for r in result["rows"]]
    lines = ["| " + " | ".join(row) + " |" for row in rows]
    lines.insert(1, "|---" + "|---:" * (len(rows[0]) - 1) + "|")
    return "\n".join(lines)
