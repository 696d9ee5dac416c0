"""Regenerate the README's results section from fresh measurements, in one command.

    python benchmarks/report.py --run "full Fashion-MNIST=runs/fmnist" --run "embedded sample=runs/quickstart"

For each run: `edgecls bench` (all formats beside the Keras original), the parity report of its
export, and two plots (latency vs size per format; confusion matrix of the int8 model beside the
original's). Results go to benchmarks/results/, and the README block between the
`results:start` / `results:end` markers is rewritten. Runtime figures from
benchmarks/runtime_figures.py and training figures from benchmarks/results/training.json are
included when present.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
from pathlib import Path

import numpy as np

from edgecls.export.artifacts import ARTIFACTS

ROOT = Path(__file__).parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def plots(name: str, run: Path, result: dict) -> list[str]:
    import keras

    from edgecls.runtime import Classifier
    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.metrics import confusion_matrix
    from edgecls.toolkit.plots import _plt, _save

    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
    for r in result["rows"]:
        if not r["latency_1thread"]:  # Keras has no 1-thread figure
            continue
        ax.scatter(r["size_bytes"] / 1024, r["latency_1thread"]["p50_ms"], s=40)
        ax.annotate(r["format"], (r["size_bytes"] / 1024, r["latency_1thread"]["p50_ms"]), fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("file size (KB)")
    ax.set_ylabel("p50 latency per image, 1 thread (ms)")
    ax.set_title(f"{name}: latency vs size")
    ax.grid(alpha=0.3)
    latency_png = _save(fig, RESULTS / f"{slug(name)}-latency-vs-size.png")

    ds = load_dataset(result["dataset"])
    ref = keras.models.load_model(run / "model.keras").predict(ds.x_test, batch_size=512, verbose=0).argmax(1)
    int8 = Classifier(run / "export" / ARTIFACTS["tflite-int8"].filename).predict(ds.x_test).argmax(1)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    for ax, pred, title in ((axes[0], ref, "Keras original"), (axes[1], int8, "int8 TFLite")):
        cm = confusion_matrix(ds.y_test, pred, ds.num_classes)
        ax.imshow(cm, cmap="Blues")
        ax.set_title(f"{title}: accuracy {np.trace(cm) / cm.sum():.2%}")
        ax.set_xticks(range(ds.num_classes), ds.class_names, rotation=60, ha="right", fontsize=7)
        ax.set_yticks(range(ds.num_classes), ds.class_names, fontsize=7)
        for i in range(ds.num_classes):
            for j in range(ds.num_classes):
                ax.text(j, i, cm[i, j], ha="center", va="center", fontsize=6,
                        color="white" if cm[i, j] > cm.max() / 2 else "black")
    confusion_png = _save(fig, RESULTS / f"{slug(name)}-confusion-int8-vs-original.png")
    return [latency_png.relative_to(ROOT).as_posix(), confusion_png.relative_to(ROOT).as_posix()]


def section(name: str, run: Path, iterations: int, seconds: float) -> str:
    from edgecls.bench import bench, format_markdown

    result = bench(str(run), iterations=iterations, seconds=seconds)
    (RESULTS / f"{slug(name)}-bench.json").write_text(json.dumps(result, indent=2) + "\n")
    parity = json.loads((run / "export" / "parity.json").read_text())
    lines = [f"### {name}", "", f"`edgecls bench {run}` on {result['samples']} {result['dataset']} test images "
             f"({result['cores']} cores):", "", format_markdown(result), "",
             "Parity (`parity.json` of `edgecls export --int8`):", "",
             "| artifact | size (KB) | accuracy | delta (points) | agreement | max abs diff | worst class |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for r in parity["artifacts"]:
        lines.append(f"| {r['artifact']} | {r['size_bytes'] / 1024:.0f} | {r['accuracy']:.4f} | "
                     f"{r['accuracy_delta_points']:+.2f} | {r['agreement']:.4f} | {r['max_abs_diff']:.1e} | "
                     f"{r['worst_class']} ({r['worst_class_delta_points']:+.1f}) |")
    sizes = {r["artifact"]: r["size_bytes"] for r in parity["artifacts"]}
    name = {key: ARTIFACTS[key].filename for key in ("tflite-int8", "tflite-fp32", "onnx-int8", "onnx-fp32")}
    if name["tflite-int8"] in sizes and name["tflite-fp32"] in sizes:
        lines += ["", f"int8/fp32 file size: TFLite {sizes[name['tflite-int8']] / sizes[name['tflite-fp32']]:.2f}x, "
                      f"ONNX {sizes.get(name['onnx-int8'], 0) / sizes.get(name['onnx-fp32'], 1):.2f}x."]
    lines += [""] + [f"![{Path(p).stem}]({p})" for p in plots(name, run, result)] + [""]
    return "\n".join(lines)


def split_sections(body: str) -> tuple[str, list[tuple[str, str]]]:
    """The text before the first ``### `` heading, and each (heading, section text) after it."""
    head, sections = [], []
    for line in body.splitlines():
        if line.startswith("### "):
            sections.append((line[4:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
        else:
            head.append(line)
    return "\n".join(head).strip(), [(h, "\n".join(lines).strip()) for h, lines in sections]


def merge_sections(old_body: str, new: dict[str, str], head: str) -> str:
    r"""``head``, then ``old_body``'s sections with those named in ``new`` replaced (new ones go before
    the runtime section). Every section not given is kept: regenerating one run never deletes another's.

    >>> merge_sections("x\n### a\n1\n### b\n2", {"b": "### b\n3", "c": "### c\n4"}, "y")
    'y\n\n### a\n1\n\n### b\n3\n\n### c\n4'
    """
    _, sections = split_sections(old_body)
    names = [h for h, _ in sections]
    merged = [(h, new.get(h, text)) for h, text in sections]
    runtime = next((i for i, h in enumerate(names) if h.startswith("Runtime")), len(merged))
    merged[runtime:runtime] = [(h, text) for h, text in new.items() if h not in names]
    return "\n\n".join([head] + [text for _, text in merged]).strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR (repeatable)")
    parser.add_argument("--iterations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    RESULTS.mkdir(parents=True, exist_ok=True)
    new = {}
    for path in (RESULTS / "training.md", RESULTS / "runtime.md"):
        if path.exists():
            text = path.read_text().strip()
            new[split_sections(text)[1][0][0]] = text
    for spec in args.run:
        name, run = spec.split("=", 1)
        new[name] = section(name, Path(run), args.iterations, args.seconds).strip()
    readme = ROOT / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    old_body = text[text.index(start) + len(start) : text.index(end)]
    machine = f"Machine: {platform.machine()}, {platform.processor() or 'CPU'}, Python {platform.python_version()}."
    body = merge_sections(old_body, new, machine)
    text = text[: text.index(start) + len(start)] + "\n" + body + "\n" + text[text.index(end):]
    readme.write_text(text)
    print(body)


if __name__ == "__main__":
    main()
