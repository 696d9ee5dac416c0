"""Where options, outputs and streams meet (issue 31): nothing the user gave is replaced, and every
figure comes from the data it claims. Each test combines two things that work alone."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import EXPORTED_OPTIONS, run_cli

GATE_OFF = ("--min-agreement", "0", "--max-drop", "100", "--max-class-drop", "100")


def digest(path: Path) -> dict[str, str]:
    """SHA-256 of a file, or of every file under a folder, by relative path."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    return {str(f.relative_to(path) if path.is_dir() else f.name): hashlib.sha256(f.read_bytes()).hexdigest()
            for f in files}


@pytest.fixture
def run_copy(tmp_path, trained_run) -> Path:
    """A private copy of the trained run (model, labels, config, reports; no export)."""
    copy = tmp_path / "victim"
    shutil.copytree(trained_run, copy, ignore=shutil.ignore_patterns("export", "export.failed", "eval-*"))
    return copy


@pytest.fixture
def photos(tmp_path, sample) -> Path:
    """Five real test photos of five different classes, one file each."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, c in enumerate([0, 7, 1, 8, 9]):
        cv2.imwrite(str(folder / f"{i}.png"), sample.x_test[np.flatnonzero(sample.y_test == c)[0]])
    return folder


# -- never replace what the user gave ----------------------------------------------------------

def test_export_out_onto_the_run_itself_is_refused(run_copy):
    """Issue 31.1: `export RUN --out RUN` once left only the export (model.keras, config.json gone)."""
    before = digest(run_copy)
    proc = run_cli("export", str(run_copy), "--unknown", "off", "--formats", "tflite-fp32", "--out", str(run_copy), *GATE_OFF)
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1 and "holds the input" in proc.stderr, proc.stderr
    assert digest(run_copy) == before


def test_export_out_onto_a_folder_of_the_users_is_refused(run_copy, tmp_path):
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "ideas.txt").write_text("do not lose me\n")
    proc = run_cli("export", str(run_copy), "--unknown", "off", "--formats", "tflite-fp32", "--out", str(notes), *GATE_OFF)
    assert proc.returncode == 2 and "is not an edgecls export (it holds ideas.txt)" in proc.stderr, proc.stderr
    assert (notes / "ideas.txt").read_text() == "do not lose me\n" and len(list(notes.iterdir())) == 1


def test_export_replaces_its_own_export_and_only_with_overwrite_another_models(run_copy, tmp_path):
    """Issue 31.19: the export of another model (its source_sha256) is not replaced silently."""
    run_cli("export", str(run_copy), "--unknown", "off", "--formats", "tflite-fp32", *GATE_OFF, check=True)
    first = digest(run_copy / "export")
    other = tmp_path / "other"
    shutil.copytree(run_copy, other, ignore=shutil.ignore_patterns("export"))
    with open(other / "model.keras", "ab") as f:  # another model file (a zip with trailing bytes still loads)
        f.write(b"\0")
    (other / "manifest.json").unlink()
    proc = run_cli("export", str(other), "--unknown", "off", "--formats", "tflite-fp32", "--out", str(run_copy / "export"), *GATE_OFF)
    assert proc.returncode == 2 and "holds the export of another model" in proc.stderr, proc.stderr
    assert digest(run_copy / "export").keys() == first.keys()
    run_cli("export", str(other), "--unknown", "off", "--formats", "tflite-fp32", "--out", str(run_copy / "export"), "--overwrite",
            *GATE_OFF, check=True)
    report = json.loads((run_copy / "export" / "parity.json").read_text())
    assert report["source_sha256"] == hashlib.sha256((other / "model.keras").read_bytes()).hexdigest()


def test_two_model_files_in_one_folder_get_their_own_exports(tmp_path, trained_run):
    """Issue 31.19: a model file's default export is named after it, so a second one never deletes the first's."""
    from edgecls.toolkit.rundir import resolve_source

    folder = tmp_path / "models"
    folder.mkdir()
    for name in ("a", "b"):
        shutil.copy(trained_run / "model.keras", folder / f"{name}.keras")
    shutil.copy(trained_run / "labels.txt", folder / "labels.txt")
    run_cli("export", str(folder / "a.keras"), "--unknown", "off", "--labels", str(folder / "labels.txt"), "--data",
            "fashion-mnist-mini", "--formats", "tflite-fp32", *GATE_OFF, check=True)
    assert (folder / "a-export" / "model_fp32.tflite").is_file() and not (folder / "export").exists()
    second = resolve_source(str(folder / "b.keras"), str(folder / "labels.txt"), "fashion-mnist-mini")
    assert second.default_export == folder / "b-export"


# -- each figure measured with other options beside it equals the figure measured alone (issue 31) ------

def _answers(exported, photos, *options) -> list:
    proc = run_cli("run", str(exported / "model_fp32.tflite"), "--source", str(photos), "--headless", "--jsonl", "-",
                   *options, check=True)
    return [json.loads(line)["top_k"][0] for line in proc.stdout.splitlines()]


def _verify(exported, *options) -> dict:
    """``verify --json``: each artifact's row, and the agreement on ``--images`` where given."""
    report = json.loads(run_cli("verify", str(exported), *options, "--json", "-", check=True).stdout)
    rows = {r["artifact"]: {k: r[k] for k in ("samples", "accuracy", "agreement")} for r in report["artifacts"]}
    return {"rows": rows, "images": report.get("images", {}).get("agreement", {})}


