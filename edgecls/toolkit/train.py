"""``edgecls train``: fit a model on a dataset and write a complete run directory.

Example::

    from edgecls.toolkit.train import TrainConfig, train
    result = train(TrainConfig(data="fashion-mnist-mini", epochs=5, out="runs/mini"))
    print(result["metrics"]["accuracy"])

The run directory gets ``model.keras``, ``labels.txt``, ``config.json``, ``history.csv``,
``metrics.json`` and the plots of :mod:`edgecls.toolkit.evaluate`. While training, a
checkpoint of the last completed epoch lives in the staging folder (see
:class:`~edgecls.toolkit.rundir.RunDir`); ``resume=True`` continues from it after a crash,
kill or Ctrl-C, and the run folder is published whole once the run finishes.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgecls import console, fileio
from edgecls.errors import EdgeclsError, first_line
from edgecls.toolkit.rundir import RunDir, split_csv


@dataclass
class TrainConfig:
    """Everything that defines a training run; saved as ``config.json``."""

    data: str = "fashion-mnist-mini"
    out: str = "runs/latest"
    model: str = "edge-cnn"
    epochs: int | None = None          # None: the dataset's default
    batch_size: int = 128
    learning_rate: float = 3e-3
    weight_decay: float = 1e-4
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1        # also keeps logits in a range int8 resolves well
    augment: dict | str | None = None   # None: the data's defaults; "none"; or overrides (augment.parse_spec)
    val_split: float | None = None
    seed: int = 0                       # weights, dropout, augmentation and batch order
    split_seed: int | None = None       # which file is train / val / test (None: ``seed``)
    patience: int = 8                   # early stopping on val_loss, best weights restored
    init: str | None = None             # fine-tune from this .keras model
    weights: str = "none"               # keras.applications backbones: imagenet, none or a file
    freeze_backbone: bool = False       # head only (the VGG16 tutorial's recipe)
    fine_tune_layers: int = 30          # phase 2: unfreeze the top N backbone layers
    fine_tune_epochs: int | None = None  # phase 2 length (default: half of --epochs)
    data_dir: str | None = None
    image_size: int | None = None       # folder datasets: decode at this size (default 224)
    channels: int = 3                   # folder datasets: 1 (GRAY) or 3 (RGB)
    resize: str = "stretch"             # folder datasets: stretch, crop or pad; carried to export
    mixed_precision: str = "float32"
    distribute: str = "auto"            # auto, none or data-parallel (see edgecls.toolkit.distribute)

    @staticmethod
    def default_epochs(data: str) -> int:
        return {"fashion-mnist-mini": 15, "fashion-mnist": 40, "mnist": 12, "cifar10": 40}.get(data, 20)


def _init_run(init: str, cfg: TrainConfig) -> tuple[RunDir, dict] | None:
    """The run folder an ``--init`` model came from and its config, when it trained on ``cfg.data`` too
    (the same folder, or one of the same name moved elsewhere), else None."""
    run = RunDir(Path(init).parent)
    old = run.config()
    data = str(old.get("data"))
    if old and (data == cfg.data or Path(data).expanduser().resolve() == Path(cfg.data).expanduser().resolve()
                or (Path(data).name == Path(cfg.data).name and Path(cfg.data).is_dir())):
        return run, old
    return None


def init_split_record(init: str | None, cfg: TrainConfig) -> dict[str, str]:
    """The split record of the ``--init`` run when it split this very folder: its trained-on files stay
    out of this run's test set (see :func:`~edgecls.toolkit.data.split.hash_split`)."""
    found = _init_run(init, cfg) if init else None
    return found[0].split_record() if found else {}


def init_overlap(init: str, cfg: TrainConfig, ds) -> tuple[str, bool] | None:
    """What this run's test set shares with the ``--init`` run's training files: ``(line, is_warning)``.

    A folder counts files by the parent's split record; a built-in dataset has none, and shares
    files when it was split with another seed.

    >>> init_overlap("runs/none/model.keras", TrainConfig(), None) is None
    True
    """
    found = _init_run(init, cfg)
    if found is None:
        return None
    run, old = found
    record = run.split_record()
    if ds.files is not None and record:
        test = ds.files.get("test", [])
        shared = sum(record.get(name) in ("train", "val") for name in test)
        return (f"--init: {shared} of the {len(test)} test files are files {run.path} trained on "
                f"(by {RunDir.SPLIT}: path inside the folder)", shared > 0)
    old_seed = old.get("split_seed") if old.get("split_seed") is not None else old.get("seed", 0)
    new_seed = cfg.split_seed if cfg.split_seed is not None else cfg.seed
    if old_seed != new_seed:
        return (f"--init {init} split {cfg.data} with split seed {old_seed}, this run with {new_seed}: its test "
                f"set holds files the init model trained on; pass --split-seed {old_seed} for an honest test", True)
    return None


