"""Mixed-precision training, float32 models on disk.

Training may run under a bfloat16 or float16 policy (``--mixed-precision``); what is
saved and exported is always float32, so an exported graph holds no half-precision casts
unless an fp16 export asks for them, and a saved model loads the same on any device.

Example::

    keras.mixed_precision.set_global_policy(policy_name("bfloat16"))   # "mixed_bfloat16"
    ...train...
    float32_model(model).save("model.keras")
"""

from __future__ import annotations

from edgecls.errors import EdgeclsError

PRECISIONS = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def policy_name(precision: str) -> str:
    """The Keras dtype policy of a ``--mixed-precision`` choice."""
    if precision not in PRECISIONS:
        raise EdgeclsError(f"--mixed-precision must be one of {', '.join(PRECISIONS)}")
    return PRECISIONS[precision]


def _float32_config(node):
    """A layer config with every mixed dtype policy replaced by float32."""
    if isinstance(node, dict):
        if node.get("class_name") == "DTypePolicy" and str(node.get("config", {}).get("name", "")).startswith("mixed_"):
            return {**node, "config": {**node["config"], "name": "float32"}}
        return {key: _float32_config(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_float32_config(value) for value in node]
    return node


def float32_model(model, copy: bool = False):
    """``model`` rebuilt with float32 layers and the same weights.

    Returns ``model`` itself when it is float32 already, unless ``copy`` asks for a fresh
    one (a model trained under a distribution strategy, made plain again).
    """
    config = model.get_config()
    clean = _float32_config(config)
    if clean == config and not copy:
        return model
    import keras

    rebuilt = model.__class__.from_config(clean)
    rebuilt.set_weights([keras.ops.convert_to_numpy(w).astype("float32") for w in model.get_weights()])
    return rebuilt