def _noise_folder(tmp_path) -> Path:
    folder = tmp_path / "noise"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(40):  # frames of nothing: where int8 and fp32 disagree most
        cv2.imwrite(str(folder / f"{i:02d}.png"), rng.integers(0, 256, (28, 28), dtype=np.uint8))
    return folder


def _smooth_row(ctx):
    return _answers(ctx["exported"], ctx["photos"], "--smooth", "3"), _answers(ctx["exported"], ctx["photos"])


def _artifact_row(ctx):
    one = _verify(ctx["exported"], "--artifact", "model_dynamic.tflite")["rows"]
    return one, {"model_dynamic.tflite": _verify(ctx["exported"])["rows"]["model_dynamic.tflite"]}


def _artifact_images_row(ctx):
    images = str(_noise_folder(ctx["tmp"]))
    one = _verify(ctx["exported"], "--artifact", "model_dynamic.tflite", "--images", images)["images"]
    return one, {"model_dynamic.tflite": _verify(ctx["exported"], "--images", images)["images"]["model_dynamic.tflite"]}


def _data_row(name):
    """bench FILE --data: the figures export measured on the same test split (the file has an unknown class;
    31.8: a .tflite takes RGB, the dataset is gray)."""
    def row(ctx):
        proc = run_cli("bench", str(ctx["exported"] / name), "--data", "fashion-mnist-mini",
                       "--iterations", "5", "--seconds", "0.1", "--json", "-", check=True)
        got = json.loads(proc.stdout)["rows"][0]
        parity = {r["artifact"]: r for r in json.loads((ctx["exported"] / "parity.json").read_text())["artifacts"]}
        alone = parity[name]["unknown"]
        return ([round(got["accuracy"], 4), round(got["accepted"], 4)],
                [round(alone["accepted_accuracy"], 4), round(alone["accepted"], 4)])
    return row


def _formats_row(ctx):
    """Issue 31.6 too: `--formats onnx-int8` publishes that file alone (never the ungated fp32 ONNX it is
    quantized from), measured as the export of every format measured it."""
    run = ctx["run_copy"]
    run_cli("export", str(run), "--formats", "onnx-int8", *EXPORTED_OPTIONS, check=True)
    names = sorted(p.name for p in (run / "export").iterdir())
    assert names == ["labels.txt", "model_int8.onnx", "parity.json", "reference.npz"], names

    def rows(export):
        return {r["artifact"]: {k: r[k] for k in ("samples", "accuracy", "agreement", "unknown")}
                for r in json.loads((export / "parity.json").read_text())["artifacts"]}

    return rows(run / "export"), {"model_int8.onnx": rows(ctx["exported"])["model_int8.onnx"]}


