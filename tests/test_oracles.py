"""Issue 24: the pure modules against answers that come from elsewhere.

Hand-computed pixels (OpenCV's documented luma weights Y = 0.299 R + 0.587 G + 0.114 B on frames
whose three channels differ, bilinear and area resampling worked out on paper), scikit-learn for
metrics on imbalanced multi-class data, and hand-made score vectors for post-processing. These
files are also the mutation-testing selection (`mutmut run`, see the README's Development section).
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgecls.errors import EdgeclsError
from edgecls.runtime import parity
from edgecls.runtime import postprocess
from edgecls.runtime.preprocess import center_crop, convert_color, resize, to_model_input
from edgecls.runtime.stats import Reservoir
from edgecls.toolkit import metrics
from edgecls.toolkit.data.split import stratified_sample, stratified_split

B, G, R, A = 10, 100, 200, 255


def luma(r: int, g: int, b: int) -> int:
    return int(np.floor(0.299 * r + 0.587 * g + 0.114 * b + 0.5))


def frame(kind: str, size=(6, 8)) -> np.ndarray:
    """A frame in OpenCV's layout whose channels all differ: B=10, G=100, R=200 (BGR order)."""
    if kind == "GRAY":
        return np.full(size, 77, np.uint8)
    if kind == "GRAY1":
        return np.full((*size, 1), 77, np.uint8)
    return np.full((*size, 3 if kind == "BGR" else 4), (B, G, R, A)[: 3 if kind == "BGR" else 4], np.uint8)


# (model colour, frame kind, source order) -> the pixel the model must see, worked out by hand.
# With source="RGB" the same bytes mean R=10, G=100, B=200 (a frame from an RGB decoder).
COLOUR_PATHS = {
    ("GRAY", "GRAY", "BGR"): [77], ("GRAY", "GRAY1", "BGR"): [77],
    ("GRAY", "BGR", "BGR"): [luma(R, G, B)], ("GRAY", "BGRA", "BGR"): [luma(R, G, B)],
    ("GRAY", "BGR", "RGB"): [luma(B, G, R)], ("GRAY", "BGRA", "RGB"): [luma(B, G, R)],
    ("RGB", "GRAY", "BGR"): [77, 77, 77], ("RGB", "GRAY1", "BGR"): [77, 77, 77],
    ("RGB", "BGR", "BGR"): [R, G, B], ("RGB", "BGRA", "BGR"): [R, G, B],
    ("RGB", "BGR", "RGB"): [B, G, R], ("RGB", "BGRA", "RGB"): [B, G, R],
    ("GRAY", "GRAY", "RGB"): [77], ("RGB", "GRAY", "RGB"): [77, 77, 77],
}


@pytest.mark.parametrize("model, kind, source", sorted(COLOUR_PATHS))
@pytest.mark.parametrize("mode", ["stretch", "crop", "pad"])
def test_every_colour_path_by_hand(model, kind, source, mode):
    assert luma(R, G, B) == 120 and luma(B, G, R) == 84  # 119.64 and 84.49, rounded
    got = to_model_input(frame(kind), 6, 8, model, mode, source)
    assert got.shape == (6, 8, len(COLOUR_PATHS[model, kind, source])) and got.dtype == np.uint8
    assert got.flags["C_CONTIGUOUS"]
    assert np.all(got == np.array(COLOUR_PATHS[model, kind, source], np.uint8))


def test_convert_color_refuses_what_is_not_an_image():
    for bad in (np.zeros((4, 4, 2), np.uint8), np.zeros((2, 4, 4, 3), np.uint8), np.zeros(5, np.uint8)):
        with pytest.raises(EdgeclsError, match="GRAY, BGR or BGRA"):
            convert_color(bad, "RGB")
    with pytest.raises(EdgeclsError, match="uint8"):
        to_model_input(np.zeros((4, 4, 3), np.float32), 4, 4, "RGB")
    with pytest.raises(EdgeclsError, match="resize mode 'zoom'"):
        resize(np.zeros((4, 4, 3), np.uint8), 2, 2, "zoom")


def columns(h: int, w: int) -> np.ndarray:
    """A frame whose every pixel holds twice its column number, to see which columns are kept."""
    return np.tile((2 * np.arange(w)).astype(np.uint8), (h, 1))


