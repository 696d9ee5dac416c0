import numpy as np
import pytest

from edgecls.toolkit.models import MODELS, build_model, count_macs


@pytest.mark.parametrize("name", list(MODELS))
@pytest.mark.parametrize("shape", [(28, 28, 1), (32, 32, 3)])
def test_every_model_runs_on_uint8_pixels(name, shape):
    model = build_model(name, shape, 7)
    assert model.inputs[0].dtype == "uint8"
    x = np.random.default_rng(0).integers(0, 256, (3, *shape), dtype=np.uint8)
    probs = np.asarray(model(x, training=False))
    assert probs.shape == (3, 7)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_mac_counts():
    mlp = build_model("mlp", (28, 28, 1), 10)
    assert count_macs(mlp) == 784 * 512 + 512 * 512 + 512 * 10
    edge, cnn4 = build_model("edge-cnn", (28, 28, 1), 10), build_model("cnn4", (28, 28, 1), 10)
    assert count_macs(edge) < count_macs(cnn4)


def test_unknown_model():
    from edgecls.errors import EdgeclsError

    with pytest.raises(EdgeclsError, match="unknown model 'resnet9000'"):
        build_model("resnet9000", (28, 28, 1), 10)