FIGURES = [("run --smooth 3 over a folder", _smooth_row), ("verify --artifact", _artifact_row),
           ("verify --artifact --images", _artifact_images_row),
           ("bench FILE.onnx --data", _data_row("model_int8.onnx")),
           ("bench FILE.tflite --data gray", _data_row("model_int8.tflite")),
           ("export --formats onnx-int8", _formats_row)]


@pytest.mark.parametrize("row", [f for _, f in FIGURES], ids=[name for name, _ in FIGURES])
def test_a_figure_measured_beside_other_options_equals_it_measured_alone(row, exported, photos, run_copy, tmp_path):
    """The options that change what is measured, each beside the others, against the same figure measured by
    the command without them (or by the command that measured it first): smoothing over separate files, one
    artifact of several, one file of an export, one format of six."""
    beside, alone = row({"exported": exported, "photos": photos, "run_copy": run_copy, "tmp": tmp_path})
    assert beside == alone


def _as_nobody() -> None:
    os.setgid(65534)
    os.setuid(65534)


PUBLISH = """
import sys
from edgecls.errors import EdgeclsError
from edgecls.fileio import publish_dir
try:
    publish_dir(sys.argv[1], sys.argv[2])
except EdgeclsError as exc:
    print(exc)
    sys.exit(2)
"""


def _unprivileged_python(preexec) -> list[str]:
    """A Python the unprivileged user can start, with this checkout's edgecls on its path (stdlib only)."""
    for python in (sys.executable, "/usr/bin/python3"):
        try:
            proc = subprocess.run([python, "-c", "import edgecls.fileio"], capture_output=True, preexec_fn=preexec,
                                  env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])}, cwd="/")
        except OSError:  # not executable for that user
            continue
        if proc.returncode == 0:
            return [python]
    pytest.skip("no Python that the unprivileged user can start with this checkout readable")


def test_publishing_over_a_folder_that_cannot_be_removed_leaves_the_old_one_whole():
    """Issue 31.3: a read-only folder inside the old export once left the new files in place and the old
    ones in a staging folder, with exit 1. Run without privileges, as a user would be."""
    preexec = _as_nobody if os.geteuid() == 0 else None
    python = _unprivileged_python(preexec)
    root = Path(tempfile.mkdtemp(prefix="edgecls-publish-"))
    try:
        os.chmod(root, 0o777)
        target, staging = root / "export", root / ".export.staging-1"
        (target / "locked").mkdir(parents=True)
        (target / "parity.json").write_text("old")
        (target / "locked" / "model_fp32.tflite").write_text("old model")
        staging.mkdir()
        (staging / "parity.json").write_text("new")
        for path in (root, target, staging, staging / "parity.json", target / "parity.json"):
            os.chmod(path, 0o777 if path.is_dir() else 0o666)
        if preexec:
            for path in (target, target / "locked", target / "locked" / "model_fp32.tflite"):
                os.chown(path, 65534, 65534)
        os.chmod(target / "locked", 0o555)  # its file cannot be deleted
        proc = subprocess.run([*python, "-c", PUBLISH, str(staging), str(target)], capture_output=True, text=True,
                              preexec_fn=preexec, env={"PYTHONPATH": str(Path(__file__).resolve().parents[1])})
        assert proc.returncode == 2 and "is not writable (left as it was)" in proc.stdout, proc.stdout + proc.stderr
        assert (target / "parity.json").read_text() == "old"
        assert (target / "locked" / "model_fp32.tflite").read_text() == "old model"
        assert (staging / "parity.json").read_text() == "new"  # the caller discards its own staging folder
    finally:
        os.chmod(root / "export" / "locked", 0o755)
        shutil.rmtree(root)