@pytest.mark.parametrize("h, w, mh, mw, top, left, ch, cw", [
    (480, 640, 28, 28, 0, 80, 480, 480),      # wider than the model: full height, centred columns
    (640, 480, 28, 28, 80, 0, 480, 480),      # taller: full width, centred rows
    (480, 640, 24, 32, 0, 0, 480, 640),       # same aspect: everything
    (100, 100, 20, 40, 25, 0, 50, 100),       # a 1:2 model on a square frame
    (101, 100, 20, 40, 25, 0, 50, 100),       # odd height: floor of the margin
    (3, 1000, 2, 2, 0, 498, 3, 3),
    (1, 10, 4, 4, 0, 4, 1, 1),                # a one-pixel crop is still one pixel
    (10, 1, 4, 4, 4, 0, 1, 1),
])
def test_center_crop_by_hand(h, w, mh, mw, top, left, ch, cw):
    image = np.arange(h * w, dtype=np.int64).reshape(h, w)
    got = center_crop(image, mh, mw)
    assert np.array_equal(got, image[top : top + ch, left : left + cw])
    assert np.shares_memory(got, image)  # a view: no copy


def test_crop_then_resize_keeps_the_centre_columns():
    got = to_model_input(columns(4, 12), 2, 2, "GRAY", "crop")  # crop = columns 4..7, then 2x area average
    assert got[..., 0].tolist() == [[9, 13], [9, 13]]  # columns 4, 5 hold 8, 10 (mean 9); 6, 7 hold 12, 14


def test_area_average_when_shrinking_by_hand():
    block = np.array([[9, 9, 9], [9, 0, 9], [9, 9, 9]], np.uint8)  # mean 8, centre 0: area != nearest/linear
    image = np.block([[block, block * 2], [block * 3, block + 1]])
    assert resize(image, 2, 2).tolist() == [[8, 16], [24, 9]]
    tall = np.repeat(np.array([[0], [0], [9], [90], [90], [99]], np.uint8), 2, axis=1)  # shrinks one side only
    assert resize(tall, 2, 2)[:, 0].tolist() == [3, 93]


def area_weights(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in): how much of output pixel i's interval [i s, (i + 1) s), s = n_in / n_out, input pixel j covers."""
    edges = np.arange(n_out + 1) * n_in / n_out
    j = np.arange(n_in)
    overlap = np.minimum(edges[1:, None], j + 1) - np.maximum(edges[:-1, None], j)
    return np.clip(overlap, 0, None) / (n_in / n_out)


def exact_area(frame_bgr: np.ndarray, height: int, width: int, color: str, mode: str) -> np.ndarray:
    """The area mean in float64, rounded once: the luminance of each source pixel for GRAY, each channel for RGB."""
    view = center_crop(frame_bgr, height, width) if mode == "crop" else frame_bgr
    rgb = view[..., ::-1].astype(np.float64)
    pixels = rgb @ np.array([0.299, 0.587, 0.114]) if color == "GRAY" else rgb
    wy, wx = area_weights(view.shape[0], height), area_weights(view.shape[1], width)
    rows = np.tensordot(wy, pixels, axes=(1, 0))                     # (height, view width[, 3])
    out = np.moveaxis(np.tensordot(wx, rows, axes=(1, 1)), 0, 1)       # (height, width[, 3])
    return np.rint(out).reshape(height, width, -1)


@pytest.mark.parametrize("frame_size", [(480, 640), (720, 1280)])
@pytest.mark.parametrize("size, color, mode", [(28, "GRAY", "crop"), (28, "GRAY", "stretch"), (32, "RGB", "crop"),
                                               (32, "RGB", "stretch"), (224, "RGB", "crop")])
