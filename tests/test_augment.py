"""Issue 17: augmentation the user controls, in uint8, out of the model, seeded and prefetched.

Oracles: OpenCV's own ``getRotationMatrix2D`` and a warp followed by numpy's mirror for the
geometry, numpy's clip for the saturating noise, the documented defaults table for the kinds.
"""

import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import run_cli, tiny_npz
from edgecls.toolkit.augment import KINDS, Augmentation, characters, defaults_for, parse_spec, resolve


def draws(aug: Augmentation, n: int, h: int, w: int, seed: int):
    """The angles, scales, shifts and flips ``aug`` draws from ``seed``, in its documented order."""
    rng = np.random.default_rng(seed)
    angles = rng.uniform(-aug.rotate, aug.rotate, n)
    scales = 1.0 + rng.uniform(-aug.zoom, aug.zoom, n)
    shifts = rng.uniform(-aug.shift, aug.shift, (n, 2)) * (w, h)
    flips = rng.random(n) < 0.5
    return angles, scales, shifts, flips


def test_affine_matrices_are_opencvs_rotation_plus_shift():
    aug = Augmentation(rotate=30, shift=0.2, zoom=0.3)
    n, h, w = 20, 32, 48
    ours = aug._matrices(n, h, w, np.random.default_rng(3))
    angles, scales, shifts, _ = draws(aug, n, h, w, 3)
    for i in range(n):
        expected = cv2.getRotationMatrix2D((w / 2 - 0.5, h / 2 - 0.5), angles[i], scales[i])
        expected[:, 2] += shifts[i]
        np.testing.assert_allclose(ours[i], expected, atol=1e-9)


def test_flip_folded_into_the_warp_mirrors_the_warped_image(sample):
    """One warp with the flip inside equals OpenCV's warp, then a numpy mirror (the old two steps)."""
    aug = Augmentation(flip=True, rotate=10, shift=0.1, zoom=0.1)
    images = np.repeat(sample.x_train[:32], 3, axis=-1)
    images[..., 0] //= 2  # channels differ, so a channel mix-up would show
    out = aug(images, np.random.default_rng(5))
    angles, scales, shifts, flips = draws(aug, 32, 28, 28, 5)
    assert 5 < flips.sum() < 27
    for i in range(32):
        m = cv2.getRotationMatrix2D((13.5, 13.5), angles[i], scales[i])
        m[:, 2] += shifts[i]
        expected = cv2.warpAffine(images[i], m, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0)
        expected = expected[:, ::-1] if flips[i] else expected
        assert np.abs(out[i].astype(int) - expected).max() <= 1, i


def test_augmentation_is_seeded_and_keeps_shape_and_dtype(sample):
    aug = KINDS["photos"]
    for images in (sample.x_train[:64], np.repeat(sample.x_train[:64], 3, axis=-1)):
        a = aug(images, np.random.default_rng(7))
        assert a.shape == images.shape and a.dtype == np.uint8
        assert np.array_equal(a, aug(images, np.random.default_rng(7)))
        assert not np.array_equal(a, aug(images, np.random.default_rng(8)))


def test_pixel_noise_has_the_configured_spread_and_no_bias():
    grey = np.full((16, 64, 64, 3), 128, np.uint8)
    out = Augmentation(noise=3.0)(grey, np.random.default_rng(0)).astype(float)
    assert abs(out.mean() - 128) < 0.1
    assert 2.8 < out.std() < 3.2


def test_noise_saturates_like_numpy_clip():
    """The saturating add and subtract give clip(pixel + noise, 0, 255), the same noise at every level."""
    aug = Augmentation(noise=20.0)
    levels = {v: aug(np.full((4, 32, 32, 1), v, np.uint8), np.random.default_rng(1)).astype(int) for v in (128, 5, 250)}
    noise = levels[128] - 128
    assert noise.min() < -5 and noise.max() > 5
    for v in (5, 250):
        np.testing.assert_array_equal(levels[v], np.clip(v + noise, 0, 255))


def test_brightness_jitter_is_one_change_per_image_within_bounds():
    grey = np.full((32, 8, 8, 1), 128, np.uint8)
    out = Augmentation(brightness=0.1)(grey, np.random.default_rng(0)).astype(int)
    per_image = out.reshape(32, -1)
    assert (per_image == per_image[:, :1]).all()  # no noise: the whole image moves together
    assert len(np.unique(per_image[:, 0])) > 10
    assert per_image.min() >= 128 * 0.9 - 25.5 - 1 and per_image.max() <= 128 * 1.1 + 25.5 + 1


def test_none_changes_nothing():
    images = np.arange(2 * 5 * 5 * 3, dtype=np.uint8).reshape(2, 5, 5, 3)
    aug, why = resolve("none", "PetImages", ["cat", "dog"])
    assert not aug.active and why == "none" and aug.describe() == "none"
    assert np.array_equal(aug(images, np.random.default_rng(0)), images)


@pytest.mark.parametrize("name, classes, kind, flip", [
    ("mnist", [str(d) for d in range(10)], "digits", False),
    ("fashion-mnist", ["T-shirt/top", "Trouser"], "fashion", True),
    ("fashion-mnist-mini", ["T-shirt/top", "Trouser"], "fashion", True),
    ("cifar10", ["airplane", "automobile"], "photos", True),
    ("PetImages", ["cat", "dog"], "photos", True),
    ("my_digits", [str(d) for d in range(10)], "photos; no flip: the classes are digits or characters", False),
    ("emnist-letters", ["A", "B", "C"], "digits", False),
    ("letters_photos", ["A", "B", "C"], "photos; no flip: the classes are digits or characters", False),
    ("signs", ["a", "b", "digit_3"], "photos; no flip: the classes are digits or characters", False),
])
def test_defaults_per_kind_of_data(name, classes, kind, flip):
    """The README's defaults table: no flip where the classes are digits or letters."""
    aug, why = defaults_for(name, classes)
    assert (why, aug.flip) == (kind, flip)
    assert (aug.noise, aug.brightness) == ((3.0, 0.1) if kind.startswith("photos") else (0.0, 0.0))