SPELLINGS = ["same", "dot", "dotdot", "symlink", "hardlink"]


def _spell(path: Path, how: str, cwd: Path) -> str:
    """Another way to name ``path`` (relative to ``cwd``): the same file by any spelling."""
    if how == "same":
        return str(path)
    if how == "dot":
        return "./" + os.path.relpath(path, cwd)
    if how == "dotdot":
        return os.path.join("..", cwd.name, os.path.relpath(path, cwd))
    alias = path.with_name(f"alias-{how}{path.suffix}")
    if not alias.exists():
        (os.symlink if how == "symlink" else os.link)(path, alias)
    return str(alias)


@pytest.mark.parametrize("how", SPELLINGS)
def test_run_save_onto_the_source_video_is_refused(tmp_path, exported, sample, how):
    """Issue 31.2: `run --save` equal to `--source` once re-encoded the input video."""
    from edgecls.toolkit.data.video import write_video

    clip = tmp_path / "clip.avi"
    write_video(clip, sample.x_test[:5], lossless=False)
    before = digest(clip)
    proc = run_cli("run", str(exported / "model_int8.tflite"), "--source", str(clip), "--headless",
                   "--save", _spell(clip, how, tmp_path), cwd=tmp_path)
    refusal = "is a link; edgecls does not write through links" if how == "symlink" else "is the input --source"
    assert proc.returncode == 2 and refusal in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
    assert digest(clip) == before


def _cases(ctx: dict) -> list[tuple[str, list[str], Path]]:
    """(name, command line, the input its output option points at) for every command's output options."""
    export, run, photos, clip = ctx["export"], ctx["run"], ctx["photos"], ctx["clip"]
    model = export / "model_int8.tflite"
    return [
        ("run --jsonl onto the model", ["run", str(model), "--source", str(clip), "--headless", "--jsonl", str(model)], model),
        ("run --jsonl into the source folder", ["run", str(model), "--source", str(photos), "--headless",
                                                "--jsonl", str(photos / "out.jsonl")], photos),
        ("run --save onto --jsonl", ["run", str(model), "--source", str(clip), "--headless", "--save",
                                     str(clip.with_name("x.mp4")), "--jsonl", str(clip.with_name("x.mp4"))], None),
        ("bench --json onto the artifact", ["bench", str(model), "--json", str(model)], model),
        ("bench --markdown onto the model", ["bench", str(run), "--markdown", str(run / "model.keras")], run / "model.keras"),
        ("verify --json onto parity.json", ["verify", str(export), "--json", str(export / "parity.json")],
         export / "parity.json"),
        ("verify --json into --images", ["verify", str(export), "--images", str(photos), "--json",
                                         str(photos / "v.json")], photos),
        ("evaluate --out onto the data folder", ["evaluate", str(run), "--data", str(photos), "--out", str(photos)], photos),
        ("inspect --out over the data", ["inspect", "--data", str(photos), "--out", str(photos.parent)], photos),
        ("train --out holding --init", ["train", "--init", str(run / "model.keras"), "--out", str(run)], run),
        ("data split into its source", ["data", "split", str(photos), str(photos / "split")], photos),
    ]


def test_no_output_option_of_any_command_touches_an_input(tmp_path, trained_run, exported, photos, sample):
    """Issue 31, the generated test: each output option pointed at an input is refused in one line,
    and every input is byte for byte as before."""
    from edgecls.toolkit.data.video import write_video

    run = tmp_path / "run"
    shutil.copytree(trained_run, run, ignore=shutil.ignore_patterns("export", "export.failed", "eval-*"))
    shutil.copytree(exported, run / "export")
    clip = tmp_path / "clip.avi"
    write_video(clip, sample.x_test[:3], lossless=False)
    ctx = {"export": run / "export", "run": run, "photos": photos, "clip": clip}
    before = {name: digest(path) for name, path in ctx.items()}
    for name, args, _ in _cases(ctx):
        proc = run_cli(*args)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and "Traceback" not in proc.stderr, (name, proc.stderr)
        assert {n: digest(p) for n, p in ctx.items()} == before, name