def test_camera_frames_get_the_exact_area_mean(sample, frame_size, size, color, mode):
    """Real test photos in camera-sized frames: the model sees the float64 area mean, rounded once, give or take
    1 level on a few pixels (OpenCV rounds ties up and sums in float32; a GRAY frame's luminance is rounded per
    source pixel before the mean). Measured on 20 frames a case: at least 98.6% of pixels equal. Halving in
    8-bit steps first, as stop 36 did, left 84-91% equal."""
    height, width = frame_size
    rng = np.random.default_rng(size)
    for image in sample.x_test[:3, :, :, 0]:
        frame = cv2.GaussianBlur(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), (31, 31), 8)
        frame[:, (width - height) // 2 :][:, :height] = cv2.resize(image, (height, height))[..., None]
        want = exact_area(frame, size, size, color, mode)
        got = to_model_input(frame, size, size, color, mode).astype(np.float64)
        assert np.abs(got - want).max() <= 1
        assert (got == want).mean() >= 0.97


def test_resize_crop_mode_called_directly():
    """The folder loader calls resize() itself: its crop mode is the same centred region."""
    got = resize(columns(4, 12)[..., None], 2, 2, "crop")
    assert got.shape == (2, 2, 1) and got[..., 0].tolist() == [[9, 13], [9, 13]]


def test_default_mode_is_stretch():
    image = columns(4, 12)
    assert resize(image, 2, 2).tolist() == resize(image, 2, 2, "stretch").tolist() == [[5, 17]] * 2
    assert np.array_equal(to_model_input(image, 2, 2, "GRAY"), to_model_input(image, 2, 2, "GRAY", "stretch"))


def test_bilinear_when_enlarging_one_side_only():
    # one side the same, the other enlarged: bilinear, not area (which would repeat pixels: 0 0 100 100)
    image = np.array([[0, 100], [0, 100]], np.uint8)
    assert resize(image, 2, 4).tolist() == [[0, 25, 75, 100]] * 2
    assert resize(image.T.copy(), 4, 2)[:, 0].tolist() == [0, 25, 75, 100]


def test_bilinear_when_enlarging_by_hand():
    # 2 -> 4 pixels: sample points (x + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25, clamped to the edges
    got = resize(np.array([[0, 100], [0, 100]], np.uint8), 4, 4)
    assert got.tolist() == [[0, 25, 75, 100]] * 4
    assert resize(np.zeros((2, 2, 1), np.uint8), 3, 3).shape == (3, 3, 1)  # a channel axis stays


@pytest.mark.parametrize("h, w, rows, cols", [
    (10, 20, (5, 15), (0, 20)),   # wide image: bars above and below
    (20, 10, (0, 20), (5, 15)),   # tall image: bars left and right
    (20, 20, (0, 20), (0, 20)),   # same aspect: no bars
    (7, 40, (8, 12), (0, 20)),    # 3.5 rows round to 4; margins floor to 8
    (1, 40, (9, 10), (0, 20)),    # half a row rounds to none: one row, never zero
    (40, 1, (0, 20), (9, 10)),
])
def test_pad_letterboxes_by_hand(h, w, rows, cols):
    got = resize(np.full((h, w, 3), 200, np.uint8), 20, 20, "pad")
    want = np.zeros((20, 20, 3), np.uint8)
    want[rows[0] : rows[1], cols[0] : cols[1]] = 200
    assert np.array_equal(got, want)


@pytest.mark.parametrize("color, channels", [("GRAY", 1), ("RGB", 3)])
def test_pad_and_crop_on_a_frame_of_another_aspect(color, channels):
    frame_ = np.full((10, 20, 3), 200, np.uint8)
    padded = to_model_input(frame_, 20, 20, color, "pad")
    assert padded.shape == (20, 20, channels)
    assert np.all(padded[:5] == 0) and np.all(padded[15:] == 0) and np.all(padded[5:15] == 200)
    cropped = to_model_input(columns(4, 12), 2, 2, color, "crop")
    assert np.all(cropped[..., 0] == [[9, 13], [9, 13]])


def test_top_k_over_all_classes():
    probs = np.array([0.1, 0.3, 0.05, 0.3, 0.25])
    labels = ["a", "b", "c", "d", "e"]
    assert postprocess.top_k(probs, 5, labels) == [("b", 0.3), ("d", 0.3), ("e", 0.25), ("a", 0.1), ("c", 0.05)]
    assert postprocess.top_k(np.array([0.1, 0.2, 0.7]), 1, ["x", "y", "z"]) == [("z", 0.7)]  # the last class wins
    assert postprocess.top_k(np.array([0.1, 0.2, 0.7]), 3, ["x"]) == [("2", 0.7), ("1", 0.2), ("x", 0.1)]
    assert postprocess.top_k(np.array([0.5, 0.5]), 9, ["p", "q"]) == [("p", 0.5), ("q", 0.5)]
    many = np.array([0.3, 0.1] * 50) / 20  # 100 classes, 50-way ties: the lower index first, like argmax
    assert [label for label, _ in postprocess.top_k(many, 6, [str(i) for i in range(100)])] == ["0", "2", "4", "6",
                                                                                                "8", "10"]


def test_smoother_is_the_mean_of_the_last_n_frames():
    frames = [np.array([1.0, 0.0]), np.array([0.0, 1.0]), np.array([0.0, 1.0]), np.array([1.0, 0.0])]
    smoother = postprocess.Smoother(3)
    got = np.array([smoother.update(f) for f in frames])
    assert got == pytest.approx(np.array([[1, 0], [0.5, 0.5], [1 / 3, 2 / 3], [1 / 3, 2 / 3]]))
    one = postprocess.Smoother()
    assert [one.update(f).tolist() for f in frames] == [f.tolist() for f in frames]
    with pytest.raises(ValueError, match="at least 1"):
        postprocess.Smoother(0)


def test_threshold_names_the_unsure_answer_unknown():
    top = [("cat", 0.5), ("dog", 0.3)]
    assert postprocess.answer(top, 0.51) == [("unknown", 0.5), ("dog", 0.3)]
    assert postprocess.answer(top, 0.5) == top  # at the threshold is sure enough
    assert postprocess.answer(top) == top and postprocess.answer([], 0.9) == []


def imbalanced(seed=0, n=500):
    """Labels with one class absent from the truth and predictions right about 70% of the time."""
    rng = np.random.default_rng(seed)
    y = rng.choice([0, 1, 2, 4], n, p=[0.55, 0.25, 0.15, 0.05])
    pred = np.where(rng.random(n) < 0.7, y, rng.choice([0, 1, 2, 4], n))
    return y, pred


def test_confusion_matrix_and_per_class_scores_match_scikit_learn():
    from sklearn.metrics import confusion_matrix, log_loss, precision_recall_fscore_support

    y, pred = imbalanced()
    names = ["a", "b", "c", "d", "e"]
    report = metrics.classification_report(y, np.eye(5)[pred], names, loss=0.25)
    assert report["confusion_matrix"] == confusion_matrix(y, pred, labels=range(5)).tolist()
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(5), average=None, zero_division=0)
    for i, name in enumerate(names):
        got = report["per_class"][name]
        if name == "d":  # neither in the labels nor predicted
            assert got == {"precision": None, "recall": None, "f1": None, "support": 0}
            continue
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    for average in ("macro", "weighted"):
        want = precision_recall_fscore_support(y, pred, average=average, zero_division=0)[:3]
        assert tuple(report[f"{average}_avg"].values()) == pytest.approx(want)
    assert report["accuracy"] == pytest.approx(np.mean(y == pred)) and report["samples"] == 500
    assert report["absent_classes"] == ["d"] and report["loss"] == 0.25
    probs = np.random.default_rng(1).dirichlet(np.ones(5), 500)
    assert metrics.cross_entropy(y, probs) == pytest.approx(log_loss(y, probs, labels=range(5)))


