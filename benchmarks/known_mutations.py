"""The ten bugs issue 24 found the tests missing, put back one at a time: each must fail a named test.

    python benchmarks/known_mutations.py          # about 6 minutes on two cores

Each mutation is applied to a copy of the checkout (the working tree is never touched), and the
tests named beside it run against the copy; the result goes to benchmarks/results/known_mutations.json.
Exit 1 when a mutation survives its tests.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "known_mutations.json"

# name, file, original text, mutated text, tests that must fail
MUTATIONS = [
    ("GRAY model fed BGR frames converted with RGB weights", "edgecls/runtime/preprocess.py",
     '("GRAY", False): cv2.COLOR_BGR2GRAY', '("GRAY", False): cv2.COLOR_RGB2GRAY',
     ["tests/test_oracles.py::test_every_colour_path_by_hand"]),
    ("BGRA frames converted as BGR instead of RGB", "edgecls/runtime/preprocess.py",
     '("RGB", False): cv2.COLOR_BGRA2RGB', '("RGB", False): cv2.COLOR_BGRA2BGR',
     ["tests/test_oracles.py::test_every_colour_path_by_hand"]),
    ("the gate's accuracy-drop sign flipped", "edgecls/runtime/parity.py",
     'drop = -row["accuracy_delta_points"]', 'drop = row["accuracy_delta_points"]',
     ["tests/test_units.py::test_gate_failures_each_way", "tests/test_oracles.py::test_gate_edges_by_hand"]),
    ("top_k never returning the last class", "edgecls/runtime/postprocess.py",
     'order = np.argsort(-np.asarray(probs), kind="stable")[:k]',
     'order = np.argsort(-np.asarray(probs)[:-1], kind="stable")[:k]',
     ["tests/test_oracles.py::test_top_k_over_all_classes"]),
    ("the validation split ignoring --seed", "edgecls/toolkit/data/dataset.py",
     "keep, held = stratified_split(y_train, val_split, seed)", "keep, held = stratified_split(y_train, val_split, 0)",
     ["tests/test_data.py::test_val_split_follows_the_seed"]),
    ('the exporter always writing resize="stretch"', "edgecls/export/exporter.py",
     "resize=_resize_mode(job),", 'resize="stretch",',
     ["tests/test_folders.py::test_resize_mode_goes_from_training_to_the_runtime",
      "tests/test_newcomer.py::test_default_resize_comes_from_the_model"]),
    ("metrics.json's confusion matrix transposed", "edgecls/toolkit/metrics.py",
     "y_true * num_classes + y_pred", "y_pred * num_classes + y_true",
     ["tests/test_oracles.py::test_confusion_matrix_and_per_class_scores_match_scikit_learn"]),
    ("the weighted average computed as the macro one", "edgecls/toolkit/metrics.py",
     "weights = support / support.sum()", "weights = present / present.sum()",
     ["tests/test_oracles.py::test_confusion_matrix_and_per_class_scores_match_scikit_learn"]),
    ("the guard that stops a fresh run from overwriting an unfinished one removed", "edgecls/toolkit/rundir.py",
     "if self.unfinished() and not overwrite:", "if False:",
     ["tests/test_trust.py::test_interrupted_overwrite_keeps_the_previous_run_whole"]),
    ("--smooth ignored", "edgecls/runtime/runner.py",
     "clf.top_k(smoother.update(probs), opts.top_k)", "clf.top_k(probs, opts.top_k)",
     ["tests/test_runtime.py::test_smooth_and_threshold_against_numpy"]),
]


def copy_tree(dest: Path) -> None:
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.splitlines()
    for name in files:
        if (ROOT / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, dest / name)


def check(name: str, path: str, old: str, new: str, tests: list[str], work: Path) -> dict:
    tree = work / "tree"
    shutil.rmtree(tree, ignore_errors=True)
    copy_tree(tree)
    source = (tree / path).read_text()
    assert source.count(old) == 1, f"{path}: {old!r} is not there exactly once; update this table"
    (tree / path).write_text(source.replace(old, new))
    env = {**os.environ, "PYTHONPATH": str(tree), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "pytest", *tests, "-q", "-p", "no:cacheprovider",
                           "--basetemp", str(work / "pytest")], cwd=tree, env=env, capture_output=True, text=True)
    failed = [line.split()[1] for line in proc.stdout.splitlines() if line.startswith("FAILED")]
    return {"mutation": name, "file": path, "tests": tests, "caught": proc.returncode == 1 and bool(failed),
            "failed_tests": failed}


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        results = []
        for mutation in MUTATIONS:
            results.append(check(*mutation, Path(tmp)))
            row = results[-1]
            print(f"{'caught' if row['caught'] else 'MISSED':<7} {row['mutation']}: {', '.join(row['failed_tests'])}")
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    missed = [r["mutation"] for r in results if not r["caught"]]
    print(f"{len(results) - len(missed)}/{len(results)} caught; wrote {OUT.relative_to(ROOT)}")
    sys.exit(1 if missed else 0)