# -- figures from the right data ---------------------------------------------------------------

def test_smoothing_starts_afresh_at_every_file(exported, photos):
    """Issue 31.4: `--smooth 3` over a folder once averaged one photo's scores into the next."""
    from edgecls.runtime import Classifier

    clf = Classifier(exported / "model_fp32.tflite")
    expected = []
    for path in sorted(photos.iterdir()):  # the oracle: each photo alone
        probs = clf.predict(clf.preprocess(cv2.imread(str(path), cv2.IMREAD_UNCHANGED)))[0]
        expected.append([clf.labels[int(probs.argmax())], float(probs.max())])
    proc = run_cli("run", str(exported / "model_fp32.tflite"), "--source", str(photos), "--headless",
                   "--smooth", "3", "--jsonl", "-", check=True)
    got = [json.loads(line)["top_k"][0] for line in proc.stdout.splitlines()]
    assert [g[0] for g in got] == [e[0] for e in expected]
    assert np.allclose([g[1] for g in got], [e[1] for e in expected], atol=1e-5)


def test_verify_one_artifact_on_images_compares_it_with_the_float_file(exported, tmp_path):
    """Issue 31.5: `verify --artifact X --images DIR` once compared X with itself (1.0000)."""
    from edgecls.runtime import Classifier

    images = _noise_folder(tmp_path)
    frames = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in sorted(images.iterdir())]

    def answers(name):
        clf = Classifier(exported / name)
        return clf.predict(np.stack([clf.preprocess(f) for f in frames])).argmax(1)

    expected = float((answers("model_dynamic.tflite") == answers("model_fp32.tflite")).mean())
    proc = run_cli("verify", str(exported), "--artifact", "model_dynamic.tflite", "--images", str(images),
                   "--json", "-", check=True)
    seen = json.loads(proc.stdout)["images"]
    assert seen["against"] == "model_fp32.tflite"
    assert seen["agreement"] == {"model_dynamic.tflite": pytest.approx(expected)}


def test_run_prints_answers_on_stdout_and_the_summary_on_stderr(exported, photos):
    """Issue 31.16: `edgecls run ... | grep Sneaker` finds the Sneaker; with `--jsonl -` stdout is JSON only."""
    proc = run_cli("run", str(exported / "model_fp32.tflite"), "--source", str(photos), "--headless", check=True)
    assert [line.split(":")[0] for line in proc.stdout.splitlines()] == [str(p) for p in sorted(photos.iterdir())]
    assert "frames from" in proc.stderr and "frames from" not in proc.stdout
    proc = run_cli("run", str(exported / "model_fp32.tflite"), "--source", str(photos), "--headless", "--jsonl", "-",
                   check=True)
    assert [json.loads(line)["frame"] for line in proc.stdout.splitlines()] == list(range(5))


def _jpeg_with_padding(path: Path, height: int, width: int, padding: int) -> Path:
    """A real JPEG with ``padding`` bytes of APP segments (camera maker notes) before its size marker."""
    data = cv2.imencode(".jpg", np.full((height, width, 3), 128, np.uint8))[1].tobytes()
    segments = b""
    while padding > 0:
        chunk = min(padding, 65533)
        segments += b"\xff\xe9" + (chunk + 2).to_bytes(2, "big") + b"\0" * chunk
        padding -= chunk
    path.write_bytes(data[:2] + segments + data[2:])
    assert cv2.imread(str(path)).shape == (height, width, 3)  # OpenCV reads it as the image it is
    return path


