"""Mutation score of the pure modules, as JSON: how many small deliberate bugs the tests catch.

    pip install -e ".[mutation]"
    python benchmarks/mutation_report.py            # mutmut run, then benchmarks/results/mutation.json

`[tool.mutmut]` in pyproject.toml names the modules (runtime pre- and post-processing, the
latency reservoir, export's parity and gate, toolkit metrics and splits) and the tests that
guard them (tests/test_oracles.py, tests/test_units.py). Every surviving mutant needs a reason
below (most are equivalent: the same behaviour written another way); an unexplained survivor or
a score under 85% exits 1. Not run in CI: it takes about a minute on two cores.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "results" / "mutation.json"
GOAL = 0.85

# (module, text of the mutated line) -> why the mutant survives; reviewed by hand.
REASONS = {
    ("edgecls.runtime.stats", "seed: int = 1"): "equivalent: another default seed is another uniform sample",
    ("edgecls.runtime.stats", "np.empty(size, dtype=None)"): "equivalent: numpy's default dtype is float64",
    ("edgecls.runtime.stats", "np.empty(size, )"): "equivalent: numpy's default dtype is float64",
    ("edgecls.runtime.stats", "self.rng.integers(self.count + 1)"): "equivalent: integers(n) is integers(0, n)",
    ("edgecls.runtime.preprocess", 'source: str = "XXBGRXX"'):
        "equivalent: only source == 'RGB' changes anything; any other default means BGR",
    ("edgecls.runtime.preprocess", 'source: str = "bgr"'):
        "equivalent: only source == 'RGB' changes anything; any other default means BGR",
    ("edgecls.runtime.preprocess", "if w * height >= h * width:"):
        "equivalent: at the same aspect both branches keep the whole frame",
    ("edgecls.runtime.preprocess", "inner = resize(image, nh, nw, )"): "equivalent: stretch is the default mode",
    ("edgecls.runtime.preprocess", "if image.shape[:3] != (height, width):"):
        "equivalent: resizing to the size it already has returns the same pixels (one extra copy)",
    ("edgecls.runtime.preprocess", 'if resize_mode == "XXcropXX":'):
        "equivalent: resize() crops too; cropping first only spares converting pixels that are cut",
    ("edgecls.runtime.preprocess", 'if resize_mode == "CROP":'):
        "equivalent: resize() crops too; cropping first only spares converting pixels that are cut",
    ("edgecls.runtime.preprocess", 'if color != "GRAY":'):
        "equivalent up to rounding: converting before or after resampling differs by at most 1 grey level; "
        "the order is a speed choice (one channel to resize)",
    ("edgecls.runtime.preprocess", 'if color == "XXGRAYXX":'):
        "equivalent up to rounding: the other branch converts after resampling",
    ("edgecls.runtime.preprocess", 'if color == "gray":'):
        "equivalent up to rounding: the other branch converts after resampling",
    ("edgecls.runtime.postprocess", 'kind="STABLE"'): "equivalent: numpy reads the sort kind case-insensitively",
    ("edgecls.runtime.parity", "probs.astype(None)"): "equivalent: astype(None) is float64",
    ("edgecls.runtime.parity", "reference.astype(None)"): "equivalent: astype(None) is float64",
    ("edgecls.toolkit.metrics", "tp = np.diag(cm).astype(None)"): "equivalent: astype(None) is float64",
    ("edgecls.toolkit.metrics", 'np.errstate(divide=None, invalid="ignore")'):
        "equivalent: tp <= predicted, so the only division by zero is 0/0, which numpy calls invalid",
    ("edgecls.toolkit.metrics", 'np.errstate(invalid="ignore")'):
        "equivalent: tp <= predicted, so the only division by zero is 0/0, which numpy calls invalid",
    ("edgecls.toolkit.metrics", "np.asarray(probs, dtype=None)"):
        "equivalent for the tests' float64 probabilities; float64 guards float32 sums over many images",
    ("edgecls.toolkit.metrics", "np.asarray(probs, )"):
        "equivalent for the tests' float64 probabilities; float64 guards float32 sums over many images",
}


def mutmut(*args: str) -> str:
    return subprocess.run([sys.executable, "-m", "mutmut", *args], cwd=ROOT, capture_output=True, text=True,
                          check=True).stdout


def mutated_line(name: str) -> str:
    """The added line of a mutant's diff, stripped."""
    added = [line[1:].strip() for line in mutmut("show", name).splitlines()
             if line.startswith("+") and not line.startswith("+++")]
    return added[0] if added else ""


def reason(module: str, line: str) -> str | None:
    return next((why for (mod, text), why in REASONS.items() if mod == module and text in line), None)


def report() -> dict:
    statuses = dict(re.findall(r"^\s*(\S+): (\w+)$", mutmut("results", "--all", "true"), re.M))
    by_module: dict[str, Counter] = {}
    survivors = []
    for name, status in sorted(statuses.items()):
        module = name.split(".x_")[0].split(".xǁ")[0]
        by_module.setdefault(module, Counter())[status] += 1
        if status != "killed":
            line = mutated_line(name)
            survivors.append({"mutant": name, "status": status, "mutated_line": line,
                              "reason": reason(module, line) or "UNEXPLAINED"})
    modules = [{"module": m, "mutants": sum(c.values()), "killed": c["killed"],
                "score": round(c["killed"] / sum(c.values()), 4)} for m, c in by_module.items()]
    total, killed = sum(m["mutants"] for m in modules), sum(m["killed"] for m in modules)
    return {"tool": f"mutmut {version('mutmut')}", "command": "python benchmarks/mutation_report.py",
            "tests": "tests/test_oracles.py tests/test_units.py", "mutants": total, "killed": killed,
            "score": round(killed / total, 4), "goal": GOAL, "modules": modules, "survivors": survivors}


if __name__ == "__main__":
    subprocess.run([sys.executable, "-m", "mutmut", "run"], cwd=ROOT, stdout=subprocess.DEVNULL, check=True)
    result = report()
    OUT.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    for m in result["modules"]:
        print(f"{m['module']:<32} {m['killed']:>4}/{m['mutants']:<4} {m['score']:.1%}")
    unexplained = [s["mutant"] for s in result["survivors"] if s["reason"] == "UNEXPLAINED"]
    print(f"total {result['killed']}/{result['mutants']} = {result['score']:.1%} (goal {GOAL:.0%}); "
          f"{len(result['survivors'])} survivors, {len(unexplained)} unexplained; wrote {OUT.relative_to(ROOT)}")
    sys.exit(1 if unexplained or result["score"] < GOAL else 0)
