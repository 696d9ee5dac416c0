"""A model's input contract as data: what pixels it was trained on, and what it answers.

edgecls' own models take raw uint8 pixels (their scaling is their first layer) and answer
probabilities. A model trained elsewhere usually does not: tutorials divide by 255, ImageNet
backbones subtract a mean, MLPs take flat vectors, many heads end in logits. The contract says
which, so export can wrap the model into edgecls' one contract (raw pixels in, probabilities
out) and every artifact stays self-describing.

The contract is declared (``--input-range 0,1``, ``--mean``/``--std``, ``--color``, ``--invert``,
``--output``) or measured on labelled images: :func:`choose` runs the common contracts and picks
one only where it clearly wins.

>>> c = InputContract.from_options(input_range="0,1")
>>> c.describe(), c.prepare(np.array([[[[0], [255]]]], np.uint8)).ravel().tolist()
('pixels 0..1', [0.0, 1.0])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from edgecls.errors import EdgeclsError

# name -> (mean, std) in 0..255 pixel units (the model sees (x - mean) / std), and how it is printed
RANGES = {
    "0,255": ((0.0,), (1.0,), "pixels 0..255"),
    "0,1": ((0.0,), (255.0,), "pixels 0..1"),
    "-1,1": ((127.5,), (127.5,), "pixels -1..1"),
    "torch": ((123.675, 116.28, 103.53), (58.395, 57.12, 57.375), "ImageNet mean/std (torch)"),  # RGB
    "caffe": ((103.939, 116.779, 123.68), (1.0, 1.0, 1.0), "ImageNet mean (caffe)"),  # BGR, no scaling
}
MARGIN = 0.05       # 5 points more accurate is clearly better ...
OVERCONFIDENCE = 0.10  # ... and so is as accurate with 10 points less overconfidence,
MIN_ERRORS = 0.02   # ... against a rival wrong on 2% of the images at least
SAME_ANSWERS = 0.99  # contracts that agree on 99% of the answers need not be told apart
MEASURE_IMAGES = 1000


@dataclass(frozen=True)
class InputContract:
    """How raw pixels (GRAY or RGB, 0..255, as the runtime gives them) become the model's input."""

    name: str = "0,255"
    mean: tuple[float, ...] = (0.0,)
    std: tuple[float, ...] = (1.0,)
    bgr: bool = False            # the model's channels are in BGR order (OpenCV/caffe style)
    invert: bool = False         # the model wants 255 - x (ink on paper vs light on dark)
    logits: bool | None = None   # None: told by the model's outputs

    @classmethod
    def from_options(cls, input_range: str | None = None, mean=None, std=None, color: str | None = None,
                     invert: bool = False, output: str | None = None) -> InputContract:
        if input_range and (mean or std):
            raise EdgeclsError("--input-range and --mean/--std say the same thing: pass one of them")
        if input_range and input_range not in RANGES:
            raise EdgeclsError(f"--input-range {input_range!r}: choose from {', '.join(RANGES)}")
        if input_range:
            name, (m, s, _) = input_range, RANGES[input_range]
        else:
            name, m, s = "mean/std", tuple(mean or (0.0,)), tuple(std or (1.0,))
        bgr = (color or "").lower() == "bgr" or (input_range == "caffe" and color is None)
        return cls(name, tuple(m), tuple(s), bgr, invert, None if output is None else output == "logits")

    def describe(self) -> str:
        scale = RANGES[self.name][2] if self.name in RANGES else f"(x - {list(self.mean)}) / {list(self.std)}"
        return (scale + (", BGR order" if self.bgr else "") + (", inverted" if self.invert else "")
                + (", logits" if self.logits else ""))

    def kernel(self, channels: int) -> tuple[np.ndarray, np.ndarray]:
        """The contract as one 1x1 convolution over raw pixels: (kernel (C, C), bias (C,)).

        Channel order, inversion, offset and scale in one affine map, so int8 keeps all 256 levels.
        """
        mean = np.broadcast_to(np.asarray(self.mean, np.float64), (channels,))
        std = np.broadcast_to(np.asarray(self.std, np.float64), (channels,))
        sign = -1.0 if self.invert else 1.0
        order = list(range(channels))[::-1] if self.bgr else list(range(channels))
        kernel = np.zeros((channels, channels))
        for out, source in enumerate(order):
            kernel[source, out] = sign / std[out]
        bias = ((255.0 if self.invert else 0.0) - mean) / std
        return kernel.astype(np.float32), bias.astype(np.float32)

    def prepare(self, pixels: np.ndarray) -> np.ndarray:
        """Raw uint8 pixels (N, H, W, C) as this contract's float32 model input."""
        kernel, bias = self.kernel(pixels.shape[-1])
        return (pixels.astype(np.float32) @ kernel + bias).astype(np.float32)

    def record(self) -> dict:
        """What the metadata keeps of the original contract."""
        return asdict(self)


