"""Which Keras backend and devices training runs on, for the start-of-training banner."""

from __future__ import annotations

import platform


def devices() -> list[str]:
    """Accelerators Keras' backend sees (e.g. ``["gpu:0"]``), or ``["cpu"]``."""
    import keras

    name = keras.backend.backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            found = [d.name.replace("/physical_device:", "").lower() for d in tf.config.list_physical_devices("GPU")]
        elif name == "jax":
            import jax

            found = [f"{d.platform}:{d.id}" for d in jax.devices() if d.platform != "cpu"]
        elif name == "torch":
            import torch

            found = [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        else:
            found = []
    except Exception:  # a broken GPU driver must not stop CPU training
        found = []
    return found or ["cpu"]


def versions() -> dict[str, str]:
    """Versions that decide whether a run reproduces."""
    import keras
    import numpy

    from edgecls import __version__

    out = {"edgecls": __version__, "python": platform.python_version(), "keras": keras.__version__,
           "numpy": numpy.__version__, "backend": keras.backend.backend()}
    backend_module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(out["backend"])
    if backend_module:
        out[backend_module] = __import__(backend_module).__version__
    return out


def banner(batch_size: int, precision: str) -> str:
    """One line: backend, devices, precision, batch size."""
    v = versions()
    backend = v["backend"]
    return (f"backend {backend} {v.get(backend, '')} (keras {v['keras']}) | devices {', '.join(devices())} "
            f"| precision {precision} | batch {batch_size}")
