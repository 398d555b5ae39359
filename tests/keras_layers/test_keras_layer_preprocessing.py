"""The pre-processing layers and the rebuild of the old library's pre-processing Lambdas."""

import keras
import numpy as np
import pytest

from keras_layers.keras_layer_preprocessing import (
    InputChannelSwap,
    InputMeanNormalization,
    InputStddevNormalization,
    LegacyPreprocessingLambda,
    build_preprocessing_layer,
)

RNG = np.random.default_rng(0)
X = RNG.uniform(0, 255, (2, 5, 7, 3)).astype("float32")


def _run(layer, x=X):
    return keras.ops.convert_to_numpy(layer(x))


@pytest.mark.parametrize("mean", [127.5, [123, 117, 104], [[[1.0, 2.0, 3.0]]]])
def test_mean(mean):
    np.testing.assert_allclose(_run(InputMeanNormalization(mean)), X - np.float32(mean))


@pytest.mark.parametrize("stddev", [127.5, [58.4, 57.1, 57.4]])
def test_stddev(stddev):
    np.testing.assert_allclose(
        _run(InputStddevNormalization(stddev)), X / np.float32(stddev), rtol=1e-6
    )


def test_channel_swap_three_and_four_channels():
    np.testing.assert_array_equal(_run(InputChannelSwap([2, 1, 0])), X[..., ::-1])
    x4 = RNG.uniform(size=(1, 2, 2, 4)).astype("float32")
    np.testing.assert_array_equal(_run(InputChannelSwap((3, 0, 1, 2)), x4), x4[..., [3, 0, 1, 2]])


@pytest.mark.parametrize("swap", [[0, 1], [0, 1, 2, 3, 0], 2, "bgr"])
def test_channel_swap_rejects_bad_lengths(swap):
    with pytest.raises(ValueError, match="swap_channels"):
        InputChannelSwap(swap)


def test_channel_swap_rejects_a_missing_channel():
    with pytest.raises(ValueError, match=r"`swap_channels`=\[3, 1, 0\].*3 channels"):
        InputChannelSwap([3, 1, 0])(X)


def test_mean_rejects_non_numbers():
    with pytest.raises(ValueError, match="`mean`.*'abc'"):
        InputMeanNormalization("abc")


@pytest.mark.parametrize(
    "layer",
    [
        InputMeanNormalization([1.0, 2.5, -3.0], name="m"),
        InputStddevNormalization(2.0, name="s"),
        InputChannelSwap([1, 2, 0], name="c"),
    ],
)
def test_serialization_round_trip(layer):
    restored = keras.layers.deserialize(keras.layers.serialize(layer))
    assert type(restored) is type(layer)
    assert restored.get_config() == layer.get_config()
    np.testing.assert_array_equal(_run(restored), _run(layer))


# ---------------------------------------------------------------------------------------------
# Rebuilding the old Lambda layers from their stored closure values


def _legacy_config(name, closure, code="not python bytecode"):
    """A `Lambda` config the way Keras 3's legacy loader hands it over."""
    return {
        "name": name,
        "trainable": True,
        "dtype": "float32",
        "function": {
            "class_name": "__lambda__",
            "config": {"code": code, "defaults": None, "closure": closure},
        },
        "output_shape": [300, 300, 3],
        "arguments": {},
    }


@pytest.mark.parametrize(
    ("name", "closure", "expected"),
    [
        ("identity_layer", None, X),
        ("input_mean_normalization", [[123, 117, 104]], X - np.float32([123, 117, 104])),
        ("input_stddev_normalization", [127.5], X / np.float32(127.5)),
        ("input_channel_swap", [[2, 1, 0]], X[..., ::-1]),
    ],
)
def test_old_lambdas_are_rebuilt_without_running_their_code(name, closure, expected):
    layer = LegacyPreprocessingLambda.from_config(_legacy_config(name, closure))
    assert layer.name == name
    assert not isinstance(layer, keras.layers.Lambda)
    np.testing.assert_allclose(_run(layer), expected, rtol=1e-6)


def test_raw_keras2_function_triple_is_understood():
    config = _legacy_config("input_stddev_normalization", None)
    config["function"] = ["bytecode", None, [2.0]]
    layer = LegacyPreprocessingLambda.from_config(config)
    assert layer.stddev == 2.0


def test_other_lambdas_go_to_keras_and_its_safe_mode():
    with pytest.raises(ValueError, match="safe_mode"):
        LegacyPreprocessingLambda.from_config(_legacy_config("my_lambda", None))


@pytest.mark.parametrize(
    ("name", "closure", "match"),
    [
        ("identity_layer", [1.0], "no values"),
        ("input_mean_normalization", None, "exactly one value"),
        ("input_channel_swap", [[2, 1, 0], [0]], "exactly one value"),
        ("my_layer", [1.0], "not one of"),
    ],
)
def test_closure_values_that_do_not_fit(name, closure, match):
    with pytest.raises(ValueError, match=match):
        build_preprocessing_layer(name, closure)


def test_old_lambda_resolution_is_registered_for_the_legacy_loader():
    assert keras.saving.get_custom_objects()["Lambda"] is LegacyPreprocessingLambda