def test_character_classes_are_told_from_words():
    assert characters(["zero", "one", "Two"]) and characters(["7", "x"])
    assert not characters(["cat", "7"]) and not characters([]) and not characters(["10"])


def test_spec_overrides_the_defaults_one_transform_at_a_time():
    aug, why = resolve(parse_spec("flip=0, rotate=5,noise=0"), "PetImages", ["cat", "dog"])
    assert aug == Augmentation(flip=False, rotate=5, shift=0.1, zoom=0.1, brightness=0.1, noise=0)
    assert why == "photos, changed by --augment"
    recorded = aug.to_dict()
    assert recorded == {"flip": False, "rotate": 5.0, "shift": 0.1, "zoom": 0.1, "brightness": 0.1, "noise": 0.0}
    assert resolve(recorded, "mnist", [])[0] == aug  # a resumed run gets exactly what config.json holds
    assert resolve(True, "mnist", [])[0] == KINDS["digits"] and not resolve(False, "mnist", [])[0].active  # old runs


@pytest.mark.parametrize("spec, message", [
    ("rotate=500", "rotate='500': a number from 0 to 180"),
    ("shift=nan", "shift='nan': a number from 0 to 0.5"),
    ("zoom=-0.1", "zoom='-0.1': a number from 0 to 0.9"),
    ("flip=maybe", "flip='maybe': use 1 or 0"),
    ("blur=3", "'blur=3' is not NAME=VALUE"),
    ("rotate", "'rotate' is not NAME=VALUE"),
    (",", "give 'none' or NAME=VALUE pairs"),
])
def test_bad_specs_are_refused_with_a_sentence(spec, message):
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(".", r"\.")):
        parse_spec(spec)


def test_cli_refuses_a_bad_spec_and_the_old_flag_in_one_line():
    proc = run_cli("train", "--augment", "rotate=500", "--epochs", "1")
    assert proc.returncode == 2 and "Invalid value for '--augment': rotate='500'" in proc.stderr
    assert "Traceback" not in proc.stderr
    proc = run_cli("train", "--no-augment", "--epochs", "1")
    assert proc.returncode == 2 and "--no-augment is now --augment none" in proc.stderr


def test_banner_and_config_say_what_augmentation_ran(tmp_path, sample):
    """A digits dataset (class names 0-9) gets no flip; --augment changes one transform; config.json keeps all."""
    data = tiny_npz(tmp_path / "digits.npz", sample, per_class=10)
    arrays = dict(np.load(data))
    np.savez(data, **(arrays | {"class_names": np.array([str(d) for d in range(10)])}))
    out = tmp_path / "run"
    proc = run_cli("train", "--data", str(data), "--epochs", "1", "--augment", "rotate=5", "--out", str(out), check=True)
    assert ("augmentation (photos; no flip: the classes are digits or characters, changed by --augment): "
            "rotate 5 deg, shift 0.1, zoom 0.1, brightness 0.1, noise 3") in proc.stderr
    config = json.loads((out / "config.json").read_text())
    assert config["augment"] == {"flip": False, "rotate": 5.0, "shift": 0.1, "zoom": 0.1, "brightness": 0.1,
                                 "noise": 3.0}


def test_prefetch_threads_keep_the_seeded_stream(sample):
    """Two workers making batches ahead of the train step give Keras exactly the sequential batches:
    a model fitted on either has the same weights to the bit."""
    import keras

    from edgecls.toolkit.pipeline import make_batches

    weights = []
    for workers in (1, 2):
        plan = make_batches(sample.x_train[:600], sample.y_train[:600], 10, 32, shuffle=True,
                            augment=KINDS["photos"], seed=4, workers=workers)
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                                  keras.layers.Dense(10, activation="softmax")])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="categorical_crossentropy")
        model.fit(plan.dataset(0, 2), epochs=2, steps_per_epoch=plan.steps, shuffle=False, verbose=0)
        weights.append(model.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_array_equal(a, b)


def test_no_random_layer_in_any_model_and_the_jax_train_step_is_compiled():
    """Keras turns jit_compile off on JAX for models it cannot compile (random augmentation layers):
    compiled as edgecls compiles them, its models keep the train step jit-compiled on JAX (checked
    on the JAX backend, in its own process)."""
    script = (
        "from edgecls.toolkit.models import MODELS, build_model\n"
        "from edgecls.toolkit.train import TrainConfig, _compile\n"
        "names = list(MODELS) + ['mobilenet_v2']\n"
        "for name in names:\n"
        "    model = build_model(name, (32, 32, 3), 4)\n"
        "    layers = [l for l in model._flatten_layers() if type(l).__name__.startswith('Random')]\n"
        "    assert not layers, (name, layers)\n"
        "    _compile(model, TrainConfig(), 10, 1)\n"
        "    assert model.jit_compile is True, name\n"
        "print('compiled', len(names))\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "KERAS_BACKEND": "jax"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "compiled" in proc.stdout