@pytest.mark.filterwarnings("error")  # no RuntimeWarning reaches the user for a class with no predictions
@pytest.mark.parametrize("y, pred", [
    ([0, 0, 1, 1], [0, 2, 1, 1]),           # class 2 predicted once, never true
    ([0, 0, 1, 1, 2], [0, 0, 1, 1, 1]),     # class 2 true once, never predicted
    ([0, 0, 1, 1, 2, 2], [0, 1, 0, 1, 2, 0]),  # precision = recall = 0.5 for class 0 and 1
])
def test_edge_classes_against_scikit_learn(y, pred):
    from sklearn.metrics import precision_recall_fscore_support

    y, pred = np.array(y), np.array(pred)
    report = metrics.classification_report(y, np.eye(3)[pred], ["a", "b", "c"])
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=range(3), average=None, zero_division=0)
    for i, name in enumerate("abc"):
        got = report["per_class"][name]
        assert (got["precision"], got["recall"], got["f1"], got["support"]) == pytest.approx((p[i], r[i], f[i], s[i]))
    for average in ("macro", "weighted"):
        want = precision_recall_fscore_support(y, pred, average=average, zero_division=0)[:3]
        assert tuple(report[f"{average}_avg"].values()) == pytest.approx(want)


def test_uint8_labels_of_many_classes_do_not_overflow():
    """Datasets keep labels as uint8; 30 classes squared overflow uint8 arithmetic."""
    from sklearn.metrics import confusion_matrix

    rng = np.random.default_rng(4)
    y = rng.integers(0, 30, 400).astype(np.uint8)
    pred = np.where(rng.random(400) < 0.5, y, rng.integers(0, 30, 400))
    report = metrics.classification_report(y, np.eye(30)[pred], [f"c{i}" for i in range(30)])
    assert report["confusion_matrix"] == confusion_matrix(y, pred, labels=range(30)).tolist()