def test_max_pixels_reaches_opencv_both_ways(tmp_path, exported):
    """Issue 31.9: raising --max-pixels once still refused a valid 60 MP JPEG (OpenCV kept its own limit),
    and a size marker behind 64 KB of segments slipped past a lowered one."""
    big = tmp_path / "big.jpg"
    cv2.imwrite(str(big), np.zeros((6000, 10000, 3), np.uint8))
    model = str(exported / "model_int8.tflite")
    proc = run_cli("run", model, "--source", str(big), "--headless")
    assert proc.returncode == 2 and "declares 10000x6000 pixels, over the limit of 50 MP" in proc.stderr
    proc = run_cli("--max-pixels", "100000000", "run", model, "--source", str(big), "--headless")
    assert proc.returncode == 0 and proc.stdout.startswith(str(big)), proc.stderr
    padded = _jpeg_with_padding(tmp_path / "padded.jpg", 1200, 1000, 100_000)
    proc = run_cli("--max-pixels", "1000000", "run", model, "--source", str(padded), "--headless")
    assert proc.returncode == 2 and "declares 1000x1200 pixels, over the limit of 1 MP" in proc.stderr, proc.stderr
    proc = run_cli("--max-pixels", "2000000", "run", model, "--source", str(padded), "--headless")
    assert proc.returncode == 0, proc.stderr


def test_the_device_column_names_the_delegate_that_was_applied(tmp_path, exported):
    """Issue 31.10: a 16x8 file runs on LiteRT's own kernels (no XNNPACK node in its plan), and says so."""
    import keras
    import tensorflow as tf

    from edgecls.runtime import Classifier

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, activation="relu"),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")])
    model.export(str(tmp_path / "saved"), verbose=False)
    converter = tf.lite.TFLiteConverter.from_saved_model(str(tmp_path / "saved"))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([np.full((1, 8, 8, 1), v, np.float32)] for v in range(0, 256, 32))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    path = tmp_path / "model_16x8.tflite"
    path.write_bytes(converter.convert())
    clf = Classifier(path, labels=["a", "b", "c"], input_size=(8, 8, 1))
    assert clf.backend.device == "CPU (LiteRT kernels, no delegate)"
    assert Classifier(exported / "model_int8.tflite").backend.device == "CPU (XNNPACK)"


# -- training data: splits that are stratified, stable and recorded (31.13) ---------------------

def _files(root: Path, label: str) -> list[Path]:
    return sorted((root / label).iterdir())


def test_folder_splits_give_each_class_its_exact_share_and_keep_sides_by_the_record(tmp_path, sample):
    """60 files a class, 20% test: 12 of each (hand: 60 * 0.2), then 10% of the 48 left to val: 5 (4.8 rounded).
    Files come and go: with the earlier split's record no train or val file ever enters test; without it
    at most one file of the class crosses the line per file added."""
    from test_folders import CLASSES, write_folder

    from edgecls.toolkit.data import load_dataset

    root = write_folder(tmp_path / "photos", sample, per_class=60, size=16)
    first = load_dataset(str(root), image_size=16, channels=1)
    assert np.bincount(first.y_test).tolist() == [12] * 3 and np.bincount(first.y_val).tolist() == [5] * 3
    record = {name: split for split, names in first.files.items() for name in names}
    assert len(record) == 180 and sorted(record) == sorted(p.relative_to(root).as_posix() for p in root.rglob("*.*"))
    label = CLASSES[0].lower()
    for path in _files(root, label)[:7]:  # seven files leave one class (test files among them) ...
        path.unlink()
    extra = write_folder(tmp_path / "more", sample, per_class=80, size=16)
    for path in _files(extra, label)[60:]:  # ... and twenty new ones arrive
        shutil.copy(path, root / label / f"new-{path.name}")
    later = load_dataset(str(root), image_size=16, channels=1, split_record=record)
    trained_on = {name for name, split in record.items() if split != "test"}
    assert not trained_on & set(later.files["test"])
    kept_test = {name for name, split in record.items() if split == "test" and (root / name).exists()}
    assert kept_test <= set(later.files["test"])  # a test file stays a test file
    assert np.bincount(later.y_test)[later.class_names.index(label)] == 15  # 73 files: 14.6 rounded
    # without the record: one file added moves at most one other file of its class across the test line
    (root / label / "one-more.png").write_bytes((root / label / f"new-{_files(extra, label)[60].name}").read_bytes())
    before = load_dataset(str(root), image_size=16, channels=1, split_record=None)
    (root / label / "one-more.png").unlink()
    after = load_dataset(str(root), image_size=16, channels=1)
    moved = set(before.files["test"]) ^ set(after.files["test"])
    assert len(moved - {f"{label}/one-more.png"}) <= 1, moved


