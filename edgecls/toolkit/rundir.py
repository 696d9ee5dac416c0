"""The run folder: the one place that knows its files and publishes them together.

A training run is built in ``.NAME.training/`` beside the run folder (the checkpoint that
``--resume`` continues from lives there too) and published with one rename when every
file is written, so an interrupted ``train --overwrite`` leaves the previous run whole. A
``manifest.json`` written last binds the labels to the model by their SHA-256: ``export``,
``evaluate`` and ``bench`` refuse a folder whose files no longer belong together.

Example::

    run = RunDir("runs/mini")
    run.check()                         # EdgeclsError if labels and model were mixed up
    run.model, run.labels(), run.config()
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from pathlib import Path

from edgecls import fileio
from edgecls.errors import EdgeclsError


def sha256(path: Path) -> str:
    """SHA-256 of a file, or of a folder's files (a SavedModel) by relative path and content, in order."""
    digest = hashlib.sha256()
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class RunDir:
    """The files of one run folder, by name; the staging folder it is built in."""

    MODEL = "model.keras"
    LABELS = "labels.txt"
    CONFIG = "config.json"
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    MANIFEST = "manifest.json"
    SKIPPED = "skipped.txt"
    SPLIT = "split.csv"
    CHECKPOINT = "checkpoint"
    EXPORT = "export"
    EXPORT_FAILED = "export.failed"

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.staging = self.path.with_name(f".{self.path.name}.training")

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    @property
    def model(self) -> Path:
        return self.path / self.MODEL

    @property
    def export(self) -> Path:
        return self.path / self.EXPORT

    @property
    def state_file(self) -> Path:
        return self.staging / self.CHECKPOINT / "state.json"

    def finished(self) -> bool:
        return self.model.is_file()

    def unfinished(self) -> bool:
        return self.state_file.is_file()

    def config(self) -> dict:
        path = self.path / self.CONFIG
        return fileio.read_json(path) if path.is_file() else {}

    def labels(self) -> list[str]:
        return fileio.read_labels(self.path / self.LABELS)

    def split_record(self) -> dict[str, str]:
        """``{file inside the dataset folder: split}`` as this run split its folder (empty: none recorded)."""
        path = self.path / self.SPLIT
        return read_split(path) if path.is_file() else {}

    # -- training: stage, then publish ---------------------------------------------------
    def begin(self, *, resume: bool, overwrite: bool) -> Path:
        """The staging folder to train in: kept for ``resume``, fresh otherwise."""
        if self.path.exists() and not self.path.is_dir():
            raise EdgeclsError(f"--out {self.path} exists and is not a folder")
        if resume:
            if not self.unfinished():
                raise EdgeclsError(f"nothing to resume for {self.path}: no unfinished run in {self.staging}")
            return self.staging
        if self.unfinished() and not overwrite:
            raise EdgeclsError(f"{self.path} has an unfinished run: pass --resume to continue it or --overwrite")
        if self.finished() and not overwrite:
            raise EdgeclsError(f"{self.path} already holds a trained model: pass --overwrite or choose another --out")
        shutil.rmtree(self.staging, ignore_errors=True)
        self._made = fileio.make_parents(self.path.parent)
        self.staging.mkdir()
        return self.staging

    def abandon(self) -> None:
        """After a failure: keep a resumable checkpoint, else remove the staging folder and new parents."""
        if self.unfinished():
            return
        shutil.rmtree(self.staging, ignore_errors=True)
        fileio.remove_empty(getattr(self, "_made", []))

    def publish(self) -> Path:
        """Write the manifest, drop the checkpoint and put the staged run in place, in one rename."""
        shutil.rmtree(self.staging / self.CHECKPOINT, ignore_errors=True)
        fileio.write_json(self.staging / self.MANIFEST, {
            "model_sha256": sha256(self.staging / self.MODEL),
            "labels_sha256": sha256(self.staging / self.LABELS)})
        return fileio.publish_dir(self.staging, self.path)

    # -- reading: the files must belong together --------------------------------------------
    def check(self) -> None:
        """Refuse a run whose labels (or model) were replaced after training."""
        if not self.finished():
            raise EdgeclsError(f"{self.path} has no {self.MODEL}: is it a finished `edgecls train` run?")
        if not (self.path / self.LABELS).is_file():
            raise EdgeclsError(f"{self.path} has no {self.LABELS}; pass --labels FILE")
        manifest_path = self.path / self.MANIFEST
        if manifest_path.is_file():
            manifest = fileio.read_json(manifest_path)
            for key, name in (("model_sha256", self.MODEL), ("labels_sha256", self.LABELS)):
                if manifest.get(key) != sha256(self.path / name):
                    raise EdgeclsError(f"{self.path / name} is not the file this run was trained with (its SHA-256 "
                                       f"differs from {self.MANIFEST}): train again or restore it")
        names = self.config().get("class_names")
        if names is not None and names != self.labels():
            raise EdgeclsError(f"{self.path / self.LABELS} does not match the classes in {self.CONFIG}")


SPLIT_RECORD_LIMIT = 256 << 20  # a record of ten million files is far smaller


