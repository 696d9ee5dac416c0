"""The lightweight runtime: numpy, OpenCV, LiteRT and ONNX Runtime only, never TensorFlow.

Example::

    from edgecls.runtime import Classifier
    clf = Classifier("runs/mini/export/model_int8.tflite")
    print(clf.classify(cv2.imread("shoe.png"), top_k=3))
"""

from edgecls.runtime.classifier import Classifier
from edgecls.runtime.metadata import read_metadata

__all__ = ["Classifier", "read_metadata"]
