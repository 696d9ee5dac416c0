"""Data-parallel training on Keras' and TensorFlow's own engines (``--distribute``).

- TensorFlow backend: ``tf.distribute.MirroredStrategy`` over the local GPUs (or logical
  CPUs), ``MultiWorkerMirroredStrategy`` when ``TF_CONFIG`` describes a cluster.
- JAX backend: ``keras.distribution.DataParallel`` over every device, after
  ``keras.distribution.initialize()`` when ``KERAS_DISTRIBUTION_JOB_ADDRESSES``,
  ``KERAS_DISTRIBUTION_NUM_PROCESSES`` and ``KERAS_DISTRIBUTION_PROCESS_ID`` are set.

The batch size is global: each of N replicas gets batch/N images per step. Only the
chief (worker 0) writes the run directory.

Without accelerators, ``EDGECLS_VIRTUAL_CPUS=2`` splits the CPU into two devices (JAX:
``--xla_force_host_platform_device_count``; TensorFlow: two logical CPU devices), which
is how data parallelism is tested on a CPU-only machine.

Example::

    replicas = setup("auto")          # before the model is built
    with replicas.scope():
        model = build_model(...)
        model.compile(...)
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field

from edgecls.errors import EdgeclsError

MODES = ("auto", "none", "data-parallel")
JAX_CLUSTER_VARS = ("KERAS_DISTRIBUTION_JOB_ADDRESSES", "KERAS_DISTRIBUTION_NUM_PROCESSES",
                    "KERAS_DISTRIBUTION_PROCESS_ID")


@dataclass
class Replicas:
    """How training is spread: the devices, the TF strategy if any, and whether this process is chief."""

    mode: str = "none"
    devices: list[str] = field(default_factory=list)
    strategy: object | None = None
    is_chief: bool = True

    @property
    def count(self) -> int:
        return max(1, len(self.devices)) if self.mode == "data-parallel" else 1

    def scope(self):
        """Where models are built, loaded and compiled (a TF strategy scope, else nothing)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def describe(self) -> str:
        if self.mode == "none":
            return "single device"
        return f"data-parallel over {self.count} replicas ({', '.join(self.devices)})"


def virtual_cpus() -> int:
    """``EDGECLS_VIRTUAL_CPUS`` as an int (0 when unset)."""
    value = os.environ.get("EDGECLS_VIRTUAL_CPUS", "")
    if not value:
        return 0
    if not value.isdigit() or int(value) < 1:
        raise EdgeclsError(f"EDGECLS_VIRTUAL_CPUS must be a positive integer, got {value!r}")
    return int(value)


def prepare_environment() -> None:
    """Before Keras is imported: ask XLA for the virtual CPU devices JAX should see."""
    n = virtual_cpus()
    flag = "--xla_force_host_platform_device_count"
    if n > 1 and flag not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}={n}".strip()


def _tf_chief() -> bool:
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task.get("type") == "chief" or (not has_chief and task.get("type") == "worker" and task.get("index") == 0)


def _parallel(mode: str, devices: list) -> bool:
    """Whether to train data-parallel over ``devices``; ``data-parallel`` with one device is an error."""
    if mode != "none" and len(devices) >= 2:
        return True
    if mode == "data-parallel":
        raise EdgeclsError("--distribute data-parallel needs 2 or more devices; this machine has "
                           f"{len(devices)} (set EDGECLS_VIRTUAL_CPUS=2 to split the CPU)")
    return False


def _tensorflow(mode: str) -> Replicas:
    import tensorflow as tf

    n = virtual_cpus()
    if n > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        with contextlib.suppress(RuntimeError):  # already set in this process
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
    if os.environ.get("TF_CONFIG") and mode != "none":
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        return Replicas("data-parallel", [f"replica {i}" for i in range(strategy.num_replicas_in_sync)],
                        strategy, _tf_chief())
    devices = [d.name for d in tf.config.list_logical_devices("GPU")]
    if len(devices) < 2:
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if not _parallel(mode, devices):
        return Replicas("none", devices[:1])
    return Replicas("data-parallel", devices, tf.distribute.MirroredStrategy(devices=devices))


def _jax(mode: str) -> Replicas:
    import jax
    import keras

    if mode != "none" and all(os.environ.get(v) for v in JAX_CLUSTER_VARS):
        keras.distribution.initialize()
    devices = keras.distribution.list_devices()
    if not _parallel(mode, devices):
        return Replicas("none", devices[:1])
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return Replicas("data-parallel", list(devices), None, jax.process_index() == 0)


def setup(mode: str = "auto") -> Replicas:
    """Choose and install the distribution; call before any model is built or loaded."""
    import keras

    if mode not in MODES:
        raise EdgeclsError(f"--distribute must be one of {', '.join(MODES)}, got {mode!r}")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return _tensorflow(mode)
    if backend == "jax":
        return _jax(mode)
    if mode == "data-parallel":
        raise EdgeclsError(f"--distribute data-parallel supports the tensorflow and jax backends, not {backend}")
    return Replicas("none")


def teardown(replicas: Replicas) -> None:
    """Back to single-device execution (for the final evaluation and saving)."""
    if replicas.mode == "data-parallel" and replicas.strategy is None:
        import keras

        keras.distribution.set_distribution(None)
