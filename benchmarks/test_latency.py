"""Latency of every artifact format and of the Keras original, and the CI gates on their ratios.

Gates compare times measured in this one process, never absolute times:
- every exported artifact is at least 10x faster per image than the Keras per-frame call;
- int8 TFLite is no slower than 1.25x fp32 TFLite.
The measured ratios are written to .benchmarks/ratios.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgecls.bench import time_calls
from edgecls.export.artifacts import FILENAMES

RATIOS = Path(".benchmarks") / "ratios.json"


@pytest.fixture(scope="module")
def image(sample_run):
    from edgecls.toolkit.data import load_dataset

    return load_dataset("fashion-mnist-mini").x_test[:1]


@pytest.fixture(scope="module")
def keras_probs(sample_run, image):
    """The original model's answer on the timed image: what every timed call must still return."""
    import keras

    return keras.models.load_model(sample_run / "model.keras").predict(image, verbose=0)


@pytest.mark.parametrize("artifact", FILENAMES)
def test_artifact_latency(benchmark, sample_run, image, keras_probs, artifact):
    from edgecls.runtime import Classifier

    from edgecls.runtime.confidence import known_probabilities

    clf = Classifier(sample_run / "export" / artifact, threads=1)
    benchmark.extra_info["artifact"] = artifact
    probs = benchmark(clf.predict, image)
    want = keras_probs
    if clf.unknown is not None:  # Keras' answer at the export's temperature, beside the unknown class
        want = np.exp(np.log(keras_probs) / clf.unknown["temperature"])
        want, probs = want / want.sum(axis=1, keepdims=True), known_probabilities(probs)
    assert probs.argmax() == want.argmax() and np.abs(probs - want).max() < 0.1  # int8 within 0.1


def test_keras_per_frame_latency(benchmark, sample_run, image, keras_probs):
    import keras

    model = keras.models.load_model(sample_run / "model.keras")
    probs = benchmark.pedantic(lambda: model(image, training=False), rounds=50, warmup_rounds=5)
    assert np.allclose(np.asarray(probs), keras_probs, atol=1e-5)


def test_ratio_gates(sample_run, image):
    import keras

    from edgecls.runtime import Classifier

    model = keras.models.load_model(sample_run / "model.keras")
    keras_ms = np.median(time_calls(lambda: model(image, training=False), iterations=200, seconds=3)) * 1e3
    ms = {}
    for artifact in FILENAMES:
        clf = Classifier(sample_run / "export" / artifact, threads=1)
        ms[artifact] = np.median(time_calls(lambda: clf.predict(image), iterations=2000, seconds=2)) * 1e3
    ratios = {"keras_per_frame_ms": keras_ms, "artifact_ms": ms,
              "speedup_vs_keras": {a: keras_ms / t for a, t in ms.items()},
              "int8_over_fp32_tflite": ms["model_int8.tflite"] / ms["model_fp32.tflite"]}
    RATIOS.parent.mkdir(exist_ok=True)
    RATIOS.write_text(json.dumps(ratios, indent=2))
    print(json.dumps(ratios, indent=2))
    slow = {a: round(s, 1) for a, s in ratios["speedup_vs_keras"].items() if s < 10}
    assert not slow, f"artifacts less than 10x faster than the Keras per-frame call: {slow}"
    assert ratios["int8_over_fp32_tflite"] <= 1.25, ratios
