"""``edgecls export``: every artifact of a trained model, self-describing and verified.

Example::

    from edgecls.export import export_model
    report = export_model("runs/mini", int8=True)
    for row in report["artifacts"]:
        print(row["artifact"], row["accuracy"], row["agreement"], row["passed"])

Three steps that can each be called alone: :func:`build` writes the artifacts (with their
metadata) into a staging folder, :func:`verify` runs the parity gate on held-out images,
and :func:`publish` puts the folder in place with one rename. A failed gate publishes the
candidate as ``export.failed/`` beside the export and leaves the previous export untouched.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgecls import __version__, console, fileio
from edgecls.errors import EdgeclsError, GateError, first_line
from edgecls.export import macs, onnx_export, repair, tflite, tflite_metadata
from edgecls.export.artifacts import ARTIFACTS, FILENAMES, Artifact, default_formats
from edgecls.runtime import parity
from edgecls.runtime import verify as verify_set
from edgecls.runtime import confidence
from edgecls.runtime.confidence import UNKNOWN
from edgecls.runtime.metadata import KEY, make_metadata


@dataclass
class Job:
    """Everything the steps share: the float32 model, its data, calibration images, reference."""

    source: object          # edgecls.toolkit.rundir.ModelSource
    model: object           # keras.Model, float32
    dataset: object         # edgecls.toolkit.data.Dataset
    calib: np.ndarray
    reference: np.ndarray   # the original model's probabilities on the test split
    provenance: dict
    labels: list[str] | None = None  # what every artifact answers: the run's classes ("unknown" last, with one)
    probes: dict = field(default_factory=dict)  # name -> frames of nothing it knows (with an unknown class)
    _val_reference: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        if self.labels is None:
            self.labels = list(self.source.labels)

    @property
    def original_accuracy(self) -> float:
        return self.provenance["original_accuracy"]

    def split(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(images, labels, the original's probabilities)`` of the ``"test"`` split (the gate's) or of
        ``"val"`` (what the int8 repair picks its attempt on, so the test figure is measured once)."""
        if name == "test":
            return self.dataset.x_test, self.dataset.y_test, self.reference
        if self._val_reference is None:
            from edgecls.toolkit.evaluate import predict

            self._val_reference = predict(self.model, self.dataset.x_val)
        return self.dataset.x_val, self.dataset.y_val, self._val_reference

    def input_channels(self, artifact: Artifact) -> int:
        """Every .tflite takes RGB (what MediaPipe Tasks feeds; a GRAY model gets the luma folded in front);
        ONNX keeps the model's own channels."""
        return 3 if artifact.backend == "tflite" else self.dataset.image_shape[-1]

    def calibration(self, artifact: Artifact, factor: int = 1) -> np.ndarray:
        """The calibration images in the artifact's input channels (gray ones as three equal channels);
        ``factor`` times as many, class-stratified from the training split, for the int8 repair."""
        images = self.calib
        if factor > 1:
            from edgecls.toolkit.data import stratified_sample

            train_y = self.dataset.y_train
            images = self.dataset.x_train[stratified_sample(train_y, factor * len(self.calib), 0)]
        return np.repeat(images, self.input_channels(artifact) // images.shape[-1], axis=-1)


def select_formats(formats: list[str] | None, int8: bool) -> list[Artifact]:
    """The artifacts asked for (``--formats``), or the defaults."""
    if not formats:
        return default_formats(int8)
    unknown = [f for f in formats if f not in ARTIFACTS]
    if unknown:
        raise EdgeclsError(f"unknown format(s) {', '.join(unknown)}: choose from {', '.join(ARTIFACTS)}")
    return [ARTIFACTS[f] for f in formats]


def _layers(model):
    """Every layer, those of nested models too (a wrapped foreign model is one layer of its wrapper)."""
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _layers(layer)


def _check_model(model, source, ds) -> None:
    import keras

    if len(model.inputs) != 1 or len(model.input_shape) != 4:
        raise EdgeclsError(f"{source.model_path}: expected one image input (N, H, W, C), got {model.input_shape}")
    if tuple(model.input_shape[1:]) != ds.image_shape:
        raise EdgeclsError(f"--data {ds.name} has {ds.image_shape} images but the model takes "
                           f"{tuple(model.input_shape[1:])}")
    classes = model.output_shape[-1]
    if classes != len(source.labels) or classes != ds.num_classes:
        raise EdgeclsError(f"class count mismatch: model {classes}, labels {len(source.labels)}, "
                           f"data {ds.name} {ds.num_classes}")
    custom = [layer.name for layer in _layers(model) if not type(layer).__module__.startswith("keras.")
              or isinstance(layer, keras.layers.Lambda)]
    if custom:
        raise EdgeclsError(f"unsupported layer(s) for export: {', '.join(custom)} (custom or Lambda layers "
                           "cannot be converted reliably; rebuild them from built-in Keras layers)")


def prepare(source, calib: int, unknown: bool = True, known_rate: float = 0.95, ood: str | None = None) -> Job:
    """Load the model and its data, check they fit, give it calibrated probabilities and (with ``unknown``)
    an unknown class (:mod:`edgecls.toolkit.unknown`), predict the reference on the test split."""
    from edgecls.toolkit.contract import adopt
    from edgecls.toolkit.data import stratified_sample
    from edgecls.toolkit.evaluate import predict
    from edgecls.toolkit.modelfile import load_model
    from edgecls.toolkit.precision import float32_model
    from edgecls.toolkit.rundir import sha256

    model = float32_model(load_model(str(source.model_path)))  # no half-precision casts in any artifact
    source.fit_options(model)
    ds = source.load()
    described = {}  # what provenance adds: the adopted input contract, the calibration
    if source.foreign:  # raw pixels in, probabilities out, like every edgecls model
        model, adopted, line = adopt(model, source.contract, ds, source.options.get("seed", 0))
        console.info(line)
        described["input_contract"] = adopted.record()
    _check_model(model, source, ds)
    if len(ds.y_test) == 0:
        raise EdgeclsError(f"{ds.name} has no test images to verify the export on")
    labels = list(source.labels)
    if unknown:
        model, labels, described["unknown"] = _with_unknown(model, ds, labels, known_rate)
        unknown = "skipped" not in described["unknown"]
    calib_x = ds.x_train[stratified_sample(ds.y_train, calib, source.options.get("seed", 0))]
    console.info(f"original {source.model_path}: predicting {len(ds.y_test)} {ds.name} test images")
    reference = predict(model, ds.x_test)
    own_classes = confidence.known_probabilities(reference) if unknown else reference  # the model as trained
    provenance = {"source_sha256": sha256(source.model_path), "dataset": ds.name,
                  "original_accuracy": round(float((own_classes.argmax(1) == ds.y_test).mean()), 6),
                  "split_seed": int(source.options.get("seed", 0)),  # bench FILE --data splits as the run did
                  "edgecls_version": __version__, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  **described}
    return Job(source, model, ds, calib_x, reference, provenance, labels, _probes(ds, source, ood) if unknown else {})


def _with_unknown(model, ds, labels: list[str], known_rate: float):
    """The model with calibrated probabilities and its unknown class, its labels, and what was fitted; where
    that cannot be done (too few validation images, no Dense classifier), the model as it is, with a warning."""
    from edgecls.toolkit.unknown import fit, with_unknown

    console.info(f"calibrating on {len(ds.y_val)} validation images, unknown at {known_rate:.0%} of them kept ...")
    try:
        fitted = fit(model, ds, known_rate)
    except EdgeclsError as exc:
        console.warn(f"exported without the unknown class: {exc}")
        return model, labels, {"skipped": str(exc)}
    return with_unknown(model, fitted), labels + [UNKNOWN], fitted.record()


def _probes(ds, source, ood: str | None) -> dict[str, np.ndarray]:
    """The generated frames of nothing at the data's size and channels, and the user's own (``ood``)."""
    from edgecls.runtime import probes

    h, w, c = ds.image_shape
    sets = probes.probes(h, w, c)
    if ood:
        sets["ood"] = probes.from_folder(ood, h, w, "GRAY" if c == 1 else "RGB", source.resize)
    return sets


def _convert(artifact: Artifact, job: Job, staging: Path, io_dtype: str) -> Path:
    """Write one artifact file into ``staging``."""
    out = staging / artifact.filename
    if artifact.backend == "tflite":
        saved = staging / ("saved_model_int8" if artifact.int8 else "saved_model")
        if not saved.exists():
            tflite.write_saved_model(tflite_source(job, artifact.int8), saved)
        out.write_bytes(tflite.convert(saved, artifact.quantization, calib=job.calibration(artifact),
                                       io_dtype=io_dtype))
        return out
    fp32 = staging / ARTIFACTS["onnx-fp32"].filename
    if not fp32.exists():
        onnx_export.export_fp32(job.model, fp32)
    if artifact.int8:
        onnx_export.quantize_int8(fp32, out, job.calib)
    return out


def tflite_source(job: Job, int8: bool):
    """The Keras model a .tflite is converted from: a GRAY model behind the RGB input every .tflite takes;
    for full int8, a float-input twin, so the input tensor itself is quantized."""
    if job.dataset.image_shape[-1] == 1:
        return tflite.rgb_input_twin(job.model)
    return tflite.float_input_twin(job.model) if int8 else job.model


def _resize_mode(job: Job) -> str:
    """How a runtime should fit frames: as the photo folder was fitted in training; for datasets of
    images already at the model's size and aspect (MNIST-like arrays), the centred crop."""
    return job.source.resize if "layout" in job.dataset.split else "crop"


def _embed(path: Path, meta: dict) -> None:
    """edgecls' JSON in every artifact; in a .tflite also the standard metadata (labels as an associated
    file, colour space, normalization), which MediaPipe Tasks and the TFLite Support library read."""
    if path.suffix != ".tflite":
        onnx_export.embed_metadata(path, KEY, meta)
        return
    data = path.read_bytes()
    standard = tflite_metadata.build(name=f"edgecls {meta['artifact']}",
                                     description=f"Image classifier of {len(meta['labels'])} classes, trained on "
                                                 f"{meta.get('dataset', 'unknown data')}.",
                                     version=meta.get("edgecls_version", ""), channels=meta["input"]["channels"],
                                     float_input=tflite.input_is_float(data))
    data = tflite.embed_metadata(data, {KEY: json.dumps(meta).encode(), tflite_metadata.NAME: standard})
    path.write_bytes(tflite_metadata.append_files(data, {tflite_metadata.LABELS_FILE: fileio.labels_text(meta["labels"]).encode()}))


def _metadata(job: Job, artifact: Artifact, **extra) -> dict:
    """The metadata document of one artifact; ``extra`` (input dtype, a repair's float layers) overrides."""
    h, w, _ = job.dataset.image_shape
    channels = job.input_channels(artifact)
    fields = {"dtype": "uint8", "quantization": artifact.quantization,
              "calibration_images": int(len(job.calib)) if artifact.int8 else 0, **extra}
    return make_metadata(labels=job.labels, height=h, width=w, channels=channels,
                         color="RGB" if channels == 3 else "GRAY", resize=_resize_mode(job),
                         artifact=artifact.name, **fields, **job.provenance)


def build(job: Job, artifacts: list[Artifact], staging: Path, io_dtype: str = "uint8") -> list[dict]:
    """Convert every artifact into ``staging`` and embed its metadata; return one row each."""
    rows = []
    for artifact in artifacts:
        t0 = time.perf_counter()
        console.info(f"building {artifact.filename} ...")
        try:
            with console.native_stderr():
                path = _convert(artifact, job, staging, io_dtype)
        except EdgeclsError:
            raise
        except Exception as exc:
            raise EdgeclsError(f"{artifact.filename}: conversion failed: {first_line(exc)}") from exc
        _embed(path, _metadata(job, artifact, dtype=io_dtype if artifact.name == "tflite-int8" else "uint8"))
        rows.append({"artifact": artifact.filename, "format": artifact.name, "size_bytes": path.stat().st_size,
                     "build_seconds": round(time.perf_counter() - t0, 2)})
    return rows


def measure(job: Job, path: Path, gate: dict, threads: int | None = None, latency: bool = False,
            unknown: bool = False, split: str = "test") -> dict:
    """One artifact on ``split`` against the original: parity and the gate's verdict; with
    ``latency``, its 1-thread p50/p95 too (what the int8 repair weighs against fp32); with ``unknown``,
    what its unknown class keeps and accepts (the probe frames: once per published file, not per attempt)."""
    from edgecls.runtime import Classifier
    from edgecls.runtime.verify import frame_latency

    x, y, reference = job.split(split)
    clf = Classifier(path, threads=threads, warmup=False)
    probs = clf.predict(x)
    row = parity.compare(reference, probs, y, job.labels) | {"split": split}
    row["failures"] = parity.gate_failures(row, gate["max_drop_points"], gate["min_agreement"],
                                           gate["max_class_drop_points"])
    row["passed"] = not row["failures"]
    if unknown and job.probes:
        row["unknown"] = confidence.unknown_figures(probs, y,
                                                    {name: clf.predict(x) for name, x in job.probes.items()})
    if latency:
        row["latency_ms"] = frame_latency(Classifier(path, threads=1), job.dataset.x_test)
    return row


REPAIR_SPLIT = "val"  # the int8 repair picks among its attempts here, never on the test split


def _held_out_agreement(job: Job, staging: Path, images: int = 1000):
    """A scorer of candidate .tflite bytes: top-1 agreement with the float model on ``images``
    class-stratified training images (never the test split, on which the gate is measured)."""
    from edgecls.toolkit.data import stratified_sample
    from edgecls.toolkit.evaluate import predict

    x = job.dataset.x_train[stratified_sample(job.dataset.y_train, images, 1)]
    return tflite_agreement(job, x, predict(job.model, x).argmax(1), staging / "sensitivity.tflite")


def tflite_agreement(job: Job, x: np.ndarray, answers: np.ndarray, probe: Path):
    """A scorer of candidate .tflite bytes (written to ``probe``): top-1 agreement with ``answers`` on ``x``."""
    from edgecls.runtime import Classifier

    def agreement(data: bytes) -> float:
        probe.write_bytes(data)
        clf = Classifier(probe, labels=job.labels, input_size=(*x.shape[1:3], 3), warmup=False)
        return float((clf.predict(x).argmax(1) == answers).mean())

    return agreement


def _repair(job: Job, artifact: Artifact, row: dict, staging: Path, gate: dict, io_dtype: str, threads) -> dict:
    """The int8 repair of one failing artifact (see :mod:`edgecls.export.repair`)."""
    from edgecls.runtime import Classifier
    from edgecls.runtime.verify import frame_latency

    path = staging / artifact.filename
    console.info(f"{artifact.filename} failed the gate: trying the int8 repairs in order ...")
    if artifact.backend == "tflite":
        attempts = repair.tflite_attempts(staging / "saved_model_int8", job.calibration(artifact),
                                          job.calibration(artifact, repair.CALIB_FACTOR), io_dtype,
                                          _held_out_agreement(job, staging))
    else:
        attempts = repair.onnx_attempts(staging / ARTIFACTS["onnx-fp32"].filename, job.calib,
                                        job.calibration(artifact, repair.CALIB_FACTOR))
    fp32 = staging / ARTIFACTS[f"{artifact.backend}-fp32"].filename
    fp32_ms = frame_latency(Classifier(fp32, threads=1), job.dataset.x_test)["p50"] if fp32.exists() else None
    row["latency_ms"] = frame_latency(Classifier(path, threads=1), job.dataset.x_test)
    try:
        return repair.repair(path, row, attempts, lambda p, extra: _embed(p, _metadata(job, artifact, **extra)),
                             lambda p: measure(job, p, gate, threads, latency=True, split=REPAIR_SPLIT), fp32_ms)
    finally:
        (staging / "sensitivity.tflite").unlink(missing_ok=True)


def verify(job: Job, rows: list[dict], staging: Path, gate: dict, *, io_dtype: str = "uint8",
           threads: int | None = None, repair_int8: bool = True) -> list[dict]:
    """The parity gate: each artifact on the test split against the original; rows gain the verdict.
    A failing int8 artifact is repaired first, unless ``repair_int8`` is off."""
    for row in rows:
        artifact = ARTIFACTS[row["format"]]
        row.update(measure(job, staging / row["artifact"], gate, threads, unknown=True))
        if artifact.int8 and not row["passed"] and repair_int8:
            row.update(_repair(job, artifact, dict(row), staging, gate, io_dtype, threads))
            row["size_bytes"] = (staging / row["artifact"]).stat().st_size
            # the attempt was picked on val; the file there now is measured once on test, as every file is
            row.update(measure(job, staging / row["artifact"], gate, threads, unknown=True))
        if row["format"] == "tflite-int8" and not row["passed"]:
            console.info("int8 failed the gate: running the quantization debugger ...")
            with console.native_stderr():
                row["worst_layers"] = tflite.quantization_report(staging / "saved_model_int8",
                                                                 job.calibration(ARTIFACTS["tflite-int8"]), io_dtype)
        if artifact.int8:
            name_int8(row, staging / row["artifact"])
    return rows


def name_int8(row: dict, path: Path) -> None:
    """Record the share of ``path``'s multiply-adds that run in int8; a passing int8 file that is float
    inside (a repair kept most layers float) fails: it is not what its name says (issue 31.20)."""
    share = macs.int8_share(path)
    row["int8_macs"] = None if share is None else round(share, 4)
    if row["passed"] and share is not None and share < macs.INT8_ENOUGH:
        fp32 = row["artifact"].replace("int8", "fp32")
        row["failures"] = [*row["failures"], f"only {share:.0%} of its multiply-adds run in int8 (the rest was kept "
                                             f"float to pass): a float model under an int8 name; ship {fp32}"]
        row["passed"] = False


def slow_repairs(rows: list[dict]) -> list[str]:
    """A line for each repaired int8 file that runs slower than its fp32 twin: a repair that is no answer.

    >>> slow_repairs([{"artifact": "model_int8.tflite", "repair": "16x8", "latency_ms": {"p50": 1.59},
    ...                "fp32_latency_ms": 0.065}])
    ['model_int8.tflite passes only as 16x8, which runs 24.5x slower than model_fp32.tflite (1.590 ms against 0.065 ms a frame on 1 thread): ship model_fp32.tflite or a smaller float file instead']
    """
    lines = []
    for row in rows:
        fp32_ms = row.get("fp32_latency_ms")
        if row.get("repair") and fp32_ms and row["latency_ms"]["p50"] > fp32_ms:
            ms, fp32 = row["latency_ms"]["p50"], row["artifact"].replace("int8", "fp32")
            lines.append(f"{row['artifact']} passes only as {row['repair']}, which runs {ms / fp32_ms:.1f}x slower than "
                         f"{fp32} ({ms:.3f} ms against {fp32_ms:.3f} ms a frame on 1 thread): ship "
                         f"{fp32} or a smaller float file instead")
    return lines


def reference_set(job: Job) -> bytes:
    """A class-stratified few hundred test images with the original's answers, for ``edgecls verify``."""
    from edgecls.toolkit.data import stratified_sample

    y = job.dataset.y_test
    keep = stratified_sample(y, verify_set.reference_count(job.dataset.image_shape), 0)
    return verify_set.reference_bytes(job.dataset.x_test[keep], y[keep], job.reference[keep])


EXPORT_FILES = {*FILENAMES, "labels.txt", "parity.json", verify_set.REFERENCE, "saved_model", "saved_model_int8"}


def check_destination(dest: Path, source_sha256: str, overwrite: bool = False) -> None:
    """Refuse an output folder that export must not replace, before any work starts.

    Only an edgecls export (its parity.json beside nothing but export files) is ever replaced,
    and one made from another model (its ``source_sha256``) only with ``overwrite``.
    """
    if not dest.exists() or (dest.is_dir() and not dest.is_symlink() and not any(dest.iterdir())):
        return
    others = sorted(p.name for p in dest.iterdir()) if dest.is_dir() and not dest.is_symlink() else []
    foreign = [name for name in others if name not in EXPORT_FILES]
    if not dest.is_dir() or dest.is_symlink() or foreign or "parity.json" not in others:
        what = f"it holds {', '.join(foreign[:3] or others[:3])}" if others else "it is not a folder"
        raise EdgeclsError(f"--out {dest} is not an edgecls export ({what}); export replaces only its own export "
                           "folders: choose another --out")
    made_from = fileio.read_json(dest / "parity.json").get("source_sha256")
    if made_from != source_sha256 and not overwrite:
        raise EdgeclsError(f"--out {dest} holds the export of another model (source_sha256 {str(made_from)[:12]}...): "
                           "pass --overwrite to replace it, or choose another --out")


def _destination(src, out: str | None, labels: str | None, ood: str | None, overwrite: bool) -> Path:
    """Where the export goes, refused before any work when it would touch an input or replace what is not an
    earlier export of this model (see :func:`check_destination`)."""
    from edgecls.toolkit.rundir import sha256

    dest = Path(out) if out else src.default_export
    fileio.check_io({"SOURCE": src.model_path, "--labels": labels, "--data": src.data, "--ood": ood}, {"--out": dest})
    check_destination(dest, sha256(src.model_path), overwrite)
    check_destination(dest.with_name(dest.name + ".failed"), "", overwrite=True)
    return dest


def publish(staging: Path, dest: Path, rows: list[dict], keep_saved_model: bool = False) -> Path:
    """Put the staged export in place (``dest``), or beside it as ``dest.failed`` when the gate failed.

    Only the artifacts of ``rows`` (each gated, described in parity.json, with its metadata) go out:
    an intermediate (the fp32 ONNX an int8 one is quantized from) stays behind with the staging folder.
    """
    passed = all(r["passed"] for r in rows)
    kept = {r["artifact"] for r in rows}
    for name in FILENAMES:
        if name not in kept:
            (staging / name).unlink(missing_ok=True)
    if not keep_saved_model:
        for name in ("saved_model", "saved_model_int8"):
            shutil.rmtree(staging / name, ignore_errors=True)
    failed = dest.with_name(dest.name + ".failed")
    if passed and failed.is_dir():
        shutil.rmtree(failed)  # an older failed candidate is no longer news
    return fileio.publish_dir(staging, dest if passed else failed)


def noise_agreement(job: Job, seed: int = 0) -> float:
    """Top-1 agreement of the original with itself when every test pixel moves by -1, 0 or +1 grey level.

    Rounding to 8 bits is a change of that size. A model that changes more answers than the gate
    allows under it cannot be matched by any int8 file, whatever the repair: it needs training
    (longer, or with pixel noise), not quantization fixes.
    """
    from edgecls.toolkit.evaluate import predict

    x = job.dataset.x_test
    step = np.random.default_rng(seed).integers(-1, 2, x.shape, dtype=np.int16)
    noisy = np.clip(x.astype(np.int16) + step, 0, 255).astype(np.uint8)
    return float((predict(job.model, noisy).argmax(1) == job.reference.argmax(1)).mean())


def _gate_error(rows: list[dict], failed_dir: Path, gate: dict, noise: float | None = None) -> GateError:
    parts = []
    for r in rows:
        if not r["passed"]:
            hint = ""
            if r.get("worst_layers"):
                names = dict.fromkeys(tflite.layer_name(l["layer"]) for l in r["worst_layers"])
                hint = "; largest int8 error at layers " + ", ".join(list(names)[:3])
            parts.append(f"{r['artifact']}: {', '.join(r['failures'])}{hint}")
    advice = "try a larger --calib or train longer before quantizing"
    if any(len(r.get("attempts") or ()) > 1 for r in rows if not r["passed"]):
        advice = ("no int8 repair passed (every attempt is in parity.json), so rounding anywhere inside the model "
                  "changes its answers: train longer (--epochs) or with pixel noise (--augment noise=3), then export "
                  "again")
    if noise is not None and noise < gate["min_agreement"]:
        advice = (f"the original itself agrees with its own answers on only {noise:.2%} of the test images when "
                  f"pixels move by one grey level, which is what 8-bit rounding does, so no int8 file can reach "
                  f"{gate['min_agreement']:.2%}: train longer, or with pixel noise (--augment noise=3)")
    return GateError(f"parity gate failed: {'; '.join(parts)} (the candidate is in {failed_dir}; the previous "
                     f"export is unchanged; {advice})")


def export_model(source: str, *, out: str | None = None, formats: list[str] | None = None, int8: bool = False,
                 io_dtype: str = "uint8", calib: int = 500, labels: str | None = None, data: str | None = None,
                 max_drop: float = 1.0, min_agreement: float = 0.99, max_class_drop: float = 5.0,
                 keep_saved_model: bool = False, threads: int | None = None, contract=None,
                 repair_int8: bool = True, overwrite: bool = False, unknown: bool = True,
                 known_rate: float = 0.95, ood: str | None = None) -> dict:
    """Build, verify and publish; raise GateError (exit 3) if any artifact fails the gate.

    ``contract`` (an :class:`~edgecls.toolkit.contract.InputContract`) declares how a model
    trained elsewhere wants its pixels; without it that contract is measured on the data.
    An int8 artifact that fails is repaired first (:mod:`edgecls.export.repair`) unless
    ``repair_int8`` is off. ``out`` must be new, empty or an earlier export of this model
    (``overwrite`` lets an export of another model be replaced). With ``unknown`` every artifact answers
    calibrated probabilities and one more class, ``unknown``, kept for ``known_rate`` of validation
    images; parity.json reports how often it names a known class on test images, on generated frames
    of nothing (flat, noise, blurred textures) and on ``ood``, a folder of the user's own such frames.
    """
    import keras

    from edgecls.toolkit.rundir import resolve_source

    if keras.backend.backend() != "tensorflow":
        raise EdgeclsError(f"export converts with TensorFlow, but Keras runs on {keras.backend.backend()} in this "
                           "process: set KERAS_BACKEND=tensorflow (the edgecls CLI does it for export)")
    artifacts = select_formats(formats, int8)
    if io_dtype not in ("uint8", "int8"):
        raise EdgeclsError(f"io_dtype must be uint8 or int8, got {io_dtype}")
    if calib < 1:
        raise EdgeclsError("calib must be at least 1: int8 needs calibration images")
    src = resolve_source(source, labels, data, contract)
    dest = _destination(src, out, labels, ood, overwrite)
    job = prepare(src, calib, unknown, known_rate, ood)
    staging = fileio.make_staging(dest)
    gate = {"max_drop_points": max_drop, "min_agreement": min_agreement, "max_class_drop_points": max_class_drop}
    try:
        rows = verify(job, build(job, artifacts, staging, io_dtype), staging, gate, io_dtype=io_dtype,
                      threads=threads, repair_int8=repair_int8)
        noise = noise_agreement(job) if any(ARTIFACTS[r["format"]].int8 and not r["passed"] for r in rows) else None
        report = {"source": str(src.model_path), **job.provenance, "test_samples": int(len(job.dataset.y_test)),
                  "gate": gate, "artifacts": rows, **({"noise_agreement": noise} if noise is not None else {})}
        fileio.write_text(staging / "labels.txt", fileio.labels_text(job.labels))
        fileio.write_json(staging / "parity.json", report)
        fileio.write_bytes(staging / verify_set.REFERENCE, reference_set(job))
        passed = all(r["passed"] for r in rows)
        where = publish(staging, dest, rows, keep_saved_model)
    except BaseException:
        fileio.discard_staging(staging)
        raise
    console.info(f"original accuracy {job.original_accuracy:.4f} on {len(job.dataset.y_test)} test images")
    console.info(parity.format_table(rows))
    if job.probes:
        console.info(confidence.format_unknown(rows, job.provenance["unknown"]))
    for line in slow_repairs(rows):
        console.warn(line)
    if not passed:
        raise _gate_error(rows, where, gate, noise)
    return report