def split_csv(files: dict[str, list[str]]) -> bytes:
    """The split record a run keeps: one ``split,file`` row per file it read, in split order.

    >>> split_csv({"train": ["cat/1.png"], "test": ["dog/2,3.png"]}).decode()
    'split,file\\r\\ntrain,cat/1.png\\r\\ntest,"dog/2,3.png"\\r\\n'
    """
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["split", "file"])
    writer.writerows((split, name) for split, names in files.items() for name in names)
    return buf.getvalue().encode("utf-8", "surrogateescape")  # file names need not be UTF-8


def read_split(path: Path) -> dict[str, str]:
    """A split record (untrusted: size capped, rows other than ``train|val|test,NAME`` ignored)."""
    if path.stat().st_size > SPLIT_RECORD_LIMIT:
        raise EdgeclsError(f"{path} is {path.stat().st_size:,} bytes, over the {SPLIT_RECORD_LIMIT:,} of a split record")
    rows = csv.reader(io.StringIO(path.read_bytes().decode("utf-8", "surrogateescape")))
    return {row[1]: row[0] for row in rows if len(row) == 2 and row[0] in ("train", "val", "test")}


class ModelSource:
    """What export, evaluate and bench start from: a run folder, or a bare model with labels.

    ``options`` are the :func:`~edgecls.toolkit.data.load_dataset` keyword arguments that
    reproduce the run's split and decoding (seed, image size, resize mode ...).
    """

    def __init__(self, model_path: Path, labels: list[str], data: str, options: dict, run: RunDir | None,
                 contract=None):
        self.model_path, self.labels, self.data, self.options, self.run = model_path, labels, data, options, run
        self.contract = contract  # a foreign model's declared InputContract (None: measure it)

    @property
    def foreign(self) -> bool:
        """A model not from an edgecls run: its input contract is declared or measured, never assumed."""
        return self.run is None

    def fit_options(self, model) -> None:
        """Decode image folders at the model's own size and channels (a bare model has no run config).

        A flat input of D values is read as a square image: D = S*S gray or 3*S*S colour (the MNIST MLP's
        784 is 28x28 gray); (H, W) without a channel axis is gray.
        """
        if self.foreign and square_image(tuple(model.input_shape[1:])):
            size, channels = square_image(tuple(model.input_shape[1:]))
            self.options.setdefault("image_size", size)
            self.options.setdefault("channels", channels)

    @property
    def resize(self) -> str:
        return self.options.get("resize", "stretch")

    @property
    def default_export(self) -> Path:
        return self.run.export if self.run else self.model_path.with_name(f"{self.model_path.stem}-export")

    def load(self):
        from edgecls.toolkit.data import load_dataset

        return load_dataset(self.data, **self.options).in_label_order(self.labels)


def square_image(shape: tuple) -> tuple[int, int] | None:
    """(side, channels) of the square images a model input of ``shape`` (batch axis left out) takes, or None.

    >>> square_image((28, 28, 1)), square_image((784,)), square_image((3072,)), square_image((28, 28))
    ((28, 1), (28, 1), (32, 3), (28, 1))
    """
    if len(shape) == 3 and shape[0] == shape[1] and shape[2] in (1, 3):
        return int(shape[0]), int(shape[2])
    if len(shape) == 2 and shape[0] == shape[1]:
        return int(shape[0]), 1
    if len(shape) == 1 and shape[0]:
        for channels in (1, 3):
            side = int(round((shape[0] / channels) ** 0.5))
            if side * side * channels == shape[0]:
                return side, channels
    return None


def resolve_source(source: str, labels_file: str | None, data: str | None, contract=None) -> ModelSource:
    """A run folder (model, labels and config checked to belong together) or a bare .keras file."""
    from edgecls.toolkit.data import dataset_options

    from edgecls.toolkit.modelfile import is_saved_model

    path = Path(source)
    run, config = None, {}
    if path.is_dir() and not is_saved_model(path):
        run = RunDir(path)
        if labels_file is None:
            run.check()
        elif not run.finished():
            raise EdgeclsError(f"{path} has no {RunDir.MODEL}: is it a finished `edgecls train` run?")
        model_path, config = run.model, run.config()
        labels = fileio.read_labels(labels_file) if labels_file else run.labels()
    elif path.is_file() or is_saved_model(path):
        if labels_file is None:
            raise EdgeclsError(f"no labels for {path}: pass --labels FILE")
        model_path, labels = path, fileio.read_labels(labels_file)
    else:
        raise EdgeclsError(f"not found: {path} (give a run directory, a .keras/.h5 model file or a SavedModel folder)")
    data = data or config.get("data")
    if not data:
        raise EdgeclsError("--data is needed to calibrate and verify a model file without its run")
    options = dataset_options(config)
    if data != config.get("data"):  # another dataset: keep only how images are decoded
        options = {k: v for k, v in options.items() if k in ("image_size", "channels", "resize", "seed")}
    elif run is not None and run.split_record():  # the run's own files on the sides it gave them
        options["split_record"] = run.split_record()
    return ModelSource(model_path, labels, data, options, run, contract)
