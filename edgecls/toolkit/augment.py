"""Data augmentation in the input pipeline, on uint8 images, with OpenCV.

Augmentation stays out of the model on purpose: Keras' random layers inside a model
turn JIT compilation off on the JAX backend (a measured 18 s for 10 epochs became minutes
per epoch on one GPU), and a model without them exports as-is.

Every transform works on uint8 pixels and costs one OpenCV call per image: one affine warp
(shift, rotation, zoom and the horizontal flip folded into one matrix), one 256-entry lookup
table (brightness and contrast), and a saturating add and subtract of Gaussian noise taken
from a fixed, pre-rounded table at a random offset. Photos get that camera-like noise because
a model that never saw it can flip its answer on a change of one grey level, and int8 rounding
is such a change: a mobilenet_v2 trained without it on smooth photos flipped 2.8% of its
answers under +-1 level of noise and disagreed with its int8 export on 1.4%.

The defaults depend on the data (:func:`defaults_for`): no flip for digits and characters
(a mirrored 7 is no 7), small shifts and mirror images for Fashion-MNIST, camera-like
jitter for photos. ``--augment`` overrides any of them (:func:`parse_spec`).

>>> aug, why = defaults_for("my-photos", ["0", "1", "2"])
>>> aug.flip, why
(False, 'photos; no flip: the classes are digits or characters')
>>> parse_spec("flip=0,rotate=5")
{'flip': False, 'rotate': 5.0}
>>> Augmentation(rotate=5, flip=True).describe()
'flip, rotate 5 deg'
"""

from __future__ import annotations

import functools
import re
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

# name -> (largest value, what it is); flip is a yes/no switch.
BOUNDS = {
    "rotate": (180.0, "degrees"),
    "shift": (0.5, "fraction of the image size"),
    "zoom": (0.9, "relative zoom in or out"),
    "brightness": (1.0, "relative change of contrast and of brightness"),
    "noise": (64.0, "standard deviation in grey levels"),
}
_SWITCH = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}
_CHARACTER = re.compile(r"^(?:(?:digit|number|letter|char|class)[ _-]?)?(?:[0-9]|[a-z]|zero|one|two|three|four|five|"
                        r"six|seven|eight|nine)$", re.I)
_DIGIT_SETS = {"mnist", "emnist", "kmnist", "qmnist", "usps", "svhn"}  # known digit and character sets


@dataclass(frozen=True)
class Augmentation:
    """Random transforms of a uint8 NHWC batch; all zero (:attr:`NONE`) changes nothing."""

    flip: bool = False      # horizontal flip, half of the images
    rotate: float = 0.0     # max rotation, degrees
    shift: float = 0.0      # max translation, fraction of the image size
    zoom: float = 0.0       # max relative zoom in or out
    brightness: float = 0.0  # max relative change of contrast, and of brightness (of 255)
    noise: float = 0.0      # standard deviation of added Gaussian noise, grey levels

    @property
    def active(self) -> bool:
        return self != Augmentation()

    @property
    def geometric(self) -> bool:
        return bool(self.flip or self.rotate or self.shift or self.zoom)

    def to_dict(self) -> dict:
        """One key per transform, as ``config.json`` records it."""
        return asdict(self)

    def describe(self) -> str:
        """``flip, rotate 10 deg, shift 0.1, ...`` or ``none``: what the train banner prints."""
        parts = ["flip"] if self.flip else []
        parts += [f"{name} {getattr(self, name):g}{' deg' if name == 'rotate' else ''}"
                  for name in BOUNDS if getattr(self, name)]
        return ", ".join(parts) or "none"

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Return an augmented copy of a uint8 NHWC batch; the draws come from ``rng`` alone."""
        import cv2

        n, h, w, c = images.shape
        matrices = self._matrices(n, h, w, rng) if self.geometric else None
        luts = self._luts(n, rng) if self.brightness else None
        noise = _noise_table(self.noise, h * w * c) if self.noise else None
        offsets = rng.integers(0, len(noise[0]) - h * w * c, n) if self.noise else None
        out = np.empty_like(images)
        for i in range(n):
            img = images[i]
            if matrices is not None:
                img = cv2.warpAffine(img, matrices[i], (w, h), flags=cv2.INTER_LINEAR,
                                     borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            if luts is not None:
                img = cv2.LUT(img, luts[i])
            if noise is not None:
                up, down = (table[offsets[i]:offsets[i] + h * w * c].reshape(img.shape) for table in noise)
                img = cv2.subtract(cv2.add(img, up), down)
            out[i] = img.reshape(h, w, c)
        return out

    def _matrices(self, n: int, h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        """One 2x3 affine matrix per image: rotation and zoom about the centre, shift, then flip."""
        angles = np.deg2rad(rng.uniform(-self.rotate, self.rotate, n))
        scales = 1.0 + rng.uniform(-self.zoom, self.zoom, n)
        shifts = rng.uniform(-self.shift, self.shift, (n, 2)) * (w, h)
        flips = rng.random(n) < 0.5 if self.flip else np.zeros(n, bool)
        cx, cy = w / 2 - 0.5, h / 2 - 0.5
        a, b = scales * np.cos(angles), scales * np.sin(angles)  # cv2.getRotationMatrix2D's terms
        m = np.empty((n, 2, 3))
        m[:, 0, 0], m[:, 0, 1], m[:, 0, 2] = a, b, (1 - a) * cx - b * cy + shifts[:, 0]
        m[:, 1, 0], m[:, 1, 1], m[:, 1, 2] = -b, a, b * cx + (1 - a) * cy + shifts[:, 1]
        m[flips, 0] = -m[flips, 0]           # x' = (w - 1) - x after the warp
        m[flips, 0, 2] += w - 1
        return m

    def _luts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """One lookup table per image: contrast (gain) and brightness (bias), rounded and clipped."""
        gain = 1.0 + rng.uniform(-self.brightness, self.brightness, (n, 1))
        bias = rng.uniform(-self.brightness, self.brightness, (n, 1)) * 255
        return np.clip(np.rint(np.arange(256) * gain + bias), 0, 255).astype(np.uint8)


NONE = Augmentation()


@functools.lru_cache(maxsize=4)
def _noise_table(std: float, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Rounded Gaussian noise split into its positive and negative parts, as uint8 tables.

    An image takes ``size`` consecutive values from a random offset: a saturating add of the
    positive part and subtract of the negative part is ``clip(pixel + noise, 0, 255)``, at
    the cost of two vector instructions a pixel instead of float maths. The table is fixed
    (seeded), so the noise an image gets depends only on the batch's random generator.
    """
    values = np.rint(np.random.default_rng(12345).standard_normal(max(1 << 21, 4 * size)) * std)
    values = np.clip(values, -255, 255)
    return np.maximum(values, 0).astype(np.uint8), np.maximum(-values, 0).astype(np.uint8)