def _init_labels(path: str) -> list[str] | None:
    """The class names of an ``--init`` model: the labels.txt of its run folder, if it has one."""
    labels = Path(path).parent / RunDir.LABELS
    return fileio.read_labels(labels) if labels.is_file() else None


def _from_init(path: str, input_shape, class_names: list[str]):
    """A trained model as the starting point; a new head unless it was trained on these very classes.

    The head is kept only when the init run's labels are the dataset's, in the same order; the
    same classes in another order are refused (the head would name every class wrongly).
    """
    import keras

    from edgecls.toolkit.heads import softmax_head
    from edgecls.toolkit.modelfile import load_model

    base = load_model(path)
    if tuple(base.input_shape[1:]) != tuple(input_shape):
        raise EdgeclsError(f"--init model takes {tuple(base.input_shape[1:])} images, "
                           f"the data has {tuple(input_shape)}")
    old = _init_labels(path)
    if old is not None and old != class_names and sorted(old) == sorted(class_names):
        raise EdgeclsError(f"--init model's classes are the data's in another order ({', '.join(old[:3])} ... vs "
                           f"{', '.join(class_names[:3])} ...): rename the class folders or pass its labels order")
    if base.output_shape[-1] == len(class_names) and old in (None, class_names):
        return base
    head_input = base.layers[-1].input
    if isinstance(base.layers[-2], keras.layers.Dropout):
        head_input = base.layers[-2].output
    outputs = softmax_head(keras, head_input, len(class_names), name="probs_new")
    return keras.Model(base.input, outputs, name=base.name)  # one tensor, not a list: the converters need it


class _Checkpoint:
    """Per-epoch checkpoint + early-stopping state, so ``--resume`` restarts exactly."""

    def __init__(self, run_dir: Path, patience: int, state: dict | None):
        import keras

        self.dir = run_dir / RunDir.CHECKPOINT
        self.dir.mkdir(parents=True, exist_ok=True)
        self.patience = patience
        self.state = state or {"epoch": 0, "history": {}, "best_val_loss": None,
                               "best_epoch": 0, "wait": 0, "seconds": 0.0}
        outer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                self.t0 = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.epoch_end(self.model, epoch, logs or {}, time.perf_counter() - self.t0)

        self.callback = Callback()

    def epoch_end(self, model, epoch: int, logs: dict, seconds: float) -> None:
        s = self.state
        for key, value in logs.items():
            if key != "learning_rate":
                value = float(value)
                s["history"].setdefault(key, []).append(value if math.isfinite(value) else None)
        s["history"].setdefault("seconds", []).append(round(seconds, 3))
        s["epoch"] = epoch + 1
        s["seconds"] += seconds
        val_loss = float(logs.get("val_loss", math.inf))
        best = s["best_val_loss"]
        if math.isfinite(val_loss) and (best is None or val_loss < best):  # state.json is strict JSON
            s["best_val_loss"], s["best_epoch"], s["wait"] = val_loss, epoch + 1, 0
            with fileio.atomic_path(self.dir / "best.weights.h5") as tmp:
                model.save_weights(tmp)
        else:
            s["wait"] += 1
            if s["wait"] >= self.patience:
                console.info(f"early stopping: val_loss has not improved for {self.patience} epochs "
                             f"(best {s['best_val_loss'] or math.nan:.4f} at epoch {s['best_epoch']})")
                model.stop_training = True
        with fileio.atomic_path(self.dir / "last.weights.h5") as tmp:
            model.save_weights(tmp)
        with fileio.atomic_path(self.dir / "optimizer.npz") as tmp:
            np.savez(tmp, *[keras_numpy(v, flat=False) for v in model.optimizer.variables])
        s["seed_states"] = [keras_numpy(v).tolist() for v in seed_variables(model)]
        fileio.write_json(self.dir / "state.json", s)  # written last: it vouches for the files above

    def restore(self, model) -> None:
        """Weights, optimizer slots and random states of the last finished epoch, into ``model``.

        ``model`` is built and compiled exactly as the interrupted run built it (a model rebuilt
        by ``load_model`` runs a differently assembled graph, and early training amplifies the
        rounding differences), so the resumed epochs match an uninterrupted run.
        """
        try:
            with warnings.catch_warnings():  # the optimizer's slots come from optimizer.npz just below
                warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
                model.load_weights(self.dir / "last.weights.h5")
            model.optimizer.build(model.trainable_variables)
            with np.load(self.dir / "optimizer.npz") as saved:
                values = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        except Exception as exc:
            raise EdgeclsError(f"cannot resume from {self.dir}: {first_line(exc)} (start again with --overwrite)") from exc
        if len(values) != len(model.optimizer.variables):
            raise EdgeclsError(f"cannot resume from {self.dir}: the optimizer state does not fit the model")
        for variable, value in zip(model.optimizer.variables, values):
            variable.assign(value)
        for variable, value in zip(seed_variables(model), self.state.get("seed_states", [])):
            variable.assign(np.asarray(value, dtype=keras_numpy(variable).dtype))


