"""Transfer learning backbones from ``keras.applications``, wrapped for edgecls.

Each wrapped model still takes raw uint8 RGB pixels: the backbone's own preprocessing
(scaling to [-1, 1], Caffe-style BGR with mean subtraction, or EfficientNet's own
normalisation) is one frozen 1x1 convolution inside the model, which int8 quantizes with a
single rounding, so every export keeps the uint8-in contract and all 256 input levels.

Example::

    model, backbone = build_application("mobilenet_v2", (224, 224, 3), 2, weights="none")
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgecls.errors import EdgeclsError, first_line
from edgecls.toolkit.contract import affine_input

# name -> (keras.applications attribute, preprocessing: "tf" [-1, 1], "caffe" BGR - mean, or
# "builtin": Keras' own Rescaling/Normalization layers, cut off the backbone and folded into ours)
APPLICATIONS = {
    "mobilenet_v2": ("MobileNetV2", "tf"),
    "mobilenet_v3_small": ("MobileNetV3Small", "tf"),
    "mobilenet_v3_large": ("MobileNetV3Large", "tf"),
    "efficientnet_b0": ("EfficientNetB0", "builtin"),
    "vgg16": ("VGG16", "caffe"),
    "resnet50": ("ResNet50", "caffe"),
}
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# EfficientNet's ImageNet weights store the standard deviations as the Normalization layer's variance, and
# Keras adds Rescaling(1 / sqrt(stddev)) after it, but only for weights="imagenet": the same weights from a
# file (how one trains offline) would see half their training scale. Folded in for a file too.
IMAGENET_STEM = 1.0 / np.sqrt(np.array([0.229, 0.224, 0.225], np.float32))


def _weights(name: str, weights: str):
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        return "imagenet"
    if not Path(weights).is_file():
        raise EdgeclsError(f"--weights: no such file {weights} (use imagenet, none or a weights file)")
    return str(weights)


def _scaling(mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(kernel, bias) of the per-channel map from raw RGB pixels to what a backbone expects."""
    if mode == "tf":  # [0, 255] -> [-1, 1]
        return np.eye(3, dtype=np.float32) / 127.5, -np.ones(3, np.float32)
    # caffe: RGB -> BGR, minus the ImageNet mean
    return np.eye(3, dtype=np.float32)[::-1].copy(), -np.array(CAFFE_MEAN_BGR, np.float32)


def _split_builtin_scaling(keras, backbone):
    """Cut the leading Rescaling/Normalization layers off a backbone that scales its own input.

    Returns the rest of the backbone and the (kernel, bias) of the same per-channel affine
    map, read off by running the cut layers on an all-zero and an all-one image.
    """
    scaling = (keras.layers.Rescaling, keras.layers.Normalization)
    first = next(layer for layer in backbone.layers[1:] if not isinstance(layer, scaling))
    for layer in backbone.layers[1 : backbone.layers.index(first)]:
        layer.dtype_policy = "float32"  # exact under a mixed-precision policy too; these layers are dropped
    head = keras.Model(backbone.input, first.input)
    shape = (1, *backbone.input_shape[1:])
    zero = np.asarray(head(np.zeros(shape, np.float32)))[0, 0, 0]
    one = np.asarray(head(np.ones(shape, np.float32)))[0, 0, 0]
    body = keras.Model(first.input, backbone.output, name=backbone.name)
    return body, np.diag(one - zero).astype(np.float32), zero.astype(np.float32)


def _preprocess(keras, x, kernel: np.ndarray, bias: np.ndarray):
    """The backbone's input scaling as a cast plus one frozen 1x1 convolution (see :func:`affine_input`)."""
    return affine_input(keras, x, kernel.reshape(3, 3), bias, name="backbone_preprocess")


def build_application(name: str, input_shape, num_classes: int, weights: str = "none", dropout: float = 0.2):
    """Backbone (global-average pooled) + dropout + softmax head; return (model, backbone)."""
    import keras

    from edgecls.toolkit.heads import softmax_head

    attr, mode = APPLICATIONS[name]
    if input_shape[-1] != 3:
        raise EdgeclsError(f"{name} needs RGB input: train with --channels 3")
    kwargs = {"include_preprocessing": False} if name.startswith("mobilenet_v3") else {}
    try:
        backbone = getattr(keras.applications, attr)(include_top=False, weights=_weights(name, weights),
                                                     input_shape=tuple(input_shape), pooling="avg", **kwargs)
    except EdgeclsError:
        raise
    except Exception as exc:
        if weights == "imagenet":
            raise EdgeclsError(
                f"cannot get ImageNet weights for {name} ({type(exc).__name__}: {first_line(exc, 120)}); "
                f"offline, download Keras' {attr} no-top weights file once and put it in ~/.keras/models/, "
                f"or pass --weights PATH, or --weights none") from exc
        raise EdgeclsError(f"cannot build {name} for input {tuple(input_shape)}: {first_line(exc, 160)}") from exc
    if weights in ("none", "", None):  # from scratch: BN statistics must follow within a short run
        for layer in backbone.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.momentum = 0.9
    if mode == "builtin":
        backbone, kernel, bias = _split_builtin_scaling(keras, backbone)
        if _weights(name, weights) not in (None, "imagenet"):  # see IMAGENET_STEM
            kernel, bias = kernel * IMAGENET_STEM, bias * IMAGENET_STEM
    else:
        kernel, bias = _scaling(mode)
    inputs = keras.Input(shape=tuple(input_shape), dtype="uint8", name="pixels")
    x = _preprocess(keras, inputs, kernel, bias)
    x = backbone(x)
    x = keras.layers.Dropout(dropout)(x)
    outputs = softmax_head(keras, x, num_classes)
    return keras.Model(inputs, outputs, name=f"{name}_classifier"), backbone
