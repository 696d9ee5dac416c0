"""The ``edgecls`` command line: a thin layer over the library functions.

Heavy modules (Keras, TensorFlow) are imported inside each command, so ``--help`` is
instant and ``edgecls run`` never loads TensorFlow.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback

import click

from edgecls import __version__, console
from edgecls import cli_types as types
from edgecls.errors import EdgeclsError, first_line
from edgecls.runtime import devices
from edgecls.toolkit.contract import RANGES


class Group(click.Group):
    """Every failure is one line on stderr and a non-zero exit; ``--debug`` adds the traceback.

    EdgeclsError is a user mistake (its own exit code, 2 unless it says otherwise); an OSError
    is the environment (a full disk, a permission, exit 1); anything else is a bug in edgecls
    (exit 70). click's own usage errors (exit 2) name the option.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt:
            console.error("interrupted")
            sys.exit(130)
        except EdgeclsError as exc:
            _fail(str(exc), exc.exit_code)
        except BrokenPipeError:  # `edgecls ... | head`: the reader has gone; end quietly, as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # nothing more to flush at exit
            sys.exit(141)
        except ModuleNotFoundError as exc:  # a runtime-only install running a training command
            _fail(f"this command needs the training extra ({exc.name} is not installed): "
                  "pip install 'edgecls[cpu,train]'", 2)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            _fail(f"{exc.strerror or first_line(exc)}{where}", 1)
        except MemoryError:
            _fail("out of memory (lower --batch-size, --max-pixels or the dataset size)", 1)
        except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
            _fail(f"internal error: {type(exc).__name__}: {first_line(exc)} (a bug in edgecls; "
                  "`edgecls --debug ...` shows where)", 70)


def _fail(message: str, code: int) -> None:
    if os.environ.get("EDGECLS_DEBUG"):
        traceback.print_exc()
    console.error(message)
    sys.exit(code)


def _model_file(path: str) -> str:
    """What a command reads of a model argument: a run folder's model.keras (new reports may go into the run
    folder), else the file or SavedModel folder itself (nothing is written inside it)."""
    run_model = os.path.join(path, "model.keras")
    return run_model if os.path.isfile(run_model) else path


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _import_keras() -> None:
    """Import Keras (and TensorFlow) with native start-up lines silenced (see console.native_stderr)."""
    from edgecls.toolkit.distribute import prepare_environment

    prepare_environment()
    try:
        with console.native_stderr():
            import keras

            if keras.backend.backend() == "tensorflow":  # device discovery prints its own cuInit notices
                import tensorflow as tf

                tf.config.list_physical_devices()
            elif importlib.util.find_spec("tensorflow"):  # Keras' JAX trainer imports it at fit(): now, quietly
                import tensorflow  # noqa: F401
    except ModuleNotFoundError as exc:
        raise EdgeclsError(f"this command needs the training extra ({exc.name} is missing): "
                           "pip install 'edgecls[cpu,train]'") from exc


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="edgecls")
@click.option("--debug", is_flag=True, help="Show full tracebacks for errors.")
@click.option("--quiet", "-q", is_flag=True, help="Only warnings and errors on stderr.")
@click.option("--verbose", "-v", is_flag=True, help="Also native libraries' own messages (TensorFlow, LiteRT).")
@click.option("--max-pixels", type=types.POSITIVE, help="Refuse images declaring more pixels (default 50 000 000).")
def main(debug: bool, quiet: bool, verbose: bool, max_pixels: int | None) -> None:
    """Train image classifiers, export them to TFLite/ONNX, verify and run them.

    \b
    edgecls train --data fashion-mnist-mini --out runs/mini
    edgecls export runs/mini --int8
    edgecls run runs/mini/export/model_int8.tflite --source video.mp4 --headless
    """
    if debug:
        os.environ["EDGECLS_DEBUG"] = "1"
    if quiet and verbose:
        raise click.UsageError("--quiet and --verbose exclude each other")
    console.set_level("quiet" if quiet else "verbose" if verbose else "normal")
    if max_pixels:
        from edgecls import limits

        limits.set_max_pixels(max_pixels)
    _quiet_tensorflow()


DATA_HELP = ("Dataset: fashion-mnist-mini (embedded), fashion-mnist, mnist, cifar10, a .npz file, a folder of "
             "IDX files, or a folder of images (class sub-folders, train/val/test, or label.N.jpg files).")