def keras_numpy(variable, flat: bool = True) -> np.ndarray:
    import keras

    value = keras.ops.convert_to_numpy(variable)  # not .value: a MirroredVariable's fails in its scope
    return value.reshape(-1) if flat else value


def seed_variables(model) -> list:
    """The random-number states of Dropout and the like, which Keras' saving does not restore.

    Keras 3.15 saves a model's weights and optimizer, but a loaded model's SeedGenerator starts
    from a fresh seed: without these states a resumed run draws other dropout masks.
    """
    return [v for v in model.variables if v.path.endswith("seed_generator_state")]


def _backbone_layers(model, cfg: TrainConfig) -> list:
    """Layers that count as the pretrained backbone, or [] when the model trains from scratch.

    A keras.applications backbone with weights, or any ``--init`` model: everything but
    the head. With ``--weights none`` there is nothing to protect and all layers train.
    """
    import keras

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if nested and (cfg.weights != "none" or cfg.init or cfg.freeze_backbone):
        return nested[0].layers
    if cfg.init:
        return [layer for layer in model.layers[:-1] if layer.weights]
    return []


def plan_phases(model, cfg: TrainConfig) -> list[dict]:
    """Frozen backbone + new head, then the top layers fine-tuned at a 10x lower rate."""
    backbone = _backbone_layers(model, cfg)
    if not backbone:
        return [{"name": "train", "epochs": cfg.epochs, "lr": cfg.learning_rate, "trainable": None}]
    head = {"name": "head (backbone frozen)", "epochs": cfg.epochs, "lr": cfg.learning_rate, "trainable": 0}
    if cfg.freeze_backbone:
        return [head]
    tune = {"name": f"fine-tune top {cfg.fine_tune_layers} layers", "lr": cfg.learning_rate / 10,
            "epochs": cfg.fine_tune_epochs or max(1, cfg.epochs // 2), "trainable": cfg.fine_tune_layers}
    return [head, tune]


def _set_trainable(model, cfg: TrainConfig, top: int | None) -> None:
    """Freeze the backbone but its top ``top`` layers; BatchNorm stays in inference mode."""
    import keras

    if top is None:
        return
    layers = _backbone_layers(model, cfg)
    for i, layer in enumerate(layers):
        layer.trainable = i >= len(layers) - top and not isinstance(layer, keras.layers.BatchNormalization)


def _compile(model, cfg: TrainConfig, steps_per_epoch: int, epochs: int, lr: float | None = None):
    import keras

    lr = lr or cfg.learning_rate
    total = max(steps_per_epoch * epochs, 1)
    warmup = min(int(cfg.warmup_epochs * steps_per_epoch), total // 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=lr / 10, decay_steps=max(total - warmup, 1),
        warmup_target=lr, warmup_steps=warmup)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=schedule, weight_decay=cfg.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=cfg.label_smoothing),
        metrics=["accuracy"],
    )


