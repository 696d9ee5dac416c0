"""Small pure pieces against independent oracles: hand-computed numbers and numpy's own functions."""

import numpy as np
import pytest

from edgecls.runtime import parity
from edgecls.runtime.stats import Reservoir


def test_parity_compare_by_hand():
    # 4 images, 3 classes; the reference model gets 3 right, the artifact 2, and they agree on 3 of 4.
    reference = np.array([[.8, .1, .1], [.1, .8, .1], [.1, .1, .8], [.6, .3, .1]])
    artifact = np.array([[.7, .2, .1], [.1, .8, .1], [.1, .1, .8], [.3, .6, .1]])
    labels = np.array([0, 1, 1, 0])
    row = parity.compare(reference, artifact, labels, ["a", "b", "c"])
    assert row["accuracy"] == 0.5 and row["accuracy_delta_points"] == -25.0
    assert row["agreement"] == 0.75
    assert row["max_abs_diff"] == pytest.approx(0.3) and row["mean_abs_diff"] == pytest.approx(0.8 / 12)
    assert row["per_class_delta_points"] == {"a": -50.0, "b": 0.0} and row["worst_class"] == "a"


@pytest.mark.parametrize("drop, agreement, reasons", [
    (0.5, 0.995, []),
    (1.5, 0.995, ["accuracy drop 1.50 points > 1.0"]),          # fails on the drop alone
    (0.5, 0.98, ["agreement 0.9800 < 0.99"]),                   # fails on agreement alone
    (-2.0, 0.98, ["agreement 0.9800 < 0.99"]),                  # a gain in accuracy is no drop
])
def test_gate_failures_each_way(drop, agreement, reasons):
    row = {"accuracy_delta_points": -drop, "agreement": agreement}
    assert parity.gate_failures(row, max_drop=1.0, min_agreement=0.99) == reasons


def test_gate_fails_on_one_collapsed_class_inside_a_small_overall_drop():
    # 10 classes of 10 images; int8 loses 6 of class "c3" but gains 5 elsewhere: overall -1 point,
    # agreement 89/100 (6 + 5 answers differ).
    labels = np.repeat(np.arange(10), 10)
    reference = np.eye(10)[labels]
    moved = labels.copy()
    moved[30:36] = 4                     # class c3: 6 of 10 now wrong
    artifact = np.eye(10)[moved]
    wrong_before = np.array([0, 11, 22, 44, 55])
    reference[wrong_before] = np.eye(10)[(labels[wrong_before] + 1) % 10]  # the reference missed these
    row = parity.compare(reference, artifact, labels, [f"c{i}" for i in range(10)])
    assert row["accuracy_delta_points"] == -1.0 and row["worst_class"] == "c3"
    assert row["worst_class_delta_points"] == -60.0
    assert row["agreement"] == 0.89
    assert parity.gate_failures(row, max_drop=1.0, min_agreement=0.85) == []  # the old gate passes it
    assert parity.gate_failures(row, 1.0, 0.85, max_class_drop=5.0) == ["class c3 drops 60.0 points > 5.0"]


def test_reservoir_below_capacity_is_exact():
    values = np.random.default_rng(1).exponential(2.0, 500)
    r = Reservoir(size=1000)
    for v in values:
        r.add(v)
    assert r.percentiles() == {f"p{q}": pytest.approx(np.percentile(values, q)) for q in (50, 95, 99)}
    assert r.mean == pytest.approx(values.mean())


def test_reservoir_past_capacity_stays_a_uniform_sample():
    values = np.random.default_rng(2).exponential(2.0, 200_000)
    r = Reservoir(size=5000, seed=3)
    for v in values:
        r.add(v)
    assert r.count == len(values) and len(r.values) == 5000  # bounded memory
    got, want = r.percentiles(), np.percentile(values, [50, 95, 99])
    # a uniform sample of 5000: the quantiles are within a few percent of the full data's
    for (key, value), expected in zip(got.items(), want):
        assert abs(value - expected) / expected < 0.06, (key, value, expected)
    assert r.mean == pytest.approx(values.mean())


def test_fine_tuning_phase_plan():
    import keras

    from edgecls.toolkit.train import TrainConfig, plan_phases

    inner = keras.Sequential([keras.Input((8,)), keras.layers.Dense(4), keras.layers.Dense(4)], name="backbone")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    scratch = plan_phases(model, TrainConfig(epochs=10, learning_rate=1e-3))
    assert scratch == [{"name": "train", "epochs": 10, "lr": 1e-3, "trainable": None}]
    pretrained = plan_phases(model, TrainConfig(epochs=10, learning_rate=1e-3, weights="imagenet",
                                                fine_tune_layers=1))
    assert [(p["epochs"], p["lr"], p["trainable"]) for p in pretrained] == [(10, 1e-3, 0), (5, 1e-4, 1)]
    frozen = plan_phases(model, TrainConfig(epochs=10, weights="imagenet", freeze_backbone=True))
    assert [p["trainable"] for p in frozen] == [0]


def test_fine_tuning_unfreezes_the_top_layers_but_never_batchnorm():
    """24.2: phase 2 trains the top N backbone layers; BatchNorm layers among them stay frozen, so
    their moving statistics keep the pretrained values (Keras' own fine-tuning advice)."""
    import keras
    import numpy as np

    from edgecls.toolkit.train import TrainConfig, _set_trainable

    layers = [keras.layers.Dense(4), keras.layers.BatchNormalization(), keras.layers.Dense(4),
              keras.layers.BatchNormalization(), keras.layers.Dense(4)]
    inner = keras.Sequential([keras.Input((8,)), *layers], name="backbone")
    inputs = keras.Input((8,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inner(inputs)))
    cfg = TrainConfig(weights="imagenet")
    _set_trainable(model, cfg, 0)
    assert [layer.trainable for layer in layers] == [False] * 5
    _set_trainable(model, cfg, 3)  # the top three: Dense, BatchNorm, Dense
    assert [layer.trainable for layer in layers] == [False, False, True, False, True]
    moving = layers[3].moving_mean.numpy().copy()
    model.compile("sgd", "mse")
    model.fit(np.random.default_rng(0).normal(5, 1, (32, 8)), np.zeros((32, 2)), epochs=1, verbose=0)
    assert np.array_equal(layers[3].moving_mean.numpy(), moving)  # inference mode: statistics untouched