def test_one_image_and_no_image():
    report = metrics.classification_report(np.array([1]), np.array([[0.2, 0.8]]), ["a", "b"])
    assert report["accuracy"] == 1.0 and report["samples"] == 1 and report["absent_classes"] == ["a"]
    with pytest.raises(EdgeclsError, match="^no images to measure: the split is empty$"):
        metrics.classification_report(np.array([], int), np.zeros((0, 2)), ["a", "b"])


def test_format_report_by_hand():
    report = metrics.classification_report(np.array([0, 0, 2]), np.eye(3)[[0, 2, 2]], ["cat", "owl", "dog"])
    assert metrics.format_report(report).splitlines() == [
        "              precision  recall  f1-score  support",
        "         cat     1.0000  0.5000    0.6667        2",
        "         owl          -       -         -        0  (absent)",
        "         dog     0.5000  1.0000    0.6667        1",
        "   macro avg     0.7500  0.7500    0.6667        3",
        "weighted avg     0.8333  0.6667    0.6667        3",
        "    accuracy  0.6667 on 3 images",
    ]


def test_cross_entropy_by_hand():
    probs = np.array([[0.5, 0.5], [0.9, 0.1], [0.0, 1.0]])
    assert metrics.cross_entropy(np.array([0, 1, 0]), probs) == pytest.approx(
        -(np.log(0.5) + np.log(0.1) + np.log(1e-7)) / 3)


def test_stratified_split_by_hand():
    labels = np.array([0] * 10 + [1] * 4 + [2] * 2 + [3])
    keep, held = stratified_split(labels, 0.25, seed=0)
    assert np.bincount(labels[held], minlength=4).tolist() == [2, 1, 1, 0]  # round(2.5) = 2, 1, at least 1, none of 1
    assert sorted(np.concatenate([keep, held]).tolist()) == list(range(17))
    assert keep.tolist() == sorted(keep.tolist()) and held.tolist() == sorted(held.tolist())
    again = stratified_split(labels, 0.25, seed=0)
    assert np.array_equal(again[1], held)
    others = {tuple(stratified_split(labels, 0.25, seed=s)[1]) for s in range(1, 8)}
    assert len(others | {tuple(held)}) > 2  # another seed, another split
    assert stratified_split(np.array([0, 0, 1, 1]), 0.9, seed=0)[0].size == 2  # each side keeps one of each
    assert stratified_split(labels, 0.0, seed=0)[1].size == 0
    for bad in (-0.1, 1.0):
        with pytest.raises(ValueError, match=r"fraction must be in \[0, 1\)"):
            stratified_split(labels, bad, seed=0)


def test_stratified_sample_keeps_class_proportions():
    labels = np.repeat(np.arange(4), [400, 300, 200, 100])
    idx = stratified_sample(labels, 100, seed=5)
    assert np.bincount(labels[idx]).tolist() == [40, 30, 20, 10]
    assert not np.array_equal(idx, stratified_sample(labels, 100, seed=6))
    assert np.array_equal(stratified_sample(labels, 5000, seed=5), np.arange(1000))
    assert np.array_equal(stratified_sample(labels, 1000, seed=5), np.arange(1000))  # all of them is all of them
    assert np.array_equal(idx, stratified_sample(labels, 100, seed=5))  # the same seed, the same sample


def test_parity_compare_against_numpy():
    rng = np.random.default_rng(3)
    reference = rng.dirichlet(np.ones(4), 300)
    probs = np.clip(reference + rng.normal(0, 0.05, reference.shape), 0, 1)
    labels = np.where(rng.random(300) < 0.8, reference.argmax(1), rng.integers(0, 3, 300))
    row = parity.compare(reference, probs, labels, ["a", "b", "c", "d"])
    agree = probs.argmax(1) == reference.argmax(1)
    assert row["samples"] == 300 and row["agreement"] == pytest.approx(agree.mean())
    assert row["accuracy"] == pytest.approx(np.mean(probs.argmax(1) == labels))
    delta = 100 * (np.mean(probs.argmax(1) == labels) - np.mean(reference.argmax(1) == labels))
    assert row["accuracy_delta_points"] == pytest.approx(round(delta, 3))
    assert row["max_abs_diff"] == pytest.approx(np.abs(probs - reference).max())
    assert row["mean_abs_diff"] == pytest.approx(np.abs(probs - reference).mean())
    per_class = {name: 100 * (np.mean(probs.argmax(1)[labels == c] == c) - np.mean(reference.argmax(1)[labels == c] == c))
                 for c, name in enumerate("abcd")}
    assert row["per_class_delta_points"] == pytest.approx({k: round(v, 3) for k, v in per_class.items()})
    assert row["worst_class"] == min(per_class, key=per_class.get)
    assert row["worst_class_delta_points"] == row["per_class_delta_points"][row["worst_class"]]
    with pytest.raises(EdgeclsError, match="^no labelled images to compare the artifact with the original on$"):
        parity.compare(np.zeros((0, 2)), np.zeros((0, 2)), np.zeros(0, int), ["a", "b"])


