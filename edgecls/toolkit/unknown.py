"""Calibrated probabilities and an ``unknown`` class, built into the model that every artifact is made from.

Example::

    from edgecls.toolkit.unknown import fit, with_unknown
    fitted = fit(model, ds)                 # temperature, class means, precision, threshold
    deployable = with_unknown(model, fitted)  # uint8 pixels in, C + 1 probabilities out

Three steps, each measured on data the test split never sees:

1. **Temperature** (Guo et al., 2017): the classifier's logits are divided by the T that minimises
   the validation split's negative log-likelihood, folded into the last Dense layer.
2. **A class-conditional Gaussian** on the features the classifier layer reads (its input), with the
   global average of each earlier stage of the network beside them (:func:`classifier_parts`): class
   means and one shared covariance from the training split (Lee et al., 2018), shrunk toward its
   mean variance. The distance of an image is its smallest squared Mahalanobis distance to a class
   mean minus half its distance to one Gaussian of all the data (half the relative distance of Ren
   et al., 2021, which alone lets noise through).
3. **The threshold** is the distance that ``known_rate`` of the validation images stay under.

In the graph (built-in Keras layers only, so TFLite, ONNX and MediaPipe run it): the smallest squared
distance ``d`` as :func:`head_weights` arranges it, ``u = sigmoid(slope * (d - threshold))``, and the
output ``concat(p * (1 - u), u)``. Why Mahalanobis, and the alternatives measured: benchmarks/unknown.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from edgecls.errors import EdgeclsError
from edgecls.runtime import confidence

METHOD = "mahalanobis, half relative"
BETA = 0.5  # of the distance to all the data subtracted: 1 lets noise through, 0 more of the near classes
SHRINKAGE = 1.0  # covariance + 1.0 x its mean variance: int8 weights keep the distance (benchmarks/unknown.py)
CLAMP = 15.0  # of the sigmoid's input
SHARPNESS = 40.0  # the sigmoid goes from 0.02 to 0.98 within +-10% of the spread around the threshold


@dataclass
class Fitted:
    """What :func:`fit` measured, and what :func:`with_unknown` builds from."""

    temperature: float
    means: np.ndarray          # (C, k) class means of the features
    precision: np.ndarray      # (k, k) shared inverse covariance
    priors: np.ndarray         # (C,) class frequencies in the training split
    threshold: float           # the relative distance that known_rate of validation images stay under
    spread: float              # threshold minus the validation images' median distance
    known_rate: float
    ece_before: float          # on the validation split, before and after the temperature
    ece_after: float

    @property
    def slope(self) -> float:
        """Of the sigmoid: from 0.02 to 0.98 within +-10% of ``spread`` around the threshold."""
        return SHARPNESS / self.spread

    def record(self) -> dict:
        """The JSON-able part (metadata, parity.json): no matrices."""
        keep = ("temperature", "threshold", "spread", "known_rate", "ece_before", "ece_after")
        return {"method": METHOD, **{k: round(float(v), 6) for k, v in asdict(self).items() if k in keep},
                "slope": round(self.slope, 6)}


def classifier_parts(model):
    """``(parts, dense)``: the tensors the unknown distance reads, the last of them the one the model's last
    Dense layer reads, and that layer, in ``model``'s own graph. A model wrapped around another (a foreign
    model behind its input contract) is opened.

    The parts before the features are the global averages of each earlier stage (:func:`stages`): the
    features alone see a blurred texture as a blob of cloth, the first stage does not (benchmarks/unknown.py;
    the feature ensemble of Lee et al., 2018). Kept apart, not concatenated: int8 gives each its own scale.

    Refused in one line where the model does not end in a Dense classifier (with or without a softmax).
    """
    import keras

    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    last = layers[-1] if layers else None
    if isinstance(last, (keras.layers.Softmax, keras.layers.Activation)) and len(layers) > 1:
        last = layers[-2]
    if isinstance(last, keras.layers.Dense):
        pooled = [keras.layers.GlobalAveragePooling2D(name=f"unknown_stage_{i}")(t) for i, t in enumerate(stages(layers))]
        return [*pooled, last.input], last
    if isinstance(last, keras.Model):  # a wrapped model: its parts, fed what the wrapper feeds it, in one call
        inner_parts, dense = classifier_parts(last)
        fed = model.layers[model.layers.index(last) - 1].output  # a wrapper is a chain (toolkit.contract.wrap)
        return keras.tree.flatten(keras.Model(last.inputs, inner_parts, name=f"{last.name}_features")(fed)), dense
    raise EdgeclsError(f"the unknown class needs a model that ends in a Dense classifier layer; {model.name} ends "
                       f"in {type(last).__name__ if last else 'nothing'}")


def stages(layers) -> list:
    """The image tensors worth describing: after the first convolution, the last output at each spatial size but
    the final one (the features summarise it); not 1x1 (squeeze-excite) nor pixel-like (4 channels or fewer).
    A backbone nested as one layer is not opened (its stages would be computed twice): the features alone."""
    by_size: dict[tuple, object] = {}
    convolved = False
    for layer in layers:
        convolved = convolved or any(len(w.shape) == 4 for w in layer.weights)
        try:
            out = layer.output
            shape = tuple(out.shape)
        except (AttributeError, ValueError, TypeError):  # shared, several outputs, never called
            continue
        if convolved and len(shape) == 4 and None not in shape[1:] and shape[1] * shape[2] > 1 and shape[3] > 4:
            by_size.pop(shape[1:3], None)
            by_size[shape[1:3]] = out  # reinserted: the order of the sizes' last outputs
    return list(by_size.values())[:-1]


def _dense_weights(dense) -> tuple[np.ndarray, np.ndarray]:
    """The classifier layer's kernel and bias (zeros for a layer without one)."""
    weights = dense.get_weights()
    return weights[0], weights[1] if dense.use_bias else np.zeros(dense.units)