# The documented defaults: what each kind of data gets without --augment.
KINDS = {
    "digits": Augmentation(rotate=10, shift=0.1, zoom=0.1),
    "fashion": Augmentation(flip=True, shift=0.04),
    "photos": Augmentation(flip=True, rotate=10, shift=0.1, zoom=0.1, brightness=0.1, noise=3),
}


def characters(class_names: list[str]) -> bool:
    """Whether every class is a digit or a letter (then a mirror image is another class or none).

    >>> characters(["0", "1", "digit_7"]), characters(["A", "b"]), characters(["cat", "dog"])
    (True, True, False)
    """
    return bool(class_names) and all(_CHARACTER.match(name.strip()) for name in class_names)


def dataset_kind(name: str) -> str:
    """``digits`` for a known digit or character set, ``fashion`` for Fashion-MNIST, else ``photos``.

    >>> [dataset_kind(n) for n in ("mnist", "fashion-mnist-mini", "cifar10", "PetImages")]
    ['digits', 'fashion', 'photos', 'photos']
    """
    words = set(re.split(r"[^a-z0-9]+", name.lower()))
    if "fashion" in words:
        return "fashion"
    return "digits" if words & _DIGIT_SETS else "photos"


def defaults_for(name: str, class_names: list[str]) -> tuple[Augmentation, str]:
    """The default augmentation of a dataset and why: its kind, and no flip for characters."""
    kind = dataset_kind(name)
    aug = KINDS[kind]
    if aug.flip and characters(class_names):
        return replace(aug, flip=False), f"{kind}; no flip: the classes are digits or characters"
    return aug, kind


def parse_spec(spec: str) -> dict | str:
    """``--augment``: ``none``, or ``name=value`` pairs that override the data's defaults.

    Raises ValueError with a sentence for the user (click's type shows it as a usage error).

    >>> parse_spec("none")
    'none'
    >>> parse_spec("noise=0,flip=yes")
    {'noise': 0.0, 'flip': True}
    """
    text = str(spec).strip().lower()
    if text == "none":
        return "none"
    overrides = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = (s.strip() for s in item.partition("="))
        if not sep or name not in {f.name for f in fields(Augmentation)}:
            raise ValueError(f"{item!r} is not NAME=VALUE with NAME one of flip, {', '.join(BOUNDS)} (or 'none')")
        overrides[name] = _value(name, value)
    if not overrides:
        raise ValueError("give 'none' or NAME=VALUE pairs such as flip=0,rotate=10")
    return overrides


def _value(name: str, value: str) -> bool | float:
    if name == "flip":
        if value not in _SWITCH:
            raise ValueError(f"flip={value!r}: use 1 or 0 (yes/no, true/false, on/off)")
        return _SWITCH[value]
    top, unit = BOUNDS[name]
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number <= top:  # also refuses nan
        raise ValueError(f"{name}={value!r}: a number from 0 to {top:g} ({unit})")
    return number


def resolve(spec: dict | str | bool | None, name: str, class_names: list[str]) -> tuple[Augmentation, str]:
    """The augmentation a run uses: the data's defaults, changed by ``spec`` (see :func:`parse_spec`).

    ``spec`` may also be a full dict as ``config.json`` records it (a resumed run gets exactly
    what it had), or the booleans older runs recorded (True: defaults, False: none).

    >>> resolve("none", "mnist", [])
    (Augmentation(flip=False, rotate=0.0, shift=0.0, zoom=0.0, brightness=0.0, noise=0.0), 'none')
    >>> resolve({"noise": 0}, "PetImages", ["cat", "dog"])[0].describe()
    'flip, rotate 10 deg, shift 0.1, zoom 0.1, brightness 0.1'
    """
    if spec in ("none", False):
        return NONE, "none"
    base, why = defaults_for(name, class_names)
    if spec in (None, True) or not spec:
        return base, why
    aug = replace(base, **{k: (bool(v) if k == "flip" else float(v)) for k, v in spec.items()})
    return aug, why if aug == base else f"{why}, changed by --augment"


__all__ = ["Augmentation", "KINDS", "NONE", "characters", "dataset_kind", "defaults_for", "parse_spec", "resolve"]
