"""The classifier head every edgecls model ends in, shared by our models and the backbones.

It lives apart from :mod:`edgecls.toolkit.models` and :mod:`edgecls.toolkit.applications`
so that neither imports the other to build its head.
"""


def softmax_head(keras, x, num_classes: int, name: str = "probs"):
    """The classifier layer; float32 even under a mixed policy, as Keras advises for the output."""
    return keras.layers.Dense(num_classes, activation="softmax", name=name, dtype="float32")(x)