def _logits(dense, features: np.ndarray) -> np.ndarray:
    kernel, bias = _dense_weights(dense)
    return features @ kernel + bias


def _described(model, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(description, logits)`` of the images ``x``, float64, in batches: the description is the parts of
    :func:`classifier_parts` side by side."""
    import keras

    from edgecls.toolkit.evaluate import images_per_batch

    batch_size = images_per_batch(x.shape[1:])
    parts, dense = classifier_parts(model)
    extractor = keras.Model(model.input, parts)
    out = [[keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(extractor(np.asarray(x[i : i + batch_size]),
                                                                              training=False))]
           for i in range(0, len(x), batch_size)]  # flatten: a one-part model answers a tensor, not a list
    parts = [np.concatenate(p).reshape(len(x), -1).astype(np.float64) for p in zip(*out)]
    return np.concatenate(parts, axis=1), _logits(dense, parts[-1])


def _temperature(model, ds) -> tuple[float, np.ndarray, np.ndarray]:
    """The temperature fitted on the validation split, with the validation descriptions and logits it came
    from. Refused where the data has too few validation images."""
    if len(ds.y_val) < 2 * ds.num_classes:
        raise EdgeclsError(f"{ds.name} has {len(ds.y_val)} validation images, too few to calibrate and to set the "
                           f"unknown threshold (at least {2 * ds.num_classes}: more images or a larger --val-split)")
    f_val, z_val = _described(model, ds.x_val)
    return confidence.fit_temperature(z_val, ds.y_val), f_val, z_val


def fit(model, ds, known_rate: float = 0.95) -> Fitted:
    """Temperature on the validation split, the Gaussians on the training split, the threshold at
    ``known_rate`` of the validation images. Refused where the data has no validation images."""
    from edgecls.toolkit.data import stratified_sample

    if not 0.5 <= known_rate < 1.0:
        raise EdgeclsError(f"known_rate must be in 0.5..1, got {known_rate}")
    temperature, f_val, z_val = _temperature(model, ds)
    train = stratified_sample(ds.y_train, min(len(ds.y_train), 20_000), 0)
    f_train, _ = _described(model, ds.x_train[train])
    means, precision = confidence.fit_gaussian(f_train, ds.y_train[train], ds.num_classes, SHRINKAGE)
    priors = np.bincount(ds.y_train[train], minlength=ds.num_classes) / len(train)
    scores = confidence.relative_distance(f_val, means, precision, priors, BETA)
    threshold = float(np.quantile(scores, known_rate))
    spread = max(threshold - float(np.median(scores)), 1e-6)
    return Fitted(temperature, means, precision, priors, threshold, spread, known_rate,
                  confidence.ece(confidence.softmax(z_val), ds.y_val),
                  confidence.ece(confidence.softmax(z_val / temperature), ds.y_val))


def calibration(model, ds) -> tuple[dict, np.ndarray, np.ndarray] | None:
    """The temperature fitted on the validation split, and the test split's expected calibration error
    (15 bins) before and after it: ``(record, test probabilities before, after)``; None where the model
    has no Dense classifier or the data no validation images."""
    try:
        temperature, _, _ = _temperature(model, ds)
    except EdgeclsError:
        return None
    z_test = _described(model, ds.x_test)[1]
    before, after = confidence.softmax(z_test), confidence.softmax(z_test / temperature)
    record = {"bins": confidence.ECE_BINS, "temperature": round(temperature, 6), "fitted_on": "validation split",
              "test_before": round(confidence.ece(before, ds.y_test), 6),
              "test_after": round(confidence.ece(after, ds.y_test), 6)}
    return record, before, after


def head_weights(fitted: Fitted) -> dict[str, np.ndarray]:
    """The unknown head's constants, arranged so that 8-bit arithmetic keeps the distance.

    In whitened coordinates ``g = L^T (f - c)`` (``L L^T`` the precision, ``c`` the mean of the class
    means) the class means lie in the span of the C - 1 centred means. With ``s`` the coordinates there
    and ``r`` the rest, the distance to class ``k`` is ``|s - m_k|^2 + |r|^2`` and the distance to the
    Gaussian of all the data is ``|r|^2 + |A^(1/2) (s - s0)|^2``, with ``A = (I + B)^-1`` and ``B`` the
    scatter of the means. For a known image ``r`` is unit-variance noise and ``s - m_k`` small for its
    class: no wide-range tensor is squared, where int8 would round most small squares to zero.
    """
    lower = np.linalg.cholesky(fitted.precision)
    centre = fitted.means.mean(axis=0)
    whitened = (fitted.means - centre) @ lower                          # (C, k)
    _, sv, vt = np.linalg.svd(whitened, full_matrices=True)
    rank = int((sv > sv.max() * 1e-9).sum())
    span, rest = vt[:rank].T, vt[rank:].T                               # orthonormal bases, (k, rank), (k, k - rank)
    means = whitened @ span                                             # m_k, (C, rank)
    s0 = fitted.priors @ means
    scatter = ((means - s0).T * fitted.priors) @ (means - s0)
    values, vectors = np.linalg.eigh(np.linalg.inv(np.eye(len(scatter)) + scatter))
    root = vectors @ np.diag(np.sqrt(np.clip(values, 0, None))) @ vectors.T  # A^(1/2)
    return {"span_kernel": lower @ span, "span_bias": -centre @ lower @ span, "means": means,
            "rest_kernel": lower @ rest, "rest_bias": -centre @ lower @ rest,
            "global_kernel": root, "global_bias": -s0 @ root}


def with_unknown(model, fitted: Fitted):
    """``model`` with calibrated probabilities and one more output class, unknown: the C + 1 probabilities
    described above."""
    import keras

    L = keras.layers
    parts, dense = classifier_parts(model)
    features = parts[-1]
    kernel, bias = _dense_weights(dense)
    probs = L.Softmax(name="calibrated_probabilities")(
        _dense(L, features, kernel / fitted.temperature, bias / fitted.temperature, "calibrated_logits"))
    w = head_weights(fitted)
    classes, rank = w["means"].shape
    s = _parts_dense(L, parts, w["span_kernel"], w["span_bias"], "unknown_span")            # (rank,)
    diffs = L.Reshape((classes, rank))(_dense(L, s, np.tile(np.eye(rank), classes), -w["means"].reshape(-1),
                                              "unknown_to_means"))                          # s - m_k
    to_means = _sum_of_squares(L, diffs, "unknown_class")                                    # (C, 1)
    nearest = L.GlobalMaxPooling1D(name="unknown_nearest")(L.Rescaling(-1.0)(to_means))     # -min_k |s - m_k|^2
    rest = _sum_of_squares(L, _parts_dense(L, parts, w["rest_kernel"], w["rest_bias"], "unknown_rest"),
                           "unknown_rest")                                                   # |r|^2
    to_all = _sum_of_squares(L, _dense(L, s, w["global_kernel"], w["global_bias"], "unknown_global"),
                             "unknown_all")                                                  # |A^(1/2) (s - s0)|^2
    parts = L.Concatenate(name="unknown_distance_parts")([nearest, rest, to_all])
    slope = fitted.slope  # x = slope (d - threshold), d = -nearest + |r|^2 - BETA (|r|^2 + to_all)
    weights = slope * np.array([[-1.0], [1.0 - BETA], [-BETA]])
    # x clamped to +-CLAMP (as x + CLAMP in 0..2 CLAMP), so 1 - u stays above 3e-7 and the class behind an unknown
    # answer keeps its probabilities in float files; far beyond the threshold u is 0.9999997, not 1
    shifted = L.ReLU(max_value=2 * CLAMP, name="unknown_clamp")(
        _dense(L, parts, weights, np.array([CLAMP - slope * fitted.threshold]), "unknown_logit"))
    u = _dense(L, shifted, np.ones((1, 1)), np.array([-CLAMP]), "unknown_probability", activation="sigmoid")
    keep = _dense(L, shifted, -np.ones((1, 1)), np.array([CLAMP]), "known_share", activation="sigmoid")  # 1 - u
    known = L.Multiply(name="known_probabilities")([probs, keep])
    out = L.Concatenate(name="probabilities_with_unknown")([known, u])
    return keras.Model(model.input, out, name=f"{model.name}_with_unknown")  # one tensor in, as converters need


def _parts_dense(L, parts: list, kernel: np.ndarray, bias: np.ndarray, name: str):
    """``concat(parts) @ kernel + bias`` as one Dense per part, added: in int8 each part keeps its own scale,
    where a concatenation would give a stage's small averages the features' wide one."""
    if len(parts) == 1:
        return _dense(L, parts[0], kernel, bias, name)
    rows = np.cumsum([0] + [int(p.shape[-1]) for p in parts])
    return L.Add(name=name)([_dense(L, p, kernel[a:b], bias if i == 0 else None, f"{name}_{i}")
                             for i, (p, a, b) in enumerate(zip(parts, rows[:-1], rows[1:]))])


def _sum_of_squares(L, x, name: str):
    """``sum(x^2)`` over the last axis, keeping it (..., 1)."""
    return _dense(L, L.Multiply(name=f"{name}_squares")([x, x]), np.ones((x.shape[-1], 1)), None, f"{name}_distance")


def _dense(L, x, kernel: np.ndarray, bias: np.ndarray | None, name: str, activation=None):
    """A frozen Dense layer with these weights applied to ``x``."""
    layer = L.Dense(kernel.shape[1], use_bias=bias is not None, activation=activation, name=name, trainable=False)
    y = layer(x)
    layer.set_weights([kernel.astype(np.float32)] + ([bias.astype(np.float32)] if bias is not None else []))
    return y
