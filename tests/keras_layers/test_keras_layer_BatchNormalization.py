"""Tests of the fused BatchNormalization against keras.layers.BatchNormalization and the formula.

The layer under test shares Keras's class name; it is imported as `FusedBatchNormalization`.
"""

import doctest
import importlib

import keras
import numpy as np
import pytest
from autodiff import gradients
from keras.ops import convert_to_numpy as to_numpy

from keras_layers import _fused_kernels
from keras_layers.keras_layer_BatchNormalization import (
    BatchNormalization as FusedBatchNormalization,
)

SHAPE = (4, 5, 6, 3)


def _inputs(seed: int = 0, shape=SHAPE) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.normal(size=shape) * np.arange(1, shape[-1] + 1) + 2.0).astype(np.float32)


def _twins(**kwargs):
    """A Keras layer and a fused layer with the same random gamma and beta."""
    keras_layer = keras.layers.BatchNormalization(**kwargs)
    fused_layer = FusedBatchNormalization(**kwargs)
    rng = np.random.default_rng(7)
    for layer in (keras_layer, fused_layer):
        layer.build(SHAPE)
    weights = [rng.uniform(0.5, 2.0, size=w.shape).astype(np.float32) for w in keras_layer.weights]
    for layer in (keras_layer, fused_layer):
        layer.set_weights(weights)
    return keras_layer, fused_layer


def _train_call(layer, x: np.ndarray, upstream: np.ndarray):
    """Output, gradients (input, then trainable weights) and moving statistics after one call."""

    def forward(x):
        y = keras.ops.cast(layer(x, training=True), "float32")
        return keras.ops.sum(keras.ops.multiply(y, upstream)), y

    y, input_grads, weight_grads = gradients(
        forward, [x], layer.trainable_weights, state=layer.non_trainable_weights
    )
    stats = [to_numpy(w) for w in layer.non_trainable_weights]
    return y, [*input_grads, *weight_grads], stats


def _reference(x: np.ndarray, gamma, beta, epsilon: float) -> np.ndarray:
    x = x.astype(np.float64)
    mean = x.mean(axis=(0, 1, 2))
    variance = x.var(axis=(0, 1, 2))  # biased
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