def candidates(channels: int) -> list[InputContract]:
    """The common contracts worth measuring for a model of ``channels`` input channels."""
    names = [name for name, (mean, _, _) in RANGES.items() if channels == 3 or len(mean) == 1]
    found = []
    for name in names:
        base = InputContract.from_options(input_range=name)
        found += [base, replace(base, invert=True)]
        if channels == 3 and name not in ("torch", "caffe"):
            found.append(replace(base, bgr=True))
    return found


def outputs_are_logits(probs: np.ndarray) -> bool:
    """True unless every row is a probability distribution (in 0..1, summing to 1)."""
    return bool(probs.min() < -1e-6 or probs.max() > 1 + 1e-6 or np.abs(probs.sum(axis=1) - 1).max() > 1e-3)


@dataclass(frozen=True, eq=False)
class Score:
    """How well a model does under one contract on labelled images: its answers and, per image, the
    log-loss of the true class (a proper scoring rule: it rewards accuracy and punishes over- and
    under-confidence alike)."""

    contract: InputContract
    accuracy: float
    confidence: float  # mean top probability
    logits: bool
    losses: np.ndarray   # -log p(true class), per image
    answers: np.ndarray  # top-1 class, per image
    correct: np.ndarray  # top-1 is the true class, per image

    @property
    def log_loss(self) -> float:
        return float(self.losses.mean())

    @property
    def overconfidence(self) -> float:
        """Mean top probability minus accuracy: how much surer than right the model is."""
        return self.confidence - self.accuracy

    def beats(self, other: Score) -> bool:
        """Clearly better, in one of three ways: 5 points more accurate; as accurate (2 points) and far better
        calibrated, against a rival wrong on 2% of the images at least; or a lower log-loss (a proper scoring
        rule) by more than two standard errors of the paired difference, without being clearly less accurate.

        Fed 255x its training scale, a model is sure of every answer, right or wrong: its mean confidence
        exceeds its accuracy by the error rate, and its confident mistakes cost it the log-loss. Accuracy
        still counts: a model over-confident at its own scale can score a lower log-loss at another one.
        """
        if self.accuracy >= other.accuracy + MARGIN:
            return True
        informative = other.accuracy <= 1 - MIN_ERRORS
        if informative and self.accuracy >= other.accuracy - 0.02 and \
                other.overconfidence - self.overconfidence >= OVERCONFIDENCE:
            return True
        return _clearly_above(other.losses - self.losses) and not other.more_accurate(self)

    def more_accurate(self, other: Score) -> bool:
        """Clearly more accurate, by the same paired test on right and wrong answers."""
        return _clearly_above(self.correct.astype(np.float64) - other.correct)

    def same_answers(self, other: Score) -> bool:
        """Both contracts give the same answer on at least 99% of the images: choosing either changes nothing."""
        return float((self.answers == other.answers).mean()) >= SAME_ANSWERS

    def __str__(self) -> str:
        return f"{self.contract.describe()} {self.accuracy:.1%} (log-loss {self.log_loss:.3f})"


def measure(model, contract: InputContract, x: np.ndarray, y: np.ndarray) -> Score:
    inputs = contract.prepare(x).reshape((len(x), *model.input_shape[1:]))
    out = np.asarray(model.predict(inputs, verbose=0, batch_size=256), np.float64)
    logits = outputs_are_logits(out) if contract.logits is None else contract.logits
    if logits:
        out = np.exp(out - out.max(axis=1, keepdims=True))
    out = np.clip(out, 0, None)
    out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-300)
    losses = -np.log(np.clip(out[np.arange(len(y)), y], 1e-12, 1.0))
    return Score(contract, float((out.argmax(1) == y).mean()), float(out.max(axis=1).mean()), logits, losses,
                 out.argmax(1), out.argmax(1) == y)


def _clearly_above(diff: np.ndarray) -> bool:
    """A paired difference whose mean is above zero by more than two standard errors."""
    return bool(diff.mean() > 0 and diff.mean() > 2 * diff.std(ddof=1) / np.sqrt(len(diff)))


