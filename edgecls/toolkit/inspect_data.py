"""``edgecls inspect``: look at a dataset before training on it.

Writes a grid of samples per class, the class counts, 2-D PCA and t-SNE views of a
stratified sample of the images (shrunk to 32x32 when larger) coloured by class and, for
image folders, a histogram of the files' own sizes, before resizing to the model input.

Example::

    from edgecls.toolkit.data import load_dataset
    from edgecls.toolkit.inspect_data import inspect_dataset
    info = inspect_dataset(load_dataset("fashion-mnist-mini"), "runs/inspect")
    print(info["pca_explained_variance_ratio"])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecls import fileio
from edgecls.toolkit.data import Dataset, stratified_sample
from edgecls.toolkit.plots import plot_embedding, plot_image_sizes, plot_samples


def pca(x: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``x`` on their top principal components; return (points, explained ratio)."""
    x = x.astype(np.float64)
    x -= x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    variance = s**2
    return x @ vt[:components].T, variance[:components] / variance.sum()


def inspect_dataset(ds: Dataset, out: str | Path, *, sample: int = 2000, tsne: bool = True, seed: int = 0) -> dict:
    """Write ``samples.png``, ``pca.png``, ``tsne.png``, ``inspect.json`` (and ``image_sizes.png``, and
    ``skipped.txt`` when files could not be read) to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {split: np.bincount(ds.subset(split)[1], minlength=ds.num_classes).tolist()
              for split in ("train", "val", "test")}
    plot_samples(ds.x_train, ds.y_train, ds.class_names, out / "samples.png", seed=seed)
    idx = stratified_sample(ds.y_train, sample, seed)
    flat = _thumbnails(ds.x_train[idx]).reshape(len(idx), -1)
    labels = ds.y_train[idx]
    points, ratio = pca(flat)
    plot_embedding(points, labels, ds.class_names, out / "pca.png",
                   title=f"PCA of {len(idx)} images (explained variance {ratio[0]:.1%}, {ratio[1]:.1%})")
    info = {"dataset": ds.name, "classes": ds.class_names, "image_shape": ds.image_shape,
            "counts": {split: dict(zip(ds.class_names, c)) for split, c in counts.items()},
            "pca_explained_variance_ratio": [float(r) for r in ratio], "sample": int(len(idx))}
    if ds.source_sizes is not None and len(ds.source_sizes):
        plot_image_sizes(ds.source_sizes, out / "image_sizes.png")
        info["source_sizes"] = size_summary(ds.source_sizes)
    if tsne:
        from sklearn.manifold import TSNE

        embedded = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(
            points_for_tsne(flat))
        plot_embedding(embedded, labels, ds.class_names, out / "tsne.png", title=f"t-SNE of {len(idx)} images")
    if ds.skipped:
        fileio.write_text(out / "skipped.txt", "\n".join(ds.skipped) + "\n")
    fileio.write_json(out / "inspect.json", info)
    return info


def _thumbnails(x: np.ndarray, side: int = 32) -> np.ndarray:
    """Images larger than ``side`` x ``side`` shrunk to it: PCA of 224x224 photos needs no more."""
    if x.shape[1] * x.shape[2] <= side * side:
        return x
    import cv2

    return np.stack([cv2.resize(img, (side, side), interpolation=cv2.INTER_AREA).reshape(side, side, -1)
                     for img in x])


def points_for_tsne(flat: np.ndarray, dims: int = 50) -> np.ndarray:
    """t-SNE on the top 50 principal components: the usual, much faster, recipe."""
    return pca(flat, components=min(dims, flat.shape[1], len(flat)))[0].astype(np.float32)


def size_summary(sizes: np.ndarray, top: int = 5) -> dict:
    """Min, median and max (height, width) of the files and the most common sizes.

    >>> size_summary(np.array([[480, 640], [480, 640], [100, 50]]))["most_common"]
    [{'height': 480, 'width': 640, 'files': 2}, {'height': 100, 'width': 50, 'files': 1}]
    """
    shapes, counts = np.unique(sizes, axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]
    return {"files": int(len(sizes)), "distinct": int(len(shapes)),
            "min": sizes.min(axis=0).tolist(), "median": np.median(sizes, axis=0).tolist(),
            "max": sizes.max(axis=0).tolist(),
            "most_common": [{"height": int(shapes[i][0]), "width": int(shapes[i][1]), "files": int(counts[i])}
                            for i in order]}
