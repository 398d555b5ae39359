"""Tests of the L2Normalization layer."""

import doctest
import importlib

import keras
import numpy as np
import pytest
from autodiff import gradients
from keras.ops import convert_to_numpy as to_numpy

from keras_layers.keras_layer_L2Normalization import L2Normalization


def reference(x: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    norm = np.sqrt(np.maximum(np.sum(x.astype(np.float64) ** 2, axis=-1, keepdims=True), 1e-12))
    return x / norm * gamma


def test_output_matches_formula_and_gamma_starts_at_gamma_init():
    x = np.random.default_rng(0).normal(size=(2, 5, 4, 6)).astype(np.float32)
    layer = L2Normalization()
    output = to_numpy(layer(x))
    np.testing.assert_allclose(output, reference(x, 20.0), rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(output, axis=-1), 20.0, rtol=1e-5)
    assert [w.shape for w in layer.trainable_weights] == [(6,)]
    assert layer.gamma.path.endswith("gamma")
    np.testing.assert_array_equal(to_numpy(layer.gamma), np.full(6, 20.0, np.float32))


def test_learned_gamma_scales_each_channel_and_zero_vectors_stay_zero():
    layer = L2Normalization(gamma_init=3)
    x = np.zeros((1, 2, 1, 3), np.float32)
    x[0, 0, 0] = [3.0, 0.0, 4.0]
    layer.build(x.shape)
    layer.set_weights([np.array([1.0, 2.0, 10.0], np.float32)])  # as an old .h5 file loads it
    output = to_numpy(layer(x))
    np.testing.assert_allclose(output[0, 0, 0], [0.6, 0.0, 8.0], rtol=1e-6)
    np.testing.assert_array_equal(output[0, 1, 0], [0.0, 0.0, 0.0])


def test_gradients_reach_gamma_and_input():
    x = np.random.default_rng(1).normal(size=(1, 2, 2, 3)).astype(np.float32)
    layer = L2Normalization(gamma_init=2)
    layer.build(x.shape)
    weights = np.array([1.0, 2.0, 3.0], np.float32)
    _, (input_grad,), (gamma_grad,) = gradients(
        lambda x: (keras.ops.sum(keras.ops.multiply(layer(x), weights)), ()),
        [x],
        layer.trainable_weights,
    )
    expected = np.sum(reference(x, 1.0) * weights, axis=(0, 1, 2))
    np.testing.assert_allclose(gamma_grad, expected, rtol=1e-5)
    assert np.all(np.isfinite(input_grad))


def test_serialization_round_trip_with_non_default_gamma(tmp_path):
    inputs = keras.Input((4, 4, 5))
    model = keras.Model(inputs, L2Normalization(gamma_init=7.5, name="conv4_3_norm")(inputs))
    layer = model.get_layer("conv4_3_norm")
    layer.gamma.assign(np.arange(1, 6, dtype=np.float32))
    x = np.random.default_rng(2).normal(size=(2, 4, 4, 5)).astype(np.float32)
    model.save(tmp_path / "norm.keras")
    loaded = keras.models.load_model(tmp_path / "norm.keras", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_layer("conv4_3_norm").get_config()["gamma_init"] == 7.5
    fresh = L2Normalization.from_config(layer.get_config())
    np.testing.assert_allclose(to_numpy(fresh(x)), reference(x, 7.5), rtol=1e-5)
    assert layer.compute_output_shape((None, 4, 4, 5)) == (None, 4, 4, 5)


def test_unknown_channels_rejected():
    with pytest.raises(ValueError, match="input_shape"):
        L2Normalization().build((None, 4, 4, None))


def test_docstring_examples_run():
    result = doctest.testmod(importlib.import_module("keras_layers.keras_layer_L2Normalization"))
    assert result.attempted > 0 and result.failed == 0
