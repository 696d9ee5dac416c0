"""``edgecls evaluate``: metrics and plots of a model on a labelled split.

Example::

    from edgecls.toolkit.evaluate import evaluate_model
    metrics = evaluate_model("runs/mini/model.keras", data="fashion-mnist-mini", out="runs/mini/eval")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecls import console, fileio
from edgecls.errors import EdgeclsError
from edgecls.toolkit.metrics import classification_report, cross_entropy


BATCH_PIXELS = 1 << 22  # pixel values in one batch of images: 512 images at 28x28x1, 27 at 224x224x3


def images_per_batch(image_shape: tuple) -> int:
    """Images per batch of an inference pass, so that its activations stay within a few hundred MB whatever
    the image size (512 images at 224x224 took over 20 GB through mobilenet_v2 called eagerly).

    >>> images_per_batch((28, 28, 1)), images_per_batch((224, 224, 3))
    (512, 27)
    """
    return int(max(1, min(512, BATCH_PIXELS // int(np.prod(image_shape)))))


def predict(model, x: np.ndarray, batch_size: int | None = None) -> np.ndarray:
    """Probabilities for uint8 images, as numpy float32.

    One batch at a time (:func:`images_per_batch` unless given), so a memory-mapped folder dataset is
    never loaded whole and large images never fill the memory.
    """
    batch_size = batch_size or images_per_batch(x.shape[1:])
    out = np.zeros((len(x), model.output_shape[-1]), np.float32)
    for i in range(0, len(x), batch_size):
        out[i : i + batch_size] = np.asarray(model.predict_on_batch(np.asarray(x[i : i + batch_size])))
    return out


def evaluate_arrays(model, x, y, class_names, out: Path, *, history: dict | None = None,
                    extra: dict | None = None) -> dict:
    """Write ``metrics.json`` and the plots for ``model`` on ``(x, y)``; return the metrics."""
    from edgecls.toolkit.plots import plot_confusion, plot_history, plot_misclassified

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    probs = predict(model, x)
    report = classification_report(y, probs, class_names, loss=cross_entropy(y, probs))
    report.update(extra or {})
    fileio.write_json(out / "metrics.json", report)
    plot_confusion(np.array(report["confusion_matrix"]), class_names, out / "confusion_matrix.png",
                   title=f"confusion matrix, accuracy {report['accuracy']:.2%}")
    plot_misclassified(x, y, probs, class_names, out / "misclassified.png")
    if history:
        plot_history(history, out / "curves.png")
    return report


def _resolve(model_path: str, data: str | None, data_dir: str | None):
    """The model file, dataset spec and load options: a run's own (split seed, decoding), else defaults.

    A run folder, or the model.keras inside one, is evaluated on exactly the data it was
    trained on, split the same way, unless ``data`` names another dataset.
    """
    from edgecls.toolkit.rundir import RunDir, resolve_source

    path = Path(model_path)
    run = path if path.is_dir() else path.parent if path.name == RunDir.MODEL and (
        path.parent / RunDir.CONFIG).is_file() else None
    if run is not None:
        src = resolve_source(str(run), None, data)
        return src.model_path, src.data, src.options | ({"data_dir": data_dir} if data_dir else {}), src.labels
    return path, data, {"data_dir": data_dir} if data_dir else {}, None


def evaluate_model(model_path: str, *, data: str | None = None, out: str, split: str = "test",
                   data_dir: str | None = None, contract=None) -> dict:
    """Load a ``.keras``/``.h5`` model (or a run folder), check it fits the data, and evaluate it on ``split``.

    A model that is not from an edgecls run is evaluated under its input contract, declared
    (``contract``) or measured on the training split.
    """
    from edgecls.toolkit.contract import adopt
    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.modelfile import load_model

    path, data, options, labels = _resolve(model_path, data, data_dir)
    model = load_model(path)
    if not data:
        raise EdgeclsError(f"{path} is not in a run folder: pass --data to evaluate it")
    if len(model.input_shape) == 4:
        _, h, _, c = model.input_shape
        options = {"image_size": h, "channels": c} | options
    ds = load_dataset(data, **options)
    if labels is None:
        model, _, line = adopt(model, contract, ds, options.get("seed", 0))
        console.info(line)
    if tuple(model.input_shape[1:]) != ds.image_shape:
        raise EdgeclsError(f"{path} takes {tuple(model.input_shape[1:])} images, {ds.name} has {ds.image_shape}")
    if model.output_shape[-1] != ds.num_classes:
        raise EdgeclsError(f"{path} has {model.output_shape[-1]} classes, {ds.name} has {ds.num_classes}")
    if labels is not None and labels != ds.class_names:
        raise EdgeclsError(f"the run's labels ({', '.join(labels[:3])} ...) are not {ds.name}'s classes "
                           f"({', '.join(ds.class_names[:3])} ...) in that order")
    x, y = ds.subset(split)
    return evaluate_arrays(model, x, y, ds.class_names, Path(out),
                           extra={"dataset": ds.name, "split": split, "model": str(path)})