def choose(model, x: np.ndarray, y: np.ndarray, declared: InputContract | None = None) -> tuple[InputContract, str]:
    """The contract to export ``model`` with, and one line that says how it was chosen.

    Measured on labelled ``(x, y)``: a contract is kept where it clearly beats (:meth:`Score.beats`)
    every other one that would change the answers (:meth:`Score.same_answers`), the lowest log-loss
    among such; a declared one is refused where another that changes the answers clearly beats it.
    Otherwise :class:`EdgeclsError`, naming the flags to pass.
    """
    scores = sorted((measure(model, c, x, y) for c in candidates(x.shape[-1])), key=lambda s: s.log_loss)
    n = len(y)
    if declared is not None:
        mine = measure(model, declared, x, y)
        better = [s for s in scores if s.beats(mine) and not s.same_answers(mine)]
        if better:
            raise EdgeclsError(f"the declared input contract ({declared.describe()}) scores {mine} on {n} labelled "
                               f"images, but {better[0]}: check --input-range/--mean/--std/--color/--invert")
        chosen = replace(declared, logits=mine.logits)
        return chosen, f"input contract (declared): {chosen.describe()}, {mine.accuracy:.1%} on {n} labelled images"
    winners = [s for s in scores if all(s.beats(o) or s.same_answers(o) for o in scores if o is not s)]
    blind = all(np.allclose(s.losses, scores[0].losses) for s in scores)  # the pixels do not matter to it at all
    if not winners or blind:
        raise EdgeclsError(f"cannot tell this model's input contract: {scores[0]} and {scores[1]} on {n} labelled "
                           f"images; pass --input-range ({' | '.join(RANGES)}) or --mean/--std, "
                           "with --color and --invert as needed")
    best = winners[0]
    chosen = replace(best.contract, logits=best.logits)
    others = [s for s in scores if s is not best][:3]
    return chosen, (f"input contract (measured on {n} labelled images): {chosen.describe()} {best.accuracy:.1%} "
                    f"(log-loss {best.log_loss:.3f}); runners-up: {', '.join(map(str, others))}")


def adopt(model, declared: InputContract | None, ds, seed: int = 0):
    """A foreign ``model`` under edgecls' contract: ``(wrapped model, contract, one line saying how)``.

    The contract is measured (or the declared one checked) on a class-stratified sample of up to
    1 000 training images of ``ds``, never on the test split the parity gate uses.
    """
    from edgecls.toolkit.data import stratified_sample

    check_fits(model, ds.image_shape)
    idx = stratified_sample(ds.y_train, MEASURE_IMAGES, seed)
    contract, line = choose(model, np.asarray(ds.x_train[idx]), ds.y_train[idx], declared)
    return wrap(model, contract, ds.image_shape), contract, line


def wrap(model, contract: InputContract, image_shape: tuple[int, int, int]):
    """``model`` behind edgecls' contract: raw pixels ``image_shape`` in, probabilities out.

    One frozen 1x1 convolution applies the contract, a reshape feeds a flat-input model (or one
    that takes gray images without a channel axis), and a softmax follows a model that answers logits.
    """
    import keras

    inputs = keras.Input(image_shape, dtype="uint8", name="pixels")
    x = affine_input(keras, inputs, *contract.kernel(image_shape[-1]), name="input_contract")
    if len(model.input_shape) != 4:
        x = keras.layers.Reshape(tuple(model.input_shape[1:]), name="flatten_for_model")(x)
    x = model(x)
    if contract.logits:
        x = keras.layers.Softmax(name="probabilities")(x)
    return keras.Model(inputs, x, name=f"edgecls_{model.name}")


def affine_input(keras, x, kernel: np.ndarray, bias: np.ndarray, name: str):
    """uint8 pixels through one frozen 1x1 convolution (``kernel`` (C, C), ``bias`` (C,)).

    One op rounds once in int8, so all 256 input levels survive quantization; Keras'
    ``Rescaling(1/127.5, offset=-1)`` becomes a multiply then an add, and rounding twice
    merged them into 171 (mobilenet_v2 on 4 000 photos: int8 agreement 98.7% -> 98.95%).
    """
    x = keras.layers.Rescaling(1.0, name="to_float")(x)
    conv = keras.layers.Conv2D(len(bias), 1, name=name, trainable=False)
    x = conv(x)
    conv.set_weights([np.asarray(kernel, np.float32).reshape(1, 1, *kernel.shape), np.asarray(bias, np.float32)])
    return x


def check_fits(model, image_shape: tuple[int, int, int]) -> None:
    """Refuse a model whose input cannot be fed from images of ``image_shape``."""
    if len(model.inputs) != 1:
        raise EdgeclsError(f"expected a model with one input, got {len(model.inputs)}")
    want = tuple(model.input_shape[1:])
    if len(want) == 3 and want != tuple(image_shape):
        raise EdgeclsError(f"the data has {image_shape} images but the model takes {want}")
    if len(want) == 1 and want[0] != int(np.prod(image_shape)):
        raise EdgeclsError(f"the model takes flat vectors of {want[0]} values but the data has {image_shape} "
                           f"images ({int(np.prod(image_shape))} values)")
    if len(want) == 2 and (want != tuple(image_shape[:2]) or image_shape[2] != 1):  # (N, H, W): gray, no channel axis
        raise EdgeclsError(f"the model takes {want} gray images without a channel axis but the data has {image_shape}")
    if len(want) not in (1, 2, 3):
        raise EdgeclsError(f"expected an image input (N, H, W, C), (N, H, W) or a flat one (N, D), "
                           f"got {model.input_shape}")
