import numpy as np

from edgecls.toolkit.augment import Augmentation


def test_augmentation_is_seeded_and_keeps_shape_and_dtype(sample):
    aug = Augmentation.for_dataset("my-photos")
    images = sample.x_train[:64]
    a = aug(images, np.random.default_rng(7))
    assert a.shape == images.shape and a.dtype == np.uint8
    assert np.array_equal(a, aug(images, np.random.default_rng(7)))
    assert not np.array_equal(a, aug(images, np.random.default_rng(8)))


def test_pixel_noise_has_the_configured_spread_and_no_bias():
    grey = np.full((16, 64, 64, 3), 128, np.uint8)
    out = Augmentation(shift=0, rotate=0, zoom=0, noise=3.0)(grey, np.random.default_rng(0)).astype(float)
    assert abs(out.mean() - 128) < 0.1
    assert 2.8 < out.std() < 3.2


def test_brightness_jitter_is_one_change_per_image_within_bounds():
    grey = np.full((32, 8, 8, 1), 128, np.uint8)
    out = Augmentation(shift=0, rotate=0, zoom=0, brightness=0.1)(grey, np.random.default_rng(0)).astype(int)
    per_image = out.reshape(32, -1)
    assert (per_image == per_image[:, :1]).all()  # no noise: the whole image moves together
    assert len(np.unique(per_image[:, 0])) > 10
    assert per_image.min() >= 128 * 0.9 - 25.5 - 1 and per_image.max() <= 128 * 1.1 + 25.5 + 1


def test_digits_and_fashion_mnist_get_no_pixel_jitter():
    for name in ("mnist", "fashion-mnist", "fashion-mnist-mini"):
        aug = Augmentation.for_dataset(name)
        assert aug.noise == 0 and aug.brightness == 0
