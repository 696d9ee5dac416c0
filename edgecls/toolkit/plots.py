"""The PNG reports a notebook user would draw by hand (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path, tight: bool = True) -> Path:
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110, bbox_inches="tight" if tight else None)
    os.replace(tmp, path)
    _plt().close(fig)
    return path


def plot_history(history: dict[str, list[float]], path: Path) -> Path:
    """Loss and accuracy per epoch, train beside validation."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    epochs = np.arange(1, len(history.get("loss", [])) + 1)
    for ax, key in zip(axes, ("loss", "accuracy")):
        for prefix, style in (("", "-o"), ("val_", "-s")):
            if history.get(prefix + key):
                ax.plot(epochs, history[prefix + key], style, ms=3,
                        label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def plot_reliability(before: np.ndarray, after: np.ndarray, labels: np.ndarray, path: Path,
                     temperature: float) -> Path:
    """A reliability diagram: accuracy against confidence per bin, before and after the temperature."""
    from edgecls.runtime.confidence import ece, reliability

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], "k:", label="perfectly calibrated")
    for probs, style, name in ((before, "-o", "as trained"), (after, "-s", f"temperature {temperature:.2f}")):
        bins = [b for b in reliability(probs, labels) if b["count"]]
        ax.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], style, ms=4,
                label=f"{name}: ECE {ece(probs, labels):.3f}")
    ax.set_xlabel("confidence (top probability)")
    ax.set_ylabel("accuracy")
    ax.set_title("reliability on the test split")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left")
    return _save(fig, path)


def plot_confusion(cm: np.ndarray, class_names: list[str], path: Path, title: str = "") -> Path:
    """Heatmap of the confusion matrix with the counts written in each cell."""
    plt = _plt()
    cm = np.asarray(cm)
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.6 * n))
    ax.imshow(cm, cmap="Blues")
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title or "confusion matrix")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")
    return _save(fig, path)


def plot_grid(images, titles, path: Path, cols: int = 8, title: str = "") -> Path:
    """Images in a grid, each with its title (e.g. ``true→pred``).

    One montage in one axes (a figure of 80 small axes took seconds to lay out and save).
    """
    plt = _plt()
    cells = montage(images, cols)
    rows = max(1, (len(images) + cols - 1) // cols)
    fig = plt.figure(figsize=(1.6 * cols, 1.8 * rows + (0.4 if title else 0)))
    ax = fig.add_axes((0, 0, 1, 1 - (0.4 / (1.8 * rows + 0.4) if title else 0)))
    ax.imshow(cells, interpolation="nearest")
    ax.axis("off")
    if len(images):
        h, w = np.asarray(images[0]).shape[:2]
        band, pad = _grid_band(h), _grid_pad(w)
        for k, text in enumerate(titles):
            row, col = divmod(k, cols)
            ax.text(col * (w + pad) + pad / 2 + w / 2, row * (h + band) + band * 0.55, text,
                    ha="center", va="center", fontsize=7)
    if title:
        fig.suptitle(title, y=0.995, va="top")
    return _save(fig, path, tight=False)


def _grid_band(h: int) -> int:
    return max(4, round(h * 0.3))  # room for a title above each image


def _grid_pad(w: int) -> int:
    return max(2, round(w * 0.12))


def montage(images, cols: int) -> np.ndarray:
    """Equal-sized uint8 images (H, W, 1 or 3) laid out ``cols`` wide on white, a title band above each.

    >>> montage(np.zeros((3, 4, 5, 1), np.uint8), cols=2).shape   # 2 rows of (4 + 4 band), 2 x (5 + 2 pad)
    (16, 14, 3)
    """
    images = np.asarray(images)
    if images.size == 0:
        return np.full((1, 1, 3), 255, np.uint8)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    n, h, w = images.shape[:3]
    band, pad = _grid_band(h), _grid_pad(w)
    rows = (n + cols - 1) // cols
    canvas = np.full((rows * (h + band), cols * (w + pad), 3), 255, np.uint8)
    for k, image in enumerate(images):
        row, col = divmod(k, cols)
        top, left = row * (h + band) + band, col * (w + pad) + pad // 2
        canvas[top : top + h, left : left + w] = image
    return canvas


def plot_misclassified(x, y_true, probs, class_names, path: Path, limit: int = 32) -> Path:
    """The most confidently wrong test images, titled ``true→pred (score)``."""
    pred = probs.argmax(axis=1)
    wrong = np.flatnonzero(pred != y_true)
    wrong = wrong[np.argsort(-probs[wrong, pred[wrong]])][:limit]
    titles = [f"{class_names[y_true[i]]}→{class_names[pred[i]]} ({probs[i, pred[i]]:.2f})" for i in wrong]
    return plot_grid(x[wrong], titles, path, title=f"{len(np.flatnonzero(pred != y_true))} misclassified")


def plot_samples(x, y, class_names, path: Path, per_class: int = 8, seed: int = 0) -> Path:
    """``per_class`` random images of every class, one row per class."""
    rng = np.random.default_rng(seed)
    images, titles = [], []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(y == c)
        pick = rng.choice(idx, size=min(per_class, len(idx)), replace=False) if len(idx) else []
        for k in range(per_class):
            if k < len(pick):
                images.append(x[pick[k]])
                titles.append(name if k == 0 else "")
            else:
                images.append(np.zeros_like(x[0]))
                titles.append("")
    return plot_grid(images, titles, path, cols=per_class)


def plot_embedding(points, y, class_names, path: Path, title: str) -> Path:
    """2-D scatter coloured by class (PCA or t-SNE)."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 6))
    cmap = plt.get_cmap("tab10" if len(class_names) <= 10 else "tab20")
    for c, name in enumerate(class_names):
        sel = y == c
        ax.scatter(points[sel, 0], points[sel, 1], s=4, color=cmap(c % cmap.N), label=name)
    ax.legend(markerscale=3, fontsize=7, loc="best")
    ax.set_title(title)
    return _save(fig, path)


def plot_image_sizes(sizes: np.ndarray, path: Path) -> Path:
    """Histograms of the source files' widths and heights (folder datasets)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for ax, values, name in zip(axes, (sizes[:, 1], sizes[:, 0]), ("width", "height")):
        ax.hist(values, bins=min(40, max(1, len(np.unique(values)))), color="tab:blue")
        ax.set_xlabel(f"{name} (pixels)")
        ax.set_ylabel("files")
    fig.suptitle(f"source image sizes of {len(sizes)} files")
    return _save(fig, path)