def test_data_split_gives_exact_shares_and_a_new_file_moves_at_most_one_other(tmp_path, sample):
    from test_folders import write_folder

    from edgecls.toolkit.data.split_folder import split_folder

    src = write_folder(tmp_path / "src", sample, per_class=25, size=16)
    split_folder(src, tmp_path / "a")
    shares = {part: len(list((tmp_path / "a" / part / "bag").iterdir())) for part in ("train", "val", "test")}
    assert shares == {"train": 16, "val": 4, "test": 5}  # the tutorial's 16:4:5 of 25, by hand
    shutil.copy(src / "bag" / "0.png", src / "bag" / "added.png")
    split_folder(src, tmp_path / "b")
    a_test = {p.name for p in (tmp_path / "a" / "test" / "bag").iterdir()}
    b_test = {p.name for p in (tmp_path / "b" / "test" / "bag").iterdir()}
    assert len((a_test ^ b_test) - {"added.png"}) <= 1, (a_test, b_test)


def test_init_on_the_same_folder_never_tests_on_the_parents_training_files(tmp_path, sample):
    """The run records its split; --init on the grown folder keeps the parent's training files out of test (with
    another split seed too), says how many it shares, and evaluate scores the child on the test set it recorded."""
    import csv

    from test_folders import CLASSES, write_folder

    root = write_folder(tmp_path / "photos", sample, per_class=30, size=16)
    common = ("--data", str(root), "--image-size", "16", "--channels", "1", "--epochs", "1")
    run_cli("train", *common, "--out", str(tmp_path / "base"), check=True)
    extra = write_folder(tmp_path / "more", sample, per_class=45, size=16)
    for label in (c.lower() for c in CLASSES):
        for path in _files(extra, label)[30:]:
            shutil.copy(path, root / label / f"new-{path.name}")
    proc = run_cli("train", *common, "--split-seed", "3", "--init", str(tmp_path / "base" / "model.keras"),
                   "--out", str(tmp_path / "child"), check=True)

    def record(run):
        with open(tmp_path / run / "split.csv", newline="") as f:
            return {row["file"]: row["split"] for row in csv.DictReader(f)}

    parent, child = record("base"), record("child")
    assert len(parent) == 90 and len(child) == 135
    test = [name for name, split in child.items() if split == "test"]
    assert not [name for name in test if parent.get(name) in ("train", "val")]
    assert f"--init: 0 of the {len(test)} test files are files" in proc.stderr, proc.stderr
    run_cli("evaluate", str(tmp_path / "child"), "--out", str(tmp_path / "eval"), check=True)
    trained = json.loads((tmp_path / "child" / "metrics.json").read_text())
    again = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert again["accuracy"] == trained["accuracy"] and np.sum(again["confusion_matrix"]) == len(test)
    _bench_file_splits_by_its_runs_record(tmp_path / "base", root, parent)


def _bench_file_splits_by_its_runs_record(run: Path, root: Path, record: dict[str, str]):
    """31.7: ``bench FILE --data FOLDER`` on a file in its run's export splits the grown folder by the run's
    split.csv; the same file copied elsewhere says its split may hold training images."""
    from edgecls.bench import bench_artifact, source_split_record
    from edgecls.runtime import Classifier

    run_cli("export", str(run), "--formats", "tflite-fp32", "--unknown", "off", check=True)
    in_place = run / "export" / "model_fp32.tflite"
    elsewhere = Path(shutil.copy(in_place, run.parent / "copied.tflite"))
    assert source_split_record(Classifier(in_place), str(root)) == record
    assert source_split_record(Classifier(elsewhere), str(root)) == {}
    here, away = (bench_artifact(str(p), data=str(root), iterations=5, seconds=0.1) for p in (in_place, elsewhere))
    assert not [n for n in here["notes"] if "split" in n], here["notes"]
    assert [n for n in away["notes"] if "split.csv is not beside copied.tflite" in n], away["notes"]