@pytest.mark.parametrize(
    "kwargs",
    [
        {"axis": 3, "momentum": 0.99},
        {"axis": -1, "momentum": 0.9, "center": False},
        {"axis": 3, "scale": False, "epsilon": 0.01},
        {"axis": 3, "center": False, "scale": False, "epsilon": 1e-5},
    ],
)
def test_training_step_matches_keras_layer(kwargs):
    keras_layer, fused_layer = _twins(**kwargs)
    x = _inputs()
    upstream = np.random.default_rng(3).normal(size=SHAPE).astype(np.float32)
    y_keras, grads_keras, stats_keras = _train_call(keras_layer, x, upstream)
    y_fused, grads_fused, stats_fused = _train_call(fused_layer, x, upstream)
    np.testing.assert_allclose(y_fused, y_keras, rtol=1e-5, atol=1e-5)
    assert (
        len(grads_fused)
        == len(grads_keras)
        == 1 + kwargs.get("scale", True) + kwargs.get("center", True)
    )
    for mine, theirs in zip(grads_fused, grads_keras, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
    # The moving averages take the biased variance, as Keras's layer does.
    for mine, theirs in zip(stats_fused, stats_keras, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-6)
    gamma = to_numpy(fused_layer.gamma) if fused_layer.scale else 1.0
    beta = to_numpy(fused_layer.beta) if fused_layer.center else 0.0
    np.testing.assert_allclose(
        y_fused, _reference(x, gamma, beta, fused_layer.epsilon), rtol=1e-4, atol=1e-4
    )


def test_moving_statistics_follow_the_momentum_formula():
    layer = FusedBatchNormalization(axis=3, momentum=0.75)
    x = _inputs(5)
    layer(x, training=True)
    n = x.size // x.shape[-1]
    mean = x.mean(axis=(0, 1, 2))
    variance = x.var(axis=(0, 1, 2))
    np.testing.assert_allclose(to_numpy(layer.moving_mean), 0.25 * mean, rtol=1e-5)
    np.testing.assert_allclose(to_numpy(layer.moving_variance), 0.75 + 0.25 * variance, rtol=1e-5)
    # Not the Bessel-corrected variance the TensorFlow kernel reports.
    assert not np.allclose(0.75 + 0.25 * variance * n / (n - 1), to_numpy(layer.moving_variance))


def test_the_fused_kernel_runs_in_training_and_not_in_inference(monkeypatch):
    calls = []
    kernel = _fused_kernels.fused_batch_norm_training

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return kernel(*args, **kwargs)

    monkeypatch.setattr(_fused_kernels, "fused_batch_norm_training", spy)
    keras_layer, fused_layer = _twins(axis=3)
    x = _inputs(1)
    fused_layer(x, training=True)
    keras_layer(x, training=True)  # the same moving statistics
    # Only TensorFlow has the fused kernel; other backends run Keras's own computation.
    fused_calls = [SHAPE] if keras.backend.backend() == "tensorflow" else []
    assert calls == fused_calls
    for training in (False, None):
        np.testing.assert_allclose(
            to_numpy(fused_layer(x, training=training)),
            to_numpy(keras_layer(x, training=training)),
            rtol=1e-6,
            atol=1e-6,
        )
    fused_layer.trainable = False  # a frozen layer normalizes with its moving statistics
    fused_layer(x, training=True)
    assert calls == fused_calls


@pytest.mark.parametrize(
    "kwargs, shape, mask",
    [
        ({"axis": 1}, SHAPE, None),  # not channels last
        ({"axis": -1}, (6, 3), None),  # not an image tensor
        ({"axis": -1}, (2, 5, 3), np.array([[1, 1, 0, 1, 0], [1, 0, 1, 1, 1]], bool)),
        ({"axis": 3, "renorm": True}, SHAPE, None),
        ({"axis": 3, "epsilon": 1e-6}, SHAPE, None),  # below the fused kernel's minimum
    ],
)
def test_cases_the_kernel_cannot_take_fall_back_to_keras(monkeypatch, kwargs, shape, mask):
    def fail(*args, **kwargs):
        raise AssertionError("the fused kernel must not run here")

    monkeypatch.setattr(_fused_kernels, "fused_batch_norm_training", fail)
    x = _inputs(2, shape)
    keras_layer = keras.layers.BatchNormalization(**kwargs)
    fused_layer = FusedBatchNormalization(**kwargs)
    expected = to_numpy(keras_layer(x, training=True, mask=mask))
    np.testing.assert_array_equal(to_numpy(fused_layer(x, training=True, mask=mask)), expected)


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_use_the_keras_computation(monkeypatch, backend):
    monkeypatch.setattr(_fused_kernels.keras.backend, "backend", lambda: backend)
    assert not _fused_kernels.fused_batch_norm_available(4, 3, "float32", 1e-3)
    assert not FusedBatchNormalization(axis=3)._can_fuse(keras.ops.zeros(SHAPE), None)


def test_the_running_backend_decides_whether_the_kernel_is_used():
    fusable = FusedBatchNormalization(axis=3)._can_fuse(keras.ops.zeros(SHAPE), None)
    assert fusable == (keras.backend.backend() == "tensorflow")


def test_mixed_bfloat16_matches_keras_layer_within_bfloat16_precision():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        keras_layer, fused_layer = _twins(axis=3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    x = keras.ops.cast(_inputs(4), "bfloat16")  # what a bfloat16 convolution hands the layer
    y_keras = keras_layer(x, training=True)
    y_fused = fused_layer(x, training=True)
    assert (
        keras.backend.standardize_dtype(y_fused.dtype)
        == keras.backend.standardize_dtype(y_keras.dtype)
        == "bfloat16"
    )
    np.testing.assert_allclose(
        to_numpy(keras.ops.cast(y_fused, "float32")),
        to_numpy(keras.ops.cast(y_keras, "float32")),
        rtol=2e-2,
        atol=2e-2,
    )
    assert fused_layer.moving_mean.dtype == "float32"
    np.testing.assert_allclose(
        to_numpy(fused_layer.moving_variance), to_numpy(keras_layer.moving_variance), rtol=1e-5
    )


def test_config_weights_and_saved_model_are_those_of_keras_layer(tmp_path):
    kwargs = {"axis": 3, "momentum": 0.9, "epsilon": 0.002, "center": False, "name": "bn1"}
    keras_layer, fused_layer = _twins(**kwargs)
    assert fused_layer.get_config() == keras_layer.get_config()
    assert [w.path for w in fused_layer.weights] == [w.path for w in keras_layer.weights]

    inputs = keras.Input(SHAPE[1:])
    model = keras.Model(inputs, FusedBatchNormalization(**kwargs)(inputs))
    model.get_layer("bn1").set_weights(keras_layer.get_weights())
    model.save(tmp_path / "bn.keras")
    loaded = keras.models.load_model(tmp_path / "bn.keras", safe_mode=True)
    assert type(loaded.get_layer("bn1")) is FusedBatchNormalization
    x = _inputs(6)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_docstring_examples_run():
    module = importlib.import_module("keras_layers.keras_layer_BatchNormalization")
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