def test_gate_edges_by_hand():
    row = {"accuracy_delta_points": -1.0, "agreement": 0.99, "worst_class": "a", "worst_class_delta_points": -5.0}
    assert parity.gate_failures(row, max_drop=1.0, min_agreement=0.99, max_class_drop=5.0) == []  # at the bounds
    assert parity.gate_failures({**row, "accuracy_delta_points": -1.01}, 1.0, 0.99) == ["accuracy drop 1.01 points > 1.0"]
    assert parity.gate_failures({**row, "worst_class_delta_points": None}, 1.0, 0.99, 0.0) == []
    assert parity.gate_failures({**row, "worst_class_delta_points": -5.5}, 1.0, 0.99) == []  # no class bound asked


def test_parity_table_by_hand():
    row = {"artifact": "model_int8.tflite", "size_bytes": 175123, "accuracy": 0.9356, "accuracy_delta_points": -0.1,
           "agreement": 0.9969, "max_abs_diff": 0.088, "mean_abs_diff": 0.0012, "worst_class": "Shirt",
           "worst_class_delta_points": -1.1, "passed": False, "agreement_low95": 0.99437, "int8_macs": 0.0316}
    lines = parity.format_table([row, {**row, "worst_class": None, "worst_class_delta_points": None,
                                       "passed": True, "agreement_low95": None, "int8_macs": None}]).splitlines()
    assert lines[0].split() == ["artifact", "size", "int8", "accuracy", "delta", "agree", ">=95%", "max|dp|",
                                "mean|dp|", "worst", "class", "status"]
    assert set(lines[1]) == {"-"} and len(lines[1]) == len(lines[0])
    assert lines[2].split() == ["model_int8.tflite", "175,123", "3%", "0.9356", "-0.10", "0.9969", "0.9944",
                                "8.80e-02", "1.20e-03", "Shirt", "(-1.1)", "FAILED"]
    assert lines[3].split() == ["model_int8.tflite", "175,123", "-", "0.9356", "-0.10", "0.9969", "-", "8.80e-02",
                                "1.20e-03", "ok"]


@pytest.mark.parametrize("k, n", [(999, 1000), (300, 300), (0, 50), (37, 40), (1, 1)])
def test_wilson_lower_bound_matches_scipy(k, n):
    from scipy.stats import binomtest

    assert parity.wilson_lower(k, n) == pytest.approx(binomtest(k, n).proportion_ci(method="wilson").low, abs=1e-6)


def test_reservoir_keeps_each_value_with_probability_size_over_count():
    """Algorithm R's invariant: after n values each one is in a reservoir of k with probability k/n."""
    kept_second = [Reservoir(size=1, seed=s) for s in range(3000)]
    for r in kept_second:
        r.add(0.0)
        r.add(1.0)
    assert abs(np.mean([r.values[0] for r in kept_second]) - 0.5) < 0.04  # 1/2, not 1/3 or 0
    first = Reservoir(size=10, seed=1)
    for v in [0.0] + [1.0] * 20_000:
        first.add(v)
    assert 0.0 not in first.values  # every slot can be replaced, the first too
    a, b = Reservoir(size=5, seed=7), Reservoir(size=5, seed=7)
    for v in range(100):
        a.add(v)
        b.add(v)
    assert a.values.tolist() == b.values.tolist()  # the same seed, the same sample
    assert len(Reservoir().values) == 10_000  # the documented default


def test_reservoir_edges():
    r = Reservoir(size=3)
    assert r.percentiles() == {"p50": 0.0, "p95": 0.0, "p99": 0.0} and r.mean == 0.0
    for v in (4.0, 1.0, 2.0):
        r.add(v)
    assert r.percentiles((0, 50, 100)) == {"p0": 1.0, "p50": 2.0, "p100": 4.0}  # exact while within capacity
    assert r.count == 3 and r.total == 7.0
