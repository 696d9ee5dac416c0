"""``edgecls inspect``: look at a dataset before training on it.

Writes a grid of samples per class, the class counts, and 2-D PCA and t-SNE views of a
stratified sample of the images, coloured by class.

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
from edgecls.toolkit.plots import plot_embedding, plot_samples


def pca(x: np.ndarray, components: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Project rows of ``x`` on their top principal components; return (points, explained ratio)."""
    x = x.astype(np.float64)
    x -= x.mean(axis=0)
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    variance = s**2
    return x @ vt[:components].T, variance[:components] / variance.sum()


def inspect_dataset(ds: Dataset, out: str | Path, *, sample: int = 2000, tsne: bool = True, seed: int = 0) -> dict:
    """Write ``samples.png``, ``pca.png``, ``tsne.png`` and ``inspect.json`` to ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    counts = {split: np.bincount(ds.subset(split)[1], minlength=ds.num_classes).tolist()
              for split in ("train", "val", "test")}
    plot_samples(ds.x_train, ds.y_train, ds.class_names, out / "samples.png", seed=seed)
    idx = stratified_sample(ds.y_train, sample, seed)
    flat = ds.x_train[idx].reshape(len(idx), -1)
    labels = ds.y_train[idx]
    points, ratio = pca(flat)
    plot_embedding(points, labels, ds.class_names, out / "pca.png",
                   title=f"PCA of {len(idx)} images (explained variance {ratio[0]:.1%}, {ratio[1]:.1%})")
    info = {"dataset": ds.name, "classes": ds.class_names, "image_shape": ds.image_shape,
            "counts": {split: dict(zip(ds.class_names, c)) for split, c in counts.items()},
            "pca_explained_variance_ratio": [float(r) for r in ratio], "sample": int(len(idx))}
    if tsne:
        from sklearn.manifold import TSNE

        embedded = TSNE(n_components=2, init="pca", random_state=seed, perplexity=30).fit_transform(
            points_for_tsne(flat))
        plot_embedding(embedded, labels, ds.class_names, out / "tsne.png", title=f"t-SNE of {len(idx)} images")
    fileio.write_json(out / "inspect.json", info)
    return info


def points_for_tsne(flat: np.ndarray, dims: int = 50) -> np.ndarray:
    """t-SNE on the top 50 principal components: the usual, much faster, recipe."""
    return pca(flat, components=min(dims, flat.shape[1], len(flat)))[0].astype(np.float32)
