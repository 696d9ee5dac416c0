"""The lightweight runtime: numpy, OpenCV, LiteRT and ONNX Runtime only, never TensorFlow.

Example::

    from edgecls.runtime import Classifier
    clf = Classifier("runs/mini/export/model_int8.tflite")
    print(clf.classify(cv2.imread("shoe.png"), top_k=3))

``Classifier`` and ``read_metadata`` are loaded on first use, so importing a light module of the
runtime (``edgecls.runtime.devices``) does not import OpenCV: its pixel limit is fixed when it is
imported (see :func:`edgecls.limits.set_max_pixels`).
"""

__all__ = ["Classifier", "read_metadata"]


def __getattr__(name: str):
    if name == "Classifier":
        from edgecls.runtime.classifier import Classifier

        return Classifier
    if name == "read_metadata":
        from edgecls.runtime.metadata import read_metadata

        return read_metadata
    raise AttributeError(f"module 'edgecls.runtime' has no attribute {name!r}")