# -- behaviours no test pinned (issue 31, last section) --------------------------------------------

def test_a_moved_dataset_folder_keeps_every_files_split(tmp_path, sample):
    """The split depends on each file's path inside the folder and the seed, never on where the folder is."""
    from test_folders import write_folder

    from edgecls.toolkit.data import load_dataset

    first = write_folder(tmp_path / "photos", sample, per_class=12, size=32)
    before = load_dataset(str(first), image_size=28, channels=1)
    moved = first.rename(tmp_path / "renamed")
    after = load_dataset(str(moved), image_size=28, channels=1)
    for split in ("train", "val", "test"):
        assert np.array_equal(getattr(before, f"x_{split}"), getattr(after, f"x_{split}")), split
        assert np.array_equal(getattr(before, f"y_{split}"), getattr(after, f"y_{split}")), split


def test_data_split_refuses_a_source_inside_its_destination(tmp_path, sample):
    from test_folders import write_folder

    src = write_folder(tmp_path / "out" / "photos", sample, per_class=4, size=16)
    before = digest(tmp_path / "out")
    proc = run_cli("data", "split", str(src), str(tmp_path / "out"))
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr
    assert digest(tmp_path / "out") == before


@pytest.mark.parametrize("other", [{"resize": "crop"}, {"image_size": 24}])
def test_the_decode_cache_never_serves_another_mode_or_size(tmp_path, sample, other):
    """A folder decoded with one resize mode or size is decoded again for another, never served from the cache."""
    from edgecls.runtime.preprocess import to_model_input
    from edgecls.runtime.sources import read_image
    from edgecls.toolkit.data import load_dataset

    root = tmp_path / "wide"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for i in range(6):
            image = np.random.default_rng(i + 10 * (label == "b")).integers(0, 256, (20, 60), dtype=np.uint8)
            cv2.imwrite(str(root / label / f"{i}.png"), image)  # 3:1, so crop and stretch differ
    load_dataset(str(root), image_size=28, channels=1, resize="stretch")  # fills the cache
    options = {"image_size": 28, "channels": 1, "resize": "stretch", **other}
    ds = load_dataset(str(root), **options)
    files = {read_image(p).tobytes(): p for p in sorted(root.rglob("*.png"))}
    expected = {to_model_input(read_image(p), options["image_size"], options["image_size"], "GRAY",
                               options["resize"]).tobytes() for p in files.values()}  # the runtime's own fitting
    got = {x.tobytes() for x in np.concatenate([ds.x_train, ds.x_val, ds.x_test])}
    assert got == expected


def test_a_reader_that_leaves_ends_the_run_quietly(exported, photos, tmp_path):
    """Issue 31.22: `edgecls run ... | head -1` ends as Unix tools do: no "Broken pipe" error, no traceback."""
    for i in range(300):  # more answers than a pipe buffer holds
        shutil.copy(photos / "0.png", photos / f"copy{i:03d}.png")
    line = (f"{sys.executable} -m edgecls.cli run {exported / 'model_fp32.tflite'} --source {photos} --headless "
            f"2>{tmp_path / 'err.txt'} | head -1; echo ${{PIPESTATUS[0]}}")
    proc = subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=300)
    first, status = proc.stdout.splitlines()
    err = (tmp_path / "err.txt").read_text()
    assert first.startswith(str(photos)) and status == "141", proc.stdout
    assert "error" not in err and "Broken pipe" not in err and "Traceback" not in err, err
