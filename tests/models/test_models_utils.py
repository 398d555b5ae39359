"""`models.utils.get_predictor_sizes`."""

import keras
import numpy as np
import pytest

from models.keras_ssd7 import build_model
from models.utils import get_predictor_sizes


@pytest.fixture(scope="module")
def ssd7():
    return build_model((96, 160, 3), 2, mode="inference_fast", return_predictor_sizes=True)


def test_found_automatically_in_every_mode(ssd7):
    model, sizes = ssd7
    np.testing.assert_array_equal(get_predictor_sizes(model), sizes)
    np.testing.assert_array_equal(sizes, [[12, 20], [6, 10], [3, 5], [1, 2]])


def test_explicit_layer_names_as_in_the_old_tutorial(ssd7):
    model, _ = ssd7
    sizes = get_predictor_sizes(model, ["classes7", "boxes4"])
    np.testing.assert_array_equal(sizes, [[1, 2], [12, 20]])
    assert sizes.shape == (2, 2) and sizes.dtype.kind == "i"


def test_unknown_layer_name(ssd7):
    model, _ = ssd7
    with pytest.raises(ValueError, match="'classes9'"):
        get_predictor_sizes(model, ["classes4", "classes9"])


def test_model_without_ssd_heads():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="conv")(inputs))
    with pytest.raises(ValueError, match="classes_concat or mbox_conf"):
        get_predictor_sizes(model)
    np.testing.assert_array_equal(get_predictor_sizes(model, ["conv"]), [[6, 6]])
