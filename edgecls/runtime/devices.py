"""Where a model runs: ``--device auto|cpu|gpu`` as backends see it, and what this machine offers.

``auto`` takes the best the installed runtime offers (ONNX Runtime: TensorRT, CUDA, ROCm,
DirectML or CoreML before the CPU; LiteRT: XNNPACK on the CPU), ``cpu`` keeps to the CPU and
``gpu`` insists, refusing in one line where no GPU provider is there. ONNX Runtime comes from
exactly one of edgecls' extras, ``cpu`` (onnxruntime) or ``gpu`` (onnxruntime-gpu): both ship
the module ``onnxruntime`` and overwrite each other's files, as the four OpenCV packages do
with ``cv2``; :func:`owners` tells which are installed.
"""

from __future__ import annotations

import importlib.metadata
import platform
import sys

from edgecls.errors import EdgeclsError

CHOICES = ("auto", "cpu", "gpu")
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "ROCMExecutionProvider",
                 "MIGraphXExecutionProvider", "DmlExecutionProvider", "CoreMLExecutionProvider")
OWNERS = {  # module -> the PyPI packages that ship it
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu", "onnxruntime-directml", "onnxruntime-openvino",
                    "onnxruntime-qnn", "onnxruntime-rocm"),
    "cv2": ("opencv-python", "opencv-python-headless", "opencv-contrib-python", "opencv-contrib-python-headless"),
}
INSTALL_HINT = "pip install 'edgecls[cpu]' (or 'edgecls[gpu]' for an NVIDIA GPU)"


def onnxruntime():
    """The ``onnxruntime`` module, or one line saying which extra installs it."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EdgeclsError(f"ONNX Runtime is not installed: {INSTALL_HINT}") from exc
    return ort


def onnx_providers(device: str = "auto", requested: list[str] | None = None) -> list[str]:
    """ONNX Runtime providers for ``device``, best first; ``requested`` (``--provider``) overrides.

    The CPU provider always ends the list, so a provider that fails at session start
    falls back to it; :func:`check_gpu` then says whether ``gpu`` was honoured.
    """
    available = onnxruntime().get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise EdgeclsError(f"ONNX Runtime provider(s) {', '.join(missing)} not available "
                               f"(available: {', '.join(available)})")
        return list(requested)
    gpus = [p for p in GPU_PROVIDERS if p in available]
    if device == "gpu" and not gpus:
        raise EdgeclsError(f"--device gpu: ONNX Runtime has no GPU provider here (available: "
                           f"{', '.join(available)}); for an NVIDIA GPU: pip install 'edgecls[gpu]'")
    return (gpus if device != "cpu" else []) + ["CPUExecutionProvider"]


def check_gpu(device: str, used: list[str], path: str) -> None:
    """Refuse a session that asked for ``gpu`` but started on the CPU alone (no driver, no device)."""
    if device == "gpu" and not any(p in GPU_PROVIDERS for p in used):
        raise EdgeclsError(f"--device gpu: {path} could not start on a GPU (ONNX Runtime fell back to "
                           f"{', '.join(used)}; is the NVIDIA driver installed?)")


def tflite_device(device: str, path: str) -> str:
    """What a .tflite runs on: LiteRT's XNNPACK on the CPU; ``gpu`` is refused in one line."""
    if device == "gpu":
        raise EdgeclsError(f"--device gpu: edgecls runs .tflite models on the CPU (LiteRT XNNPACK), "
                           f"not {path}; on a GPU run the .onnx with edgecls[gpu]")
    return "CPU (XNNPACK)"


def owners() -> dict[str, list[str]]:
    """For each shared module, the installed packages that ship it (more than one breaks it)."""
    found: dict[str, list[str]] = {}
    for module, packages in OWNERS.items():
        found[module] = [name for name in packages if _version(name)]
    return found


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def info() -> dict:
    """What this machine offers edgecls: Python, OpenCV, LiteRT, ONNX Runtime and its providers.

    Reads package metadata and asks ONNX Runtime for its providers; never imports TensorFlow.
    """
    from edgecls.runtime import window

    found = owners()
    result = {"python": platform.python_version(), "platform": f"{sys.platform} {platform.machine()}",
              "packages": {name: _version(name) for names in found.values() for name in names},
              "owners": found, "window": window.available(),
              "litert": {"version": _version("ai-edge-litert"), "accelerators": ["CPU (XNNPACK)"]},
              "onnxruntime": None,
              "training": {name: _version(name) for name in ("tensorflow", "keras", "jax") if _version(name)}}
    try:
        ort = onnxruntime()
        result["onnxruntime"] = {"version": ort.__version__, "providers": ort.get_available_providers()}
    except EdgeclsError as exc:
        result["onnxruntime"] = {"error": str(exc)}
    return result


def problems(found: dict[str, list[str]]) -> list[str]:
    """One line per module that more than one installed package ships.

    >>> problems({"cv2": ["opencv-python", "opencv-python-headless"], "onnxruntime": ["onnxruntime"]})
    ['cv2 is shipped by opencv-python and opencv-python-headless: pip uninstall them all, then install one']
    """
    return [f"{module} is shipped by {' and '.join(names)}: pip uninstall them all, then install one"
            for module, names in found.items() if len(names) > 1]


def format_info(facts: dict) -> str:
    """``edgecls info``'s text: one fact a line, and where ``--device auto`` puts each format."""
    ort = facts["onnxruntime"]
    packages = facts["packages"]
    cv2_owner = ", ".join(f"{name} {packages[name]}" for name in facts["owners"]["cv2"]) or "not installed"
    lines = [f"Python {facts['python']} on {facts['platform']}",
             f"OpenCV: {cv2_owner}",
             f"window: {'Tk, display found' if facts['window'] else 'none (no display or no tkinter): run headless'}",
             f"LiteRT {facts['litert']['version']}: {', '.join(facts['litert']['accelerators'])}"]
    if "error" in ort:
        lines.append(f"ONNX Runtime: {ort['error']}")
        auto_onnx = "not runnable"
    else:
        owner = ", ".join(facts["owners"]["onnxruntime"])
        lines.append(f"ONNX Runtime {ort['version']} ({owner}): {', '.join(ort['providers'])}")
        auto_onnx = " > ".join([p for p in GPU_PROVIDERS if p in ort["providers"]] + ["CPUExecutionProvider"])
    lines.append(f"--device auto: .tflite on CPU (XNNPACK), .onnx on the first of {auto_onnx} that starts "
                 f"(`edgecls run` prints which)")
    training = facts["training"]
    lines.append("training: " + (", ".join(f"{k} {v}" for k, v in training.items()) if training
                                 else "not installed (pip install 'edgecls[cpu,train]')"))
    return "\n".join(lines + problems(facts["owners"]))