def _fit_phases(model, cfg: TrainConfig, ckpt: _Checkpoint, *, resumed: dict | None, train_batches, val_batches,
                verbose, run: RunDir) -> None:
    """Run every training phase not finished yet; Ctrl-C keeps the checkpoint for ``--resume``."""
    s = ckpt.state
    s.setdefault("phase", 0)
    s.setdefault("phase_start", 0)
    phases = plan_phases(model, cfg)
    try:
        for i, phase in enumerate(phases):
            if i < s["phase"]:
                continue
            continuing = resumed is not None and i == resumed["phase"]
            if i > 0 and not continuing and (ckpt.dir / "best.weights.h5").is_file():
                model.load_weights(ckpt.dir / "best.weights.h5")
            _set_trainable(model, cfg, phase["trainable"])
            _compile(model, cfg, len(train_batches), phase["epochs"], lr=phase["lr"])
            if continuing:
                ckpt.restore(model)
            else:
                s.update(phase=i, phase_start=s["epoch"], wait=0)
            end = s["phase_start"] + phase["epochs"]
            if len(phases) > 1:
                console.info(f"phase {i + 1}/{len(phases)}: {phase['name']}, epochs {s['epoch'] + 1}-{end}, "
                             f"learning rate {phase['lr']:g}")
            if s["epoch"] < end and s["wait"] < cfg.patience:
                model.fit(train_batches.dataset(s["epoch"], end - s["epoch"]), validation_data=val_batches.dataset(),
                          epochs=end, initial_epoch=s["epoch"], steps_per_epoch=train_batches.steps, shuffle=False,
                          callbacks=[ckpt.callback], verbose=verbose)
    except KeyboardInterrupt:
        raise EdgeclsError(
            f"interrupted after epoch {s['epoch']}; the checkpoint is kept: continue with "
            f"`edgecls train --out {run.path} --resume`", exit_code=130) from None


def _write_history(path: Path, history: dict) -> None:
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds") if k in history]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for i in range(len(history.get("loss", []))):
        writer.writerow([i + 1, *(history[k][i] for k in keys)])
    fileio.write_text(path, buf.getvalue())


def _load_data(cfg: TrainConfig, replicas):
    """The dataset and the plans of its train / val batches; ``cfg.augment`` becomes what is used."""
    from edgecls.toolkit.augment import resolve
    from edgecls.toolkit.data import dataset_options, load_dataset
    from edgecls.toolkit.pipeline import default_workers, make_batches

    ds = load_dataset(cfg.data, **dataset_options(asdict(cfg)), split_record=init_split_record(cfg.init, cfg))
    console.info(ds.summary())
    aug, why = resolve(cfg.augment, ds.name, ds.class_names)
    cfg.augment = aug.to_dict()  # config.json records every transform, so --resume repeats them
    console.info(f"augmentation ({why}): {aug.describe()}")
    train_batches = make_batches(ds.x_train, ds.y_train, ds.num_classes, cfg.batch_size, shuffle=True,
                                 augment=aug if aug.active else None, seed=cfg.seed,
                                 drop_remainder=replicas.count > 1, workers=default_workers())
    val_size = len(ds.y_val) - len(ds.y_val) % replicas.count  # every batch splits evenly across replicas
    val_batches = make_batches(ds.x_val[:val_size], ds.y_val[:val_size], ds.num_classes,
                               512 - 512 % replicas.count)
    return ds, train_batches, val_batches


def _start_model(cfg: TrainConfig, ds, staging: Path, state: dict | None):
    """The model to fit: the checkpoint's when resuming, else a new (or ``--init``) one."""
    from edgecls.toolkit.backend import versions
    from edgecls.toolkit.models import build_model

    if state is not None:  # built as the interrupted run built it; its state is restored once compiled
        console.info(f"resuming {cfg.out} after epoch {state['epoch']} of {cfg.epochs}")
    elif cfg.init and (overlap := init_overlap(cfg.init, cfg, ds)):
        (console.warn if overlap[1] else console.info)(overlap[0])
    model = (_from_init(cfg.init, ds.image_shape, ds.class_names) if cfg.init else
             build_model(cfg.model, ds.image_shape, ds.num_classes, weights=cfg.weights))
    if state is not None:
        return model
    fileio.write_json(staging / RunDir.CONFIG, asdict(cfg) | {
        "dataset": ds.name, "class_names": ds.class_names, "split": ds.split,
        "image_shape": ds.image_shape, "versions": versions()})
    return model


