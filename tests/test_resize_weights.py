"""extract.resize_weights: extraction's resize and test-time views as constant matrices, against the
TensorFlow kernels extraction runs (keras.layers.Resizing antialiased bilinear; affine_transform, reflect)."""
from __future__ import annotations

import numpy as np
import pytest

from extract.augment import TTA_VIEWS, transform_vector
from extract.model import resizing_layer
from extract.resize_weights import resize_image, resize_weights, view_weights

# float32 on 0..255 values: TensorFlow sums in another order (measured at most 7.7e-5)
PIXEL_TOLERANCE = 2e-4


@pytest.mark.parametrize("mode", ["squash", "crop", "pad"])
@pytest.mark.parametrize("shape", [(200, 200), (375, 500), (37, 41), (500, 333), (20, 300), (128, 127)])
def test_resize_is_keras_resizing_as_extraction_runs_it(shape, mode):
    import keras

    image = np.random.default_rng(sum(shape)).integers(0, 256, (*shape, 3)).astype(np.float32)
    for size in (32, 224, 250):  # shrinking and enlarging
        expected = keras.ops.convert_to_numpy(resizing_layer(size, mode)(image[None]))[0]
        np.testing.assert_allclose(resize_image(image, size, mode), expected, atol=PIXEL_TOLERANCE)


def test_a_resize_to_the_same_size_is_exactly_the_identity_and_rows_sum_to_one():
    np.testing.assert_array_equal(resize_weights(57, 57), np.eye(57, dtype=np.float32))
    for a, b in ((500, 224), (37, 128), (224, 32)):
        np.testing.assert_allclose(resize_weights(a, b).sum(axis=1), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="positive"):
        resize_weights(0, 3)
    with pytest.raises(ValueError, match="Unknown resize mode 'fit'"):
        resize_image(np.zeros((4, 4, 3)), 2, "fit")


@pytest.mark.parametrize("size", [32, 224])
def test_every_test_time_view_is_keras_affine_transform(size):
    import keras

    image = np.random.default_rng(size).uniform(0, 255, (size, size, 3)).astype(np.float32)
    for view in TTA_VIEWS:
        vector = transform_vector(view.parameters(), size)
        expected = keras.ops.convert_to_numpy(keras.ops.image.affine_transform(
            image[None], vector[None], interpolation="bilinear", fill_mode="reflect"))[0]
        rows, columns = view_weights(size, view.scale, view.dy), view_weights(size, view.scale, view.dx, view.flip)
        got = np.einsum("yh,hwc,xw->yxc", rows, image, columns, optimize=True)
        np.testing.assert_allclose(got, expected, atol=PIXEL_TOLERANCE, err_msg=view.name)
