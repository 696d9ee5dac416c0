"""edgecls: train image classifiers with Keras, export them to TFLite and ONNX, verify
the exports against the original, and run them on camera frames without TensorFlow.

The package is split by weight so a device only installs what it runs:

- :mod:`edgecls.runtime` - numpy, OpenCV, LiteRT and ONNX Runtime only.
- :mod:`edgecls.toolkit` - datasets, models, training and reports (needs Keras).
- :mod:`edgecls.export` - TFLite/ONNX conversion, quantization and parity (needs TensorFlow).
"""

__version__ = "0.1.0"