def contract_options(command):
    """The options that declare how a model trained elsewhere wants its pixels (issue: its input contract)."""
    options = [
        click.option("--input-range", type=click.Choice(list(RANGES)),
                     help="A model from elsewhere: the pixel scale it was trained on (default: measured on --data)."),
        click.option("--mean", type=types.Floats(), help="Per-channel mean in 0..255 units (instead of --input-range)."),
        click.option("--std", type=types.Floats(positive=True), help="Per-channel std in 0..255 units."),
        click.option("--color", type=click.Choice(["rgb", "bgr"]), help="Channel order the model was trained on."),
        click.option("--invert", is_flag=True, help="The model was trained on 255 - pixels (ink on paper)."),
        click.option("--output", "output_kind", type=click.Choice(["probabilities", "logits"]),
                     help="What the model ends in (default: told by its outputs)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _contract(input_range, mean, std, color, invert, output_kind):
    """The declared InputContract, or None (measure it) when no contract option was given."""
    if not (input_range or mean or std or color or invert or output_kind):
        return None
    from edgecls.toolkit.contract import InputContract

    return InputContract.from_options(input_range, mean, std, color, invert, output_kind)


@main.command()
@click.option("--data", default="fashion-mnist-mini", show_default=True, type=types.DATASET, help=DATA_HELP)
@click.option("--data-dir", type=types.EXISTING_DIR, help="Where local copies of built-in datasets are.")
@click.option("--image-size", type=types.IMAGE_SIZE, help="Image folders: decode at SIZE x SIZE (default 224).")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True,
              help="Image folders: 1 = grayscale, 3 = RGB.")
@click.option("--resize", type=click.Choice(["stretch", "crop", "pad"]), default="stretch", show_default=True,
              help="Image folders: how to fit images to the square input (kept in the exported metadata).")
@click.option("--model", "model_name", default="edge-cnn", show_default=True, type=types.MODEL,
              help="Architecture (see `edgecls models`).")
@click.option("--epochs", type=types.POSITIVE, help="Epochs (default per dataset: 15 mini, 40 fashion-mnist, 12 mnist, 40 cifar10).")
@click.option("--batch-size", type=types.POSITIVE, default=128, show_default=True)
@click.option("--lr", "learning_rate", type=types.Finite(0, 10, min_open=True), default=3e-3, show_default=True,
              help="Peak AdamW learning rate.")
@click.option("--weight-decay", type=types.Finite(0, 1), default=1e-4, show_default=True)
@click.option("--label-smoothing", type=types.Finite(0, 1, max_open=True), default=0.1, show_default=True,
              help="Soft targets; also keeps logits in a range int8 resolves well.")
@click.option("--val-split", type=types.Finite(0, 0.9, min_open=True, max_open=True),
              help="Fraction of train held out for validation (default 0.1).")
@click.option("--patience", type=types.POSITIVE, default=8, show_default=True, help="Early-stopping patience (val_loss).")
@click.option("--augment", type=types.AUGMENT,
              help="Override the data's augmentation: none, or e.g. flip=0,rotate=10,shift=0.1,zoom=0.1,"
                   "brightness=0.2,noise=3 (the train banner prints what is used).")
@click.option("--no-augment", is_flag=True, hidden=True, expose_value=False,
              callback=lambda ctx, param, value: _moved(ctx, "--no-augment is now --augment none") if value else None)
@click.option("--init", type=types.EXISTING_FILE, help="Fine-tune from this .keras model (new head if classes differ).")
@click.option("--weights", default="none", show_default=True,
              help="keras.applications backbones: imagenet (downloaded by Keras), none, or a weights file.")
@click.option("--freeze-backbone", is_flag=True, help="Train the new head only (no fine-tuning phase).")
@click.option("--fine-tune-layers", type=types.POSITIVE, default=30, show_default=True,
              help="Phase 2 unfreezes the top N backbone layers (BatchNorm stays frozen).")
@click.option("--fine-tune-epochs", type=types.POSITIVE, help="Phase 2 epochs (default: half of --epochs).")
@click.option("--mixed-precision", default="float32", show_default=True,
              type=click.Choice(["float32", "bfloat16", "float16"]))
@click.option("--distribute", type=click.Choice(["auto", "none", "data-parallel"]), default="auto", show_default=True,
              help="Data parallelism over local GPUs (or a cluster, see README); auto: on with 2+ GPUs.")
@click.option("--seed", type=types.SEED, default=0, show_default=True,
              help="Weights, dropout, augmentation and batch order.")
@click.option("--split-seed", type=types.SEED,
              help="Which file lands in train / val / test (default: --seed); keep it to keep a test set.")
@click.option("--out", type=types.OUT_DIR, default="runs/latest", show_default=True, help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the interrupted run in --out from its last epoch.")
@click.option("--overwrite", is_flag=True, help="Replace an existing run in --out (only once the new one is done).")
def train(data, data_dir, image_size, channels, resize, model_name, epochs, batch_size, learning_rate, weight_decay,
          label_smoothing, val_split, patience, augment, init, weights, freeze_backbone, fine_tune_layers,
          fine_tune_epochs, mixed_precision, distribute, seed, split_seed, out, resume, overwrite):
    """[train extra] Train a classifier and write a run directory with its reports.

    \b
    edgecls train --data fashion-mnist --model edge-cnn --out runs/fmnist
    edgecls train --out runs/fmnist --resume          # after a crash or Ctrl-C
    edgecls train --data my_digits.npz --init runs/mnist/model.keras --out runs/mine
    edgecls train --data PetImages --model mobilenet_v2 --weights imagenet --image-size 224 --out runs/pets
    """
    from edgecls.fileio import check_io

    check_io({"--data": data, "--data-dir": data_dir, "--init": init}, {"--out": out})
    _import_keras()
    from edgecls.toolkit.train import TrainConfig, train as run_training

    cfg = TrainConfig(data=data, out=out, model=model_name, epochs=epochs, batch_size=batch_size,
                      learning_rate=learning_rate, weight_decay=weight_decay, label_smoothing=label_smoothing,
                      augment=augment, val_split=val_split, seed=seed, split_seed=split_seed,
                      patience=patience, init=init,
                      weights=weights, freeze_backbone=freeze_backbone, fine_tune_layers=fine_tune_layers,
                      fine_tune_epochs=fine_tune_epochs,
                      data_dir=data_dir, image_size=image_size, channels=int(channels), resize=resize,
                      mixed_precision=mixed_precision, distribute=distribute)
    from edgecls.toolkit.metrics import format_report

    result = run_training(cfg, resume=resume, overwrite=overwrite)
    m = result["metrics"]
    click.echo(format_report(m))
    click.echo(f"test accuracy {m['accuracy']:.4f} (macro F1 {m['macro_avg']['f1']:.4f}) after "
               f"{m['epochs_run']} epochs, {m['train_seconds']:.0f} s of training; run in {result['run_dir']}")


@main.command()
@click.argument("model_path", type=types.EXISTING)
@click.option("--data", type=types.DATASET, help=DATA_HELP + " Default: the run's own, split and decoded as in training.")
@click.option("--data-dir", type=types.EXISTING_DIR)
@click.option("--split", default="test", show_default=True, type=click.Choice(["train", "val", "test"]))
@click.option("--out", type=types.OUT_DIR, help="Where to write metrics.json and plots (default: beside the model, eval-SPLIT/).")
@contract_options
def evaluate(model_path, data, data_dir, split, out, **contract):
    """[train extra] Metrics, confusion matrix and plots of a run or a .keras model.

    \b
    edgecls evaluate runs/mini                                   # the run's own test split
    edgecls evaluate runs/mini/model.keras --data fashion-mnist --out runs/mini/eval-full
    """
    from edgecls.fileio import check_io

    folder = model_path if os.path.isfile(os.path.join(model_path, "model.keras")) else \
        os.path.dirname(os.path.normpath(model_path)) or "."
    out = out or os.path.join(folder, f"eval-{split}")
    check_io({"MODEL_PATH": _model_file(model_path), "--data": data, "--data-dir": data_dir}, {"--out": out})
    _import_keras()
    from edgecls.toolkit.evaluate import evaluate_model
    report = evaluate_model(model_path, data=data, out=out, split=split, data_dir=data_dir,
                            contract=_contract(**contract))
    from edgecls.toolkit.metrics import format_report

    click.echo(format_report(report))
    click.echo(f"wrote {out}/metrics.json and plots")


@main.command()
@click.option("--data", default="fashion-mnist-mini", show_default=True, type=types.DATASET, help=DATA_HELP)
@click.option("--data-dir", type=types.EXISTING_DIR)
@click.option("--image-size", type=types.IMAGE_SIZE, help="Image folders: decode at SIZE x SIZE (default 224).")
@click.option("--channels", type=click.Choice(["1", "3"]), default="3", show_default=True)
@click.option("--out", type=types.OUT_DIR, default="runs/inspect", show_default=True)
@click.option("--sample", type=click.IntRange(min=10), default=2000, show_default=True,
              help="Images in the PCA / t-SNE views.")
@click.option("--no-tsne", is_flag=True, help="Skip t-SNE (the slow part).")
def inspect(data, data_dir, image_size, channels, out, sample, no_tsne):
    """[train extra] Class counts, a sample grid and PCA / t-SNE views of a dataset.

    \b
    edgecls inspect --data fashion-mnist --out runs/inspect-fmnist
    """
    from edgecls.fileio import check_io
    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.inspect_data import inspect_dataset

    check_io({"--data": data, "--data-dir": data_dir}, {"--out": out})
    ds = load_dataset(data, data_dir=data_dir, image_size=image_size, channels=int(channels))
    click.echo(ds.summary())
    info = inspect_dataset(ds, out, sample=sample, tsne=not no_tsne)
    for name, count in info["counts"]["train"].items():
        click.echo(f"  {name:>14}: {count:6d} train  {info['counts']['test'][name]:6d} test")
    if "source_sizes" in info:
        sizes = info["source_sizes"]
        common = ", ".join(f"{s['width']}x{s['height']} ({s['files']})" for s in sizes["most_common"])
        click.echo(f"source image sizes (WxH) of {sizes['files']} files, {sizes['distinct']} distinct: "
                   f"most common {common}")
    r = info["pca_explained_variance_ratio"]
    click.echo(f"PCA explained variance ratio: PC1 {r[0]:.4f}, PC2 {r[1]:.4f}; plots in {out}")


@main.command()
@click.option("--input-size", type=types.Shape(), default="28x28x1", show_default=True, help="HxWxC to count MACs at.")
@click.option("--classes", type=click.IntRange(min=2), default=10, show_default=True)
def models(input_size, classes):
    """[train extra] List the model architectures with parameters and multiply-adds.

    \b
    edgecls models --input-size 32x32x3
    """
    _import_keras()
    from edgecls.toolkit.applications import APPLICATIONS
    from edgecls.toolkit.models import MODELS, build_model, count_macs

    click.echo(f"{'model':<18} {'params':>10} {'MACs':>10}  description")
    for name, spec in MODELS.items():
        m = build_model(name, input_size, classes)
        click.echo(f"{name:<18} {m.count_params():>10,} {count_macs(m) / 1e6:>9.2f}M  {spec.summary}")
    rgb = input_size[2] == 3 and min(input_size[:2]) >= 32
    for name, (attr, _) in APPLICATIONS.items():
        about = f"keras.applications.{attr} backbone (--weights imagenet|none|FILE)"
        if not rgb:
            click.echo(f"{name:<18} {'-':>10} {'-':>10}  {about}; RGB 32x32 or larger: try --input-size 224x224x3")
            continue
        m = build_model(name, input_size, classes)
        click.echo(f"{name:<18} {m.count_params():>10,} {count_macs(m) / 1e6:>9.2f}M  {about}")


def _format_names() -> list[str]:
    from edgecls.export.artifacts import ARTIFACTS

    return list(ARTIFACTS)


@main.command()
@click.argument("source", type=types.EXISTING)
@click.option("--int8", is_flag=True, help="Also write full-integer model_int8.tflite and model_int8.onnx.")
@click.option("--formats", type=types.Choices(_format_names()),
              help="Comma-separated subset: " + ",".join(_format_names()) + ".")
@click.option("--io-dtype", default="uint8", show_default=True, type=click.Choice(["uint8", "int8"]),
              help="Input/output type of the int8 TFLite model.")
@click.option("--calib", type=types.POSITIVE, default=500, show_default=True,
              help="Calibration images (class-stratified, from train).")
@click.option("--labels", "labels_file", type=types.EXISTING_FILE, help="labels.txt for a bare .keras file.")
@click.option("--data", type=types.DATASET, help="Dataset to calibrate and verify on (default: the run's own).")
@click.option("--max-drop", type=types.Finite(0, 100), default=1.0, show_default=True, help="Gate: max accuracy drop, points.")
@click.option("--min-agreement", type=types.FRACTION, default=0.99, show_default=True, help="Gate: min top-1 agreement.")
@click.option("--max-class-drop", type=types.Finite(0, 100), default=5.0, show_default=True,
              help="Gate: max accuracy drop of any one class, points.")
@click.option("--no-repair", is_flag=True, help="An int8 artifact that fails the gate fails: no calibration retry, "
              "float fallback or 16x8.")
@click.option("--keep-saved-model", is_flag=True, help="Keep the intermediate SavedModel.")
@click.option("--out", type=types.OUT_DIR, help="Output folder (default: RUN/export, or MODEL-export beside a "
              "model file); only an earlier export is ever replaced.")
@click.option("--overwrite", is_flag=True, help="Replace an export in --out made from another model.")
@click.option("--unknown", type=click.Choice(["on", "off"]), default="on", show_default=True,
              help="Calibrated probabilities and one more class, unknown, for frames unlike every class; "
                   "off: the model's own classes and probabilities, as trained.")
@click.option("--known-rate", type=types.Finite(0.5, 1, max_open=True), default=0.95, show_default=True,
              help="Share of validation images the unknown threshold keeps (higher: fewer known images "
                   "called unknown, more frames of nothing accepted).")
@click.option("--ood", type=types.EXISTING_DIR, help="A folder of your own frames of nothing (a wall, the empty "
              "scene): export reports how many each artifact names as a class.")
@contract_options
def export(source, int8, formats, io_dtype, calib, labels_file, data, max_drop, min_agreement, max_class_drop,
           no_repair, keep_saved_model, out, overwrite, unknown, known_rate, ood, **contract):
    """[train extra] Export TFLite/ONNX artifacts with metadata, verified against the original.

    \b
    edgecls export runs/mini --int8
    edgecls export model.keras --labels labels.txt --data fashion-mnist --formats tflite-int8
    edgecls export my_cnn.h5 --labels labels.txt --data fashion-mnist --int8 --input-range 0,1
    A model trained elsewhere (.keras or .h5) gets its input contract measured on --data (or declared
    with --input-range/--mean/--std/--color/--invert/--output); every artifact still takes raw pixels.
    An int8 artifact that fails the parity gate is repaired in order (more calibration images,
    the worst layers kept in float, 16x8 for TFLite); parity.json records every attempt.
    Exit code 3 when an artifact still fails the gate (--max-drop, --min-agreement, --max-class-drop); the
    failed candidate is kept in export.failed/ and the previous export is left as it was.
    Conversion runs on Keras' TensorFlow backend whatever KERAS_BACKEND says (a model trained on
    JAX exports the same way).
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        console.info(f"export converts on the TensorFlow backend (KERAS_BACKEND={os.environ['KERAS_BACKEND']} "
                     "applies to training)")
        os.environ["KERAS_BACKEND"] = "tensorflow"
    _import_keras()
    from edgecls.export import export_model

    report = export_model(source, out=out, formats=formats, int8=int8, io_dtype=io_dtype, calib=calib,
                          labels=labels_file, data=data, max_drop=max_drop, min_agreement=min_agreement,
                          max_class_drop=max_class_drop, contract=_contract(**contract),
                          keep_saved_model=keep_saved_model, repair_int8=not no_repair, overwrite=overwrite,
                          unknown=unknown == "on", known_rate=known_rate, ood=ood)
    click.echo(f"all {len(report['artifacts'])} artifacts passed the parity gate")


@main.command()
@click.argument("export_dir", type=types.EXISTING_DIR)
@click.option("--images", type=types.EXISTING, help="Also classify these images (a file or folder): agreement "
              "of every artifact with the float one.")
@click.option("--threads", type=click.IntRange(1, 256), help="Inference threads (default: all cores).")
@click.option("--device", type=click.Choice(devices.CHOICES), default="auto", show_default=True,
              help="auto: the best available; gpu: refuse without one.")
@click.option("--artifact", "only", multiple=True, help="Verify only this file of the export (repeatable), "
              "e.g. the one you deploy.")
@click.option("--json", "json_path", type=types.OutputFile(), help="Write the results as JSON to PATH (- for stdout).")
def verify(export_dir, images, threads, device, only, json_path):
    """Run the parity gate again on this device with the runtime alone; exit 3 when it fails.

    Every artifact classifies the reference images that export wrote beside it, with this
    machine's kernels, against the original model's answers; latency p50/p95 here too.

    \b
    edgecls verify runs/mini/export
    edgecls verify export/ --images my_photos/ --json verify.json
    """
    import json

    from edgecls import fileio
    from edgecls.errors import GateError
    from edgecls.runtime.verify import format_report, verify_export

    fileio.check_io({"EXPORT_DIR": [os.path.join(export_dir, name) for name in os.listdir(export_dir)],
                     "--images": images}, {"--json": json_path})
    result = verify_export(export_dir, images=images, threads=threads, device=device, only=list(only) or None)
    if json_path == "-":
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(format_report(result))
        if json_path:
            fileio.write_json(json_path, result)
    if not result["passed"]:
        failed = [f"{r['artifact']}: {', '.join(r['failures'])}" for r in result["artifacts"] if not r["passed"]]
        raise GateError(f"parity gate failed on this device: {'; '.join(failed)}")


@main.command()
@click.argument("artifact", type=types.EXISTING_FILE, required=False)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def info(artifact, as_json):
    """Print an artifact's metadata, inputs/outputs, size and op count; without one, this machine's.

    The machine: Python, OpenCV, LiteRT, ONNX Runtime and its execution providers, the window,
    and where --device auto runs each format. Exits 1 when two installed packages ship one
    module (cv2 or onnxruntime), which breaks both.

    \b
    edgecls info
    edgecls info runs/mini/export/model_int8.tflite
    """
    import json
    from pathlib import Path

    from edgecls.errors import clean_text
    from edgecls.runtime import Classifier

    if artifact is None:
        facts = devices.info()
        click.echo(json.dumps(facts, indent=2) if as_json else devices.format_info(facts))
        clashes = devices.problems(facts["owners"])
        if clashes:
            raise EdgeclsError("; ".join(clashes), exit_code=1)
        return
    clf = Classifier(artifact, warmup=False)
    doc = {"path": artifact, "kind": clf.kind, "size_bytes": Path(artifact).stat().st_size,
           "metadata": clf.metadata or None, **clf.backend.describe()}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"{artifact}: {clf.kind}, {doc['size_bytes']:,} bytes")
    for key in ("inputs", "outputs"):
        for t in doc[key]:
            extra = f" scale={t['scale']:.6g} zero_point={t['zero_point']}" if t.get("scale") else ""
            click.echo(f"  {key[:-1]:<6} {clean_text(t['name'], 80)} {t['shape']} {t['dtype']}{extra}")
    if "ops" in doc:
        click.echo(f"  ops    {doc['ops']} ({', '.join(doc['op_types'])})")
    meta = clf.metadata
    if not meta:
        click.echo("  no edgecls metadata (pass labels= and input_size= to Classifier)")
        return
    i = meta["input"]
    click.echo(f"  input  {i['height']}x{i['width']}x{i['channels']} {i['color']} {clean_text(i.get('dtype'), 20)}, "
               f"resize {i.get('resize', 'stretch')}")
    click.echo(f"  labels {', '.join(meta['labels'])}")
    for key in ("dataset", "original_accuracy", "quantization", "source_sha256", "created"):
        if key in meta:
            click.echo(f"  {key:<17} {clean_text(meta[key], 120)}")


def _moved_to_resize(ctx) -> None:
    flag = next((a for a in sys.argv if a in ("--crop", "--pad", "--stretch")), "--crop")
    _moved(ctx, f"{flag} is now --resize {flag[2:]} (one option; the default comes from the model)")


def _moved(ctx, message: str) -> None:
    """An option that was renamed: one line that says what replaced it."""
    raise click.UsageError(message, ctx)


@main.command()
@click.argument("model_path", type=types.EXISTING)
@click.option("--source", "-s", default="0", show_default=True,
              help="Camera index, video file, RTSP/HTTP URL, image file or folder of images.")
@click.option("--top-k", type=types.POSITIVE, default=1, show_default=True)
@click.option("--threshold", type=types.FRACTION, default=0.0, show_default=True,
              help='Below this (calibrated) probability the label is "unknown"; a model exported with its '
                   'unknown class says so by itself.')
@click.option("--classes", type=types.Names(), help="Name only these classes (comma-separated), or unknown.")
@click.option("--exclude", type=types.Names(), help="Never name these classes (comma-separated).")
@click.option("--smooth", type=types.POSITIVE, default=1, show_default=True, help="Average scores over the last N frames.")
@click.option("--headless", is_flag=True, default=None, help="No window (automatic without a display).")
@click.option("--save", type=types.OutputFile((".mp4", ".avi")), help="Write the annotated video here (.mp4 or .avi).")
@click.option("--jsonl", type=types.OutputFile(), help="Write one JSON line per frame to PATH, or - for stdout.")
@click.option("--resize", type=click.Choice(["crop", "pad", "stretch"]),
              help="Fit frames to the model: crop the centre, pad (letterbox) or stretch "
                   "(default: the model's own, from its metadata).")
@click.option("--crop", "--pad", "--stretch", "old_resize_flag", is_flag=True, hidden=True, expose_value=False,
              callback=lambda ctx, param, value: _moved_to_resize(ctx) if value else None)
@click.option("--threads", type=click.IntRange(1, 256), help="Inference threads (default: all cores).")
@click.option("--device", type=click.Choice(devices.CHOICES), default="auto", show_default=True,
              help="auto: the best available (printed); gpu: refuse without one (ONNX Runtime GPU providers).")
@click.option("--provider", "providers", multiple=True, help="ONNX Runtime execution provider (repeatable).")
@click.option("--labels", "labels_file", type=types.EXISTING_FILE, help="labels.txt for a model without metadata.")
@click.option("--max-frames", type=types.POSITIVE, help="Stop after N frames.")
@click.option("--summary-json", type=types.OutputFile((".json",)), help="Also write the summary as JSON.")
def run(model_path, source, top_k, threshold, classes, exclude, smooth, headless, save, jsonl, resize, threads, device,
        providers, labels_file, max_frames, summary_json):
    """Classify frames from a camera, video, stream, image or folder with an exported model.

    \b
    edgecls run model_int8.tflite --source 0                      # webcam window
    edgecls run model_int8.tflite --source clip.mp4 --headless --jsonl -
    edgecls run model_fp32.onnx --source photos/ --top-k 3 --save out.mp4
    edgecls run runs/mini/export --source 0          # the fastest file that passes its gate here
    Keys in the window: q/Esc quit, space pause, s snapshot.
    """
    from edgecls import fileio
    from edgecls.runtime import Classifier
    from edgecls.runtime.runner import RunOptions, format_summary, run_stream
    from edgecls.runtime.sources import open_source

    from edgecls.runtime.metadata import artifact_kind
    from edgecls.runtime.verify import fastest_passing

    if os.path.isdir(model_path):  # an export folder: pick its fastest passing file on this machine
        model_path, why = fastest_passing(model_path, threads=threads, device=device,
                                          kind="onnx" if providers else None)
        console.info(why)
    if providers and artifact_kind(model_path) != "onnx":
        raise click.BadParameter("ONNX Runtime providers apply to .onnx models; this is a TFLite model "
                                 "(LiteRT runs it on the CPU with XNNPACK)", param_hint="'--provider'")
    fileio.check_io({"MODEL_PATH": model_path, "--source": source, "--labels": labels_file},
                    {"--save": save, "--jsonl": jsonl, "--summary-json": summary_json})
    labels = fileio.read_labels(labels_file) if labels_file else None
    clf = Classifier(model_path, labels=labels, resize=resize, threads=threads, device=device,
                     providers=list(providers) or None)
    console.info(f"{clf}, resize {clf.resize} ({'--resize' if resize else 'from the model'})")
    if classes and exclude:
        raise click.UsageError("--classes and --exclude exclude each other (as MediaPipe's allowlist and denylist)")
    opts = RunOptions(top_k=top_k, threshold=threshold, smooth=smooth, headless=headless, save=save,
                      jsonl=jsonl, max_frames=max_frames, classes=classes, exclude=exclude)
    with open_source(source) as src:
        summary = run_stream(clf, src, opts)
    console.info(format_summary(summary))
    if summary_json:
        fileio.write_json(summary_json, summary)
    if summary.get("error"):
        raise EdgeclsError(f"{summary['error']} ({summary['frames']} frames done)", exit_code=1)


@main.command()
@click.argument("source", type=types.EXISTING)
@click.option("--artifact", "artifacts", multiple=True, type=types.EXISTING_FILE,
              help="Benchmark these files (repeatable).")
@click.option("--data", type=types.DATASET, help="Dataset whose test split is used (default: the run's own).")
@click.option("--labels", "labels_file", type=types.EXISTING_FILE, help="labels.txt for a bare .keras file.")
@click.option("--iterations", type=types.POSITIVE, default=300, show_default=True, help="Timed calls per measurement, at most.")
@click.option("--seconds", type=types.Finite(0, 3600, min_open=True), default=2.0, show_default=True,
              help="Time per measurement, at most.")
@click.option("--limit", type=types.POSITIVE, help="Use a class-stratified sample of N test images.")
@click.option("--device", type=click.Choice(devices.CHOICES), default="auto", show_default=True,
              help="auto: the best available; gpu: .onnx on the GPU (refused without one), .tflite on the CPU.")
@click.option("--json", "json_path", type=types.OutputFile(), help="Write the results as JSON to PATH (- for stdout).")
@click.option("--markdown", "markdown_path", type=types.OutputFile(), help="Write a Markdown table to PATH (- for stdout).")
@contract_options
def bench(source, artifacts, data, labels_file, iterations, seconds, limit, device, json_path, markdown_path,
          **contract):
    """[train extra for a run] Size, accuracy, agreement, latency, cold start and memory of every format.

    \b
    edgecls bench runs/mini
    edgecls bench runs/mini --json bench.json --markdown bench.md
    edgecls bench model_int8.onnx --data fashion-mnist    # one exported file alone
    """
    import json

    from edgecls import fileio
    from edgecls.bench import bench as run_bench, bench_artifact, format_markdown, format_table, is_artifact

    fileio.check_io({"SOURCE": _model_file(source), "--artifact": list(artifacts), "--data": data,
                     "--labels": labels_file}, {"--json": json_path, "--markdown": markdown_path})
    if is_artifact(source):
        result = bench_artifact(source, data=data, iterations=iterations, seconds=seconds, limit=limit, device=device)
    else:
        _import_keras()
        result = run_bench(source, artifacts=list(artifacts) or None, data=data, labels=labels_file,
                           iterations=iterations, seconds=seconds, limit=limit, device=device,
                           contract=_contract(**contract))
    for path, text in ((json_path, json.dumps(result, indent=2)), (markdown_path, format_markdown(result))):
        if path == "-":
            click.echo(text)
        elif path:
            fileio.write_text(path, text + "\n")
    if "-" not in (json_path, markdown_path):
        click.echo(format_table(result))


@main.group()
def data():
    """Dataset utilities (split an image folder)."""


@data.command("split")
@click.argument("src", type=types.EXISTING_DIR)
@click.argument("dest", type=types.OUT_DIR)
@click.option("--ratios", type=types.Ratios(), default="0.64,0.16,0.2", show_default=True,
              help="train,val,test fractions (16:4:5).")
@click.option("--seed", type=types.SEED, default=0, show_default=True)
@click.option("--copy", is_flag=True, help="Copy files instead of hard-linking them.")
def data_split(src, dest, ratios, seed, copy):
    """Write a seeded, stratified train/val/test split of an image folder (never touches the source).

    \b
    edgecls data split PetImages pets --ratios 0.64,0.16,0.2
    """
    from edgecls.toolkit.data.split_folder import split_folder

    counts = split_folder(src, dest, ratios=ratios, seed=seed, mode="copy" if copy else "link")
    for part in ("train", "val", "test"):
        c = counts.get(part, {})
        click.echo(f"{part:>5}: {sum(c.values()):6d} images  " + "  ".join(f"{k}={v}" for k, v in sorted(c.items())))


if __name__ == "__main__":
    main()