def _finish(model, cfg: TrainConfig, ds, staging: Path, state: dict, replicas) -> dict:
    """Save the model, history, metrics and plots into the staging folder; return the metrics."""
    from edgecls.toolkit.evaluate import evaluate_arrays
    from edgecls.toolkit.models import count_macs
    from edgecls.toolkit.plots import plot_reliability, plot_samples
    from edgecls.toolkit.unknown import calibration
    from edgecls.toolkit.precision import float32_model

    model = float32_model(model, copy=replicas.count > 1)  # a plain single-device model to save and test
    with fileio.atomic_path(staging / RunDir.MODEL) as tmp:
        model.save(tmp)
    fileio.write_text(staging / RunDir.LABELS, fileio.labels_text(ds.class_names))
    if ds.skipped:
        fileio.write_text(staging / RunDir.SKIPPED, "\n".join(ds.skipped) + "\n")
    if ds.files is not None:  # which file the model trained, chose epochs and was tested on
        fileio.write_bytes(staging / RunDir.SPLIT, split_csv(ds.files))
    _write_history(staging / RunDir.HISTORY, state["history"])
    calibrated = calibration(model, ds)  # how far to trust a probability: what export folds into every artifact
    metrics = evaluate_arrays(model, ds.x_test, ds.y_test, ds.class_names, staging, history=state["history"],
                              extra={"dataset": ds.name, "split": "test", "epochs_run": state["epoch"],
                                     "best_epoch": state["best_epoch"], "train_seconds": round(state["seconds"], 1),
                                     "macs": count_macs(model), "parameters": model.count_params(),
                                     **({"ece": calibrated[0]} if calibrated else {})})
    plot_samples(ds.x_train, ds.y_train, ds.class_names, staging / "samples.png", seed=cfg.seed)
    if calibrated:
        plot_reliability(calibrated[1], calibrated[2], ds.y_test, staging / "reliability.png",
                         calibrated[0]["temperature"])
    return metrics


def _resolve_config(cfg: TrainConfig, run: RunDir, resume: bool) -> TrainConfig:
    """A resumed run continues exactly the recorded config, whatever the command line said."""
    if resume:
        saved = fileio.read_json(run.staging / RunDir.CONFIG)
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
        cfg.out = str(run.path)  # where the run is now (a copied or moved folder), not where it began
    if cfg.epochs is None:
        cfg.epochs = TrainConfig.default_epochs(cfg.data)
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise EdgeclsError("epochs and batch_size must be positive")
    return cfg


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, verbose: int | str = "auto") -> dict:
    """Train per ``cfg`` and publish the run folder; return the config, history and metrics."""
    run = RunDir(cfg.out)
    staging = run.begin(resume=resume, overwrite=overwrite)
    try:
        return _train_in(staging, run, _resolve_config(cfg, run, resume), resume, verbose)
    except BaseException:
        run.abandon()
        raise


def _train_in(staging: Path, run: RunDir, cfg: TrainConfig, resume: bool, verbose) -> dict:
    import keras

    from edgecls.toolkit.backend import banner
    from edgecls.toolkit.distribute import setup as setup_distribution
    from edgecls.toolkit.distribute import teardown as teardown_distribution
    from edgecls.toolkit.models import count_macs
    from edgecls.toolkit.precision import policy_name

    state = fileio.read_json(run.state_file) if resume else None
    policy = policy_name(cfg.mixed_precision)
    replicas = setup_distribution(cfg.distribute)
    if cfg.batch_size % replicas.count:
        raise EdgeclsError(f"batch_size {cfg.batch_size} is global and must divide evenly across "
                           f"{replicas.count} replicas")
    if not replicas.is_chief:  # every worker trains; only the chief keeps a run directory
        staging = Path(tempfile.mkdtemp(prefix="edgecls-worker-"))
    keras.utils.set_random_seed(cfg.seed)
    ds, train_batches, val_batches = _load_data(cfg, replicas)
    keras.mixed_precision.set_global_policy(policy)
    with replicas.scope():
        model = _start_model(cfg, ds, staging, state)
        console.info(f"{banner(cfg.batch_size, cfg.mixed_precision)} | {replicas.describe()}")
        console.info(f"model {model.name}: {model.count_params():,} parameters, "
                     f"{count_macs(model) / 1e6:.2f}M MACs/image")
        ckpt = _Checkpoint(staging, cfg.patience, state)
        if verbose == "auto":
            verbose = 0 if console.level() == "quiet" else 1 if sys.stdout.isatty() else 2
        _fit_phases(model, cfg, ckpt, resumed=state, train_batches=train_batches, val_batches=val_batches,
                    verbose=verbose, run=run)
        if (ckpt.dir / "best.weights.h5").is_file():
            model.load_weights(ckpt.dir / "best.weights.h5")
    teardown_distribution(replicas)
    keras.mixed_precision.set_global_policy("float32")
    metrics = _finish(model, cfg, ds, staging, ckpt.state, replicas)
    if not replicas.is_chief:
        shutil.rmtree(staging, ignore_errors=True)
    else:
        run.publish()
    return {"config": asdict(cfg), "history": ckpt.state["history"], "metrics": metrics, "run_dir": str(run.path),
            "replicas": replicas.count}
