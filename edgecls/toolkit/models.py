"""Named model architectures. Each takes raw uint8 pixels and returns class probabilities.

Every model is a plain Keras 3 functional model, backend-agnostic (no ``tf.*`` inside),
built only from layers that convert to full-integer TFLite. Scaling to [0, 1] is the
first layer, so every exported artifact has the same contract: uint8 HxWxC in,
probabilities out.

Example::

    from edgecls.toolkit.models import build_model, count_macs
    model = build_model("edge-cnn", input_shape=(28, 28, 1), num_classes=10)
    print(count_macs(model))   # multiply-adds per image
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from edgecls.errors import EdgeclsError
from edgecls.toolkit.heads import softmax_head


@dataclass(frozen=True)
class ModelSpec:
    name: str
    summary: str
    build: Callable  # (keras, input_shape, num_classes) -> keras.Model


def _inputs(keras, input_shape):
    inputs = keras.Input(shape=input_shape, dtype="uint8", name="pixels")
    return inputs, keras.layers.Rescaling(1.0 / 255, name="scale")(inputs)


def _mlp(keras, input_shape, num_classes):
    """The Keras MNIST MLP: 2 x Dense(512) with Dropout."""
    L = keras.layers
    inputs, x = _inputs(keras, input_shape)
    x = L.Flatten()(x)
    for _ in range(2):
        x = L.Dense(512, activation="relu")(x)
        x = L.Dropout(0.2)(x)
    outputs = softmax_head(keras, x, num_classes)
    return keras.Model(inputs, outputs, name="mlp")


def _cnn_cifar(keras, input_shape, num_classes):
    """The classic Keras CIFAR-10 CNN: 2 x (Conv-Conv-Pool-Dropout) + Dense(512)."""
    L = keras.layers
    inputs, x = _inputs(keras, input_shape)
    for filters in (32, 64):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = L.Conv2D(filters, 3, activation="relu")(x)
        x = L.MaxPooling2D()(x)
        x = L.Dropout(0.25)(x)
    x = L.Flatten()(x)
    x = L.Dense(512, activation="relu")(x)
    x = L.Dropout(0.5)(x)
    outputs = softmax_head(keras, x, num_classes)
    return keras.Model(inputs, outputs, name="cnn_cifar")


def _cnn4(keras, input_shape, num_classes):
    """The Fashion-MNIST tutorial CNN: 4 conv + BatchNorm + Dropout, two dense layers."""
    L = keras.layers
    inputs, x = _inputs(keras, input_shape)
    for filters in (32, 64):
        for _ in range(2):
            x = L.Conv2D(filters, 3, activation="relu")(x)
            x = L.BatchNormalization(momentum=0.9)(x)
        x = L.MaxPooling2D()(x)
        x = L.Dropout(0.25)(x)
    x = L.Flatten()(x)
    for units in (512, 128):
        x = L.Dense(units, activation="relu")(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        x = L.Dropout(0.5)(x)
    outputs = softmax_head(keras, x, num_classes)
    return keras.Model(inputs, outputs, name="cnn4")


def _edge_cnn(keras, input_shape, num_classes):
    """Default: a small all-3x3 CNN built for CPU training speed and int8 fidelity.

    Conv-BN-ReLU6 stages at 28, 14 and 7 pixels (32, 48, 96, 96 filters), a 1x1 widening
    to 192, global average pooling and one dense layer: 9.94M MACs at 28x28. Plain 3x3
    convs are the kernels CPUs run fastest (about 2x the images per second of a
    depthwise-separable net of the same MACs when training), BN folds into them on export,
    and ReLU6 bounds every activation, so each int8 step is fine and the quantized model
    tracks the float one closely. Few channels with many weights each also keep the
    per-channel quantization parameters small next to the weights.
    """
    L = keras.layers
    inputs, x = _inputs(keras, input_shape)

    def conv_bn(x, filters, kernel=3):
        x = L.Conv2D(filters, kernel, padding="same", use_bias=False)(x)
        x = L.BatchNormalization(momentum=0.9)(x)
        return L.ReLU(max_value=6.0)(x)

    x = conv_bn(x, 32)
    x = L.MaxPooling2D()(x)
    x = conv_bn(x, 48)
    x = L.MaxPooling2D()(x)
    x = conv_bn(x, 96)
    x = conv_bn(x, 96)
    x = conv_bn(x, 192, kernel=1)
    x = L.GlobalAveragePooling2D()(x)
    x = L.Dropout(0.3)(x)
    outputs = softmax_head(keras, x, num_classes)
    return keras.Model(inputs, outputs, name="edge_cnn")


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("edge-cnn", "3x3 Conv-BN-ReLU6 CNN, fast on CPU and int8-faithful (default)", _edge_cnn),
        ModelSpec("cnn4", "Fashion-MNIST tutorial CNN: 4 conv + BatchNorm + Dropout", _cnn4),
        ModelSpec("cnn-cifar", "classic Keras CIFAR-10 CNN: 2x(Conv-Conv-Pool-Dropout) + Dense 512", _cnn_cifar),
        ModelSpec("mlp", "Keras MNIST MLP: 2 x Dense 512 + Dropout", _mlp),
    )
}
DEFAULT_MODEL = "edge-cnn"


def check_model_name(name: str) -> str:
    """``name`` if it is a registered model or a keras.applications backbone; else the error naming them all.

    Needs no Keras, so the CLI checks ``--model`` before loading it.

    >>> check_model_name("mobilenet_v2")
    'mobilenet_v2'
    """
    from edgecls.toolkit.applications import APPLICATIONS

    if name not in MODELS and name not in APPLICATIONS:
        raise EdgeclsError(f"unknown model {name!r}: choose one of {', '.join([*MODELS, *APPLICATIONS])}")
    return name


def build_model(name: str, input_shape: tuple[int, int, int], num_classes: int, weights: str = "none"):
    """Build a registered model or a keras.applications backbone (``weights``: none, imagenet, file)."""
    from edgecls.toolkit.applications import APPLICATIONS, build_application

    if check_model_name(name) in APPLICATIONS:
        return build_application(name, input_shape, num_classes, weights=weights)[0]
    if weights not in ("none", None):
        raise EdgeclsError(f"--weights applies to keras.applications backbones, not {name}")
    import keras

    return MODELS[name].build(keras, tuple(input_shape), num_classes)


def count_macs(model) -> int:
    """Multiply-adds of one forward pass (conv, depthwise, dense), batch size 1."""
    import keras

    L = keras.layers
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
        elif isinstance(layer, L.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * c
        elif isinstance(layer, L.Conv2D):
            _, h, w, c = layer.output.shape
            kh, kw = layer.kernel_size
            total += h * w * kh * kw * layer.input.shape[-1] * c // layer.groups
        elif isinstance(layer, L.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
