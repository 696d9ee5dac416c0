"""``edgecls train``: fit a model on a dataset and write a complete run directory.

Example::

    from edgecls.toolkit.train import TrainConfig, train
    result = train(TrainConfig(data="fashion-mnist-mini", epochs=5, out="runs/mini"))
    print(result["metrics"]["accuracy"])

The run directory gets ``model.keras``, ``labels.txt``, ``config.json``, ``history.csv``,
``metrics.json`` and the plots of :mod:`edgecls.toolkit.evaluate`. While training, a
checkpoint of the last completed epoch lives in ``checkpoint/``; ``resume=True`` continues
from it after a crash, kill or Ctrl-C, and it is removed once the run finishes.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from edgecls import fileio
from edgecls.errors import EdgeclsError

CHECKPOINT = "checkpoint"


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
    augment: bool = True
    val_split: float | None = None
    seed: int = 0
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
    augmentation: dict = field(default_factory=dict)

    @staticmethod
    def default_epochs(data: str) -> int:
        return {"fashion-mnist-mini": 15, "fashion-mnist": 40, "mnist": 12, "cifar10": 40}.get(data, 20)


def _from_init(path: str, input_shape, num_classes: int):
    """A trained model as the starting point; a new head when the class count differs."""
    import keras

    from edgecls.toolkit.modelfile import load_model
    from edgecls.toolkit.models import softmax_head

    base = load_model(path)
    if tuple(base.input_shape[1:]) != tuple(input_shape):
        raise EdgeclsError(f"--init model takes {tuple(base.input_shape[1:])} images, "
                           f"the data has {tuple(input_shape)}")
    if base.output_shape[-1] == num_classes:
        return base
    head_input = base.layers[-1].input
    if isinstance(base.layers[-2], keras.layers.Dropout):
        head_input = base.layers[-2].output
    outputs = softmax_head(keras, head_input, num_classes, name="probs_new")
    return keras.Model(base.inputs, outputs, name=base.name)


class _Checkpoint:
    """Per-epoch checkpoint + early-stopping state, so ``--resume`` restarts exactly."""

    def __init__(self, run_dir: Path, patience: int, state: dict | None):
        import keras

        self.dir = run_dir / CHECKPOINT
        self.dir.mkdir(parents=True, exist_ok=True)
        self.patience = patience
        self.state = state or {"epoch": 0, "history": {}, "best_val_loss": math.inf,
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
                s["history"].setdefault(key, []).append(float(value))
        s["history"].setdefault("seconds", []).append(round(seconds, 3))
        s["epoch"] = epoch + 1
        s["seconds"] += seconds
        val_loss = float(logs.get("val_loss", math.inf))
        if val_loss < s["best_val_loss"]:
            s["best_val_loss"], s["best_epoch"], s["wait"] = val_loss, epoch + 1, 0
            with fileio.atomic_path(self.dir / "best.weights.h5") as tmp:
                model.save_weights(tmp)
        else:
            s["wait"] += 1
            if s["wait"] >= self.patience:
                print(f"early stopping: val_loss has not improved for {self.patience} epochs "
                      f"(best {s['best_val_loss']:.4f} at epoch {s['best_epoch']})", flush=True)
                model.stop_training = True
        with fileio.atomic_path(self.dir / "last.keras") as tmp:
            model.save(tmp)
        fileio.write_json(self.dir / "state.json", s)  # written last: it vouches for the files above


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
                verbose) -> None:
    """Run every training phase not finished yet; Ctrl-C keeps the checkpoint for ``--resume``."""
    s = ckpt.state
    s.setdefault("phase", 0)
    s.setdefault("phase_start", 0)
    phases = plan_phases(model, cfg)
    try:
        for i, phase in enumerate(phases):
            if i < s["phase"]:
                continue
            if resumed is None or i > resumed["phase"]:  # a fresh phase; a resumed one is compiled already
                if i > 0 and (ckpt.dir / "best.weights.h5").is_file():
                    model.load_weights(ckpt.dir / "best.weights.h5")
                _set_trainable(model, cfg, phase["trainable"])
                _compile(model, cfg, len(train_batches), phase["epochs"], lr=phase["lr"])
                s.update(phase=i, phase_start=s["epoch"], wait=0)
            end = s["phase_start"] + phase["epochs"]
            if len(phases) > 1:
                print(f"phase {i + 1}/{len(phases)}: {phase['name']}, epochs {s['epoch'] + 1}-{end}, "
                      f"learning rate {phase['lr']:g}", flush=True)
            if s["epoch"] < end and s["wait"] < cfg.patience:
                model.fit(train_batches, validation_data=val_batches, epochs=end,
                          initial_epoch=s["epoch"], callbacks=[ckpt.callback], verbose=verbose)
    except KeyboardInterrupt:
        raise EdgeclsError(
            f"interrupted after epoch {s['epoch']}; the checkpoint is kept: continue with "
            f"`edgecls train --out {ckpt.dir.parent} --resume`", exit_code=130) from None


def _prepare_run_dir(out: Path, resume: bool, overwrite: bool) -> dict | None:
    """Return checkpoint state to resume from, or None for a fresh run."""
    state_file = out / CHECKPOINT / "state.json"
    if resume:
        if not state_file.is_file():
            raise EdgeclsError(f"nothing to resume in {out}: no {CHECKPOINT}/state.json")
        return fileio.read_json(state_file)
    if state_file.is_file() and not overwrite:
        raise EdgeclsError(f"{out} holds an unfinished run: pass --resume to continue it or --overwrite")
    if (out / "model.keras").exists() and not overwrite:
        raise EdgeclsError(f"{out} already holds a trained model: pass --overwrite or choose another --out")
    if overwrite and (out / CHECKPOINT).exists():
        shutil.rmtree(out / CHECKPOINT)
    return None


def _write_history(path: Path, history: dict) -> None:
    keys = [k for k in ("loss", "accuracy", "val_loss", "val_accuracy", "seconds") if k in history]
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["epoch", *keys])
    for i in range(len(history.get("loss", []))):
        writer.writerow([i + 1, *(history[k][i] for k in keys)])
    fileio.write_text(path, buf.getvalue())


def train(cfg: TrainConfig, *, resume: bool = False, overwrite: bool = False, verbose: int | str = "auto") -> dict:
    """Train per ``cfg`` and write the run directory; return the config, history and metrics."""
    import keras

    from edgecls.toolkit.augment import Augmentation
    from edgecls.toolkit.backend import banner, versions
    from edgecls.toolkit.data import dataset_options, load_dataset
    from edgecls.toolkit.distribute import setup as setup_distribution
    from edgecls.toolkit.distribute import teardown as teardown_distribution
    from edgecls.toolkit.evaluate import evaluate_arrays
    from edgecls.toolkit.models import build_model, count_macs
    from edgecls.toolkit.pipeline import make_batches
    from edgecls.toolkit.precision import float32_model, policy_name

    out = Path(cfg.out)
    state = _prepare_run_dir(out, resume, overwrite)
    if state is not None:  # resume exactly the recorded run, whatever the command line said
        saved = fileio.read_json(out / "config.json")
        cfg = TrainConfig(**{k: v for k, v in saved.items() if k in TrainConfig.__dataclass_fields__})
    policy = policy_name(cfg.mixed_precision)
    if cfg.epochs is None:
        cfg.epochs = TrainConfig.default_epochs(cfg.data)
    if cfg.epochs < 1 or cfg.batch_size < 1:
        raise EdgeclsError("--epochs and --batch-size must be positive")

    replicas = setup_distribution(cfg.distribute)
    if cfg.batch_size % replicas.count:
        raise EdgeclsError(f"--batch-size {cfg.batch_size} is global and must divide evenly across "
                           f"{replicas.count} replicas")
    if not replicas.is_chief:  # every worker trains; only the chief keeps a run directory
        out = Path(tempfile.mkdtemp(prefix="edgecls-worker-"))
    ds = load_dataset(cfg.data, **dataset_options(asdict(cfg)))
    print(ds.summary(), flush=True)
    keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy(policy)
    aug = Augmentation.for_dataset(ds.name) if cfg.augment else None
    cfg.augmentation = aug.to_dict() if aug else {}
    train_batches = make_batches(ds.x_train, ds.y_train, ds.num_classes, cfg.batch_size, shuffle=True,
                                 augment=aug, seed=cfg.seed, drop_remainder=replicas.count > 1)
    val_size = len(ds.y_val) - len(ds.y_val) % replicas.count  # every batch splits evenly across replicas
    val_batches = make_batches(ds.x_val[:val_size], ds.y_val[:val_size], ds.num_classes,
                               512 - 512 % replicas.count)

    with replicas.scope():
        if state is not None:
            model = keras.models.load_model(out / CHECKPOINT / "last.keras")
            print(f"resuming {out} after epoch {state['epoch']} of {cfg.epochs}", flush=True)
        else:
            out.mkdir(parents=True, exist_ok=True)
            if cfg.init:
                model = _from_init(cfg.init, ds.image_shape, ds.num_classes)
            else:
                model = build_model(cfg.model, ds.image_shape, ds.num_classes, weights=cfg.weights)
            fileio.write_json(out / "config.json", asdict(cfg) | {
                "dataset": ds.name, "class_names": ds.class_names, "split": ds.split,
                "image_shape": ds.image_shape, "versions": versions()})
        fileio.write_text(out / "labels.txt", "\n".join(ds.class_names) + "\n")
        if ds.skipped:
            fileio.write_text(out / "skipped.txt", "\n".join(ds.skipped) + "\n")
        print(banner(cfg.batch_size, cfg.mixed_precision), "|", replicas.describe(), flush=True)
        print(f"model {model.name}: {model.count_params():,} parameters, {count_macs(model) / 1e6:.2f}M MACs/image",
              flush=True)
        ckpt = _Checkpoint(out, cfg.patience, state)
        if verbose == "auto":
            verbose = 1 if sys.stdout.isatty() else 2
        _fit_phases(model, cfg, ckpt, resumed=state, train_batches=train_batches, val_batches=val_batches,
                    verbose=verbose)
        s = ckpt.state
        if (ckpt.dir / "best.weights.h5").is_file():
            model.load_weights(ckpt.dir / "best.weights.h5")
    teardown_distribution(replicas)
    keras.mixed_precision.set_global_policy("float32")
    model = float32_model(model, copy=replicas.count > 1)  # a plain single-device model to save and test
    with fileio.atomic_path(out / "model.keras") as tmp:
        model.save(tmp)
    _write_history(out / "history.csv", s["history"])
    metrics = evaluate_arrays(model, ds.x_test, ds.y_test, ds.class_names, out, history=s["history"],
                              extra={"dataset": ds.name, "split": "test", "epochs_run": s["epoch"],
                                     "best_epoch": s["best_epoch"], "train_seconds": round(s["seconds"], 1),
                                     "macs": count_macs(model), "parameters": model.count_params()})
    shutil.rmtree(ckpt.dir, ignore_errors=True)
    from edgecls.toolkit.plots import plot_samples

    plot_samples(ds.x_train, ds.y_train, ds.class_names, out / "samples.png", seed=cfg.seed)
    if not replicas.is_chief:
        shutil.rmtree(out, ignore_errors=True)
    return {"config": asdict(cfg), "history": s["history"], "metrics": metrics, "run_dir": str(out),
            "replicas": replicas.count}
