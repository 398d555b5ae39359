"""Tests of SSDLoss against the original's recorded values and a plain numpy reference."""

import doctest
import importlib
from pathlib import Path

import keras
import numpy as np
import pytest
from autodiff import gradients

from keras_loss_function.keras_ssd_loss import SSDLoss

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras" / "loss_case_A.npz"


@pytest.fixture(scope="module")
def case_a():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


def loss_arguments(key: str) -> dict:
    """`A/compute_loss/neg_pos_ratio=3,alpha=1,n_neg_min=0` -> constructor arguments."""
    pairs = dict(item.split("=") for item in key.split("/")[-1].split(","))
    return {
        "neg_pos_ratio": int(pairs["neg_pos_ratio"]),
        "alpha": float(pairs["alpha"]),
        "n_neg_min": int(pairs["n_neg_min"]),
    }


def reference_loss(y_true, y_pred, neg_pos_ratio=3, n_neg_min=0, alpha=1.0) -> np.ndarray:
    """The per-image loss written out step by step with numpy (float64)."""
    y_true, y_pred = y_true.astype(np.float64), y_pred.astype(np.float64)
    classification = -np.sum(y_true[..., :-12] * np.log(np.maximum(y_pred[..., :-12], 1e-15)), -1)
    d = np.abs(y_true[..., -12:-8] - y_pred[..., -12:-8])
    localization = np.sum(np.where(d < 1, 0.5 * d**2, d - 0.5), axis=-1)
    positives = y_true[..., 1:-12].max(axis=-1)
    n_positive = positives.sum()
    negative_losses = (classification * y_true[..., 0]).ravel()
    n_keep = min(max(neg_pos_ratio * int(n_positive), n_neg_min), np.count_nonzero(negative_losses))
    mined = np.zeros_like(negative_losses)
    mined[np.argsort(-negative_losses, kind="stable")[:n_keep]] = 1.0  # earlier index on ties
    mined = mined.reshape(classification.shape)
    per_image = (
        np.sum(classification * positives, -1)
        + np.sum(classification * mined, -1)
        + alpha * np.sum(localization * positives, -1)
    )
    return per_image / max(1.0, n_positive) * len(y_true)


def random_targets(seed: int, batch=3, n_boxes=80, n_classes=4, neutral=0.1, positive=0.1):
    """Encoded targets with positives, neutral and background boxes, plus softmax predictions."""
    rng = np.random.default_rng(seed)
    labels = np.where(
        rng.uniform(size=(batch, n_boxes)) < positive,
        rng.integers(1, n_classes, (batch, n_boxes)),
        0,
    )
    one_hot = np.eye(n_classes)[labels]
    one_hot[rng.uniform(size=(batch, n_boxes)) < neutral] = 0.0
    logits = rng.normal(size=(batch, n_boxes, n_classes))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    tail = rng.normal(scale=1.5, size=(2, batch, n_boxes, 12))
    y_true = np.concatenate([one_hot, tail[0]], axis=-1).astype(np.float32)
    y_pred = np.concatenate([probabilities, tail[1]], axis=-1).astype(np.float32)
    return y_true, y_pred


class _Shift(keras.layers.Layer):
    """Adds a trainable vector (zeros at first), so a model's output is its input at the start."""

    def build(self, input_shape):
        self.shift = self.add_weight(shape=(input_shape[-1],), initializer="zeros")

    def call(self, x):
        return x + self.shift


def shift_model(shape) -> keras.Model:
    inputs = keras.Input(shape)
    return keras.Model(inputs, _Shift()(inputs))


# ----------------------------------------------------------------------------------------------
# Values


def test_component_losses_match_original(case_a):
    loss = SSDLoss()
    y_true, y_pred = case_a["A/y_true"], case_a["A/y_pred"]
    np.testing.assert_allclose(
        loss.smooth_L1_loss(y_true[..., -12:-8], y_pred[..., -12:-8]),
        case_a["A/smooth_L1_loss"],
        rtol=1e-5,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        loss.log_loss(y_true[..., :-12], y_pred[..., :-12]),
        case_a["A/log_loss"],
        rtol=1e-5,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "key",
    [
        f"A/compute_loss/neg_pos_ratio={r},alpha={a},n_neg_min={n}"
        for r in (3, 1)
        for a in (1, 0.5)
        for n in (0, 10)
    ],
)
def test_compute_loss_matches_original(case_a, key):
    loss = SSDLoss(**loss_arguments(key))
    y_true, y_pred = case_a["A/y_true"], case_a["A/y_pred"]
    per_image = np.asarray(loss.compute_loss(y_true, y_pred))
    np.testing.assert_allclose(per_image, case_a[key], rtol=1e-5)
    np.testing.assert_allclose(
        reference_loss(y_true, y_pred, **loss_arguments(key)), case_a[key], rtol=1e-5
    )
    np.testing.assert_allclose(float(loss(y_true, y_pred)), case_a[key].mean(), rtol=1e-5)


@pytest.mark.parametrize(
    ("seed", "arguments"),
    [
        (0, {}),
        (1, {"neg_pos_ratio": 1, "alpha": 0.3}),
        (2, {"neg_pos_ratio": 0, "n_neg_min": 7}),
        (3, {"neg_pos_ratio": 50}),
    ],
)
def test_compute_loss_matches_numpy_reference(seed, arguments):
    y_true, y_pred = random_targets(seed)
    expected = reference_loss(y_true, y_pred, **arguments)
    np.testing.assert_allclose(
        SSDLoss(**arguments).compute_loss(y_true, y_pred), expected, rtol=1e-5
    )


def test_without_positives_n_neg_min_negatives_are_mined():
    y_true, y_pred = random_targets(4, positive=0.0)
    assert y_true[..., 1:-12].max() == 0
    loss = SSDLoss(n_neg_min=5)
    expected = reference_loss(y_true, y_pred, n_neg_min=5)
    np.testing.assert_allclose(loss.compute_loss(y_true, y_pred), expected, rtol=1e-5)
    assert expected.sum() > 0
    np.testing.assert_array_equal(SSDLoss().compute_loss(y_true, y_pred), [0.0, 0.0, 0.0])


def test_equal_negative_losses_at_the_cut_take_the_earlier_boxes():
    # Every negative box has the same loss; 2 positives * ratio 1 keep 2 of 6 negatives.
    y_true = np.zeros((2, 4, 3 + 12), np.float32)
    y_pred = np.zeros_like(y_true)
    y_true[..., 0] = 1.0
    y_true[1, 2:, :3] = [0.0, 1.0, 0.0]
    y_pred[..., :3] = [0.5, 0.25, 0.25]
    per_image = np.asarray(SSDLoss(neg_pos_ratio=1).compute_loss(y_true, y_pred))
    ln2, ln4 = np.log(2.0), np.log(4.0)
    np.testing.assert_allclose(per_image, [2 * ln2 / 2 * 2, 2 * ln4 / 2 * 2], rtol=1e-6)
    np.testing.assert_allclose(
        per_image, reference_loss(y_true, y_pred, neg_pos_ratio=1), rtol=1e-6
    )


# ----------------------------------------------------------------------------------------------
# Keras integration


@pytest.mark.parametrize("jit_compile", [True, False])
def test_fit_step_and_evaluate_with_retracing(case_a, jit_compile):
    y_true, y_pred = case_a["A/y_true"], case_a["A/y_pred"]
    key = "A/compute_loss/neg_pos_ratio=1,alpha=0.5,n_neg_min=10"
    loss = SSDLoss(**loss_arguments(key))
    attributes = dict(vars(loss))
    model = shift_model(y_pred.shape[1:])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss, jit_compile=jit_compile)
    np.testing.assert_allclose(
        model.evaluate(y_pred, y_true, batch_size=2, verbose=0), case_a[key].mean(), rtol=1e-5
    )
    single = model.evaluate(
        y_pred[:1], y_true[:1], batch_size=1, verbose=0
    )  # same instance, new batch size
    np.testing.assert_allclose(
        single, reference_loss(y_true[:1], y_pred[:1], **loss_arguments(key)).mean(), rtol=1e-5
    )
    four = np.concatenate([y_pred, y_pred[::-1]]), np.concatenate([y_true, y_true[::-1]])
    expected = reference_loss(four[1], four[0], **loss_arguments(key)).mean()
    np.testing.assert_allclose(model.train_on_batch(*four), expected, rtol=1e-5)
    after = model.evaluate(y_pred, y_true, batch_size=2, verbose=0)
    assert after < case_a[key].mean()
    assert vars(loss) == attributes  # tracing and training never change the instance


def test_legacy_compute_loss_as_compile_loss(case_a):
    y_true, y_pred = case_a["A/y_true"], case_a["A/y_pred"]
    model = shift_model(y_pred.shape[1:])
    model.compile(optimizer="sgd", loss=SSDLoss(neg_pos_ratio=3, alpha=1.0).compute_loss)
    result = model.evaluate(y_pred, y_true, batch_size=2, verbose=0)
    np.testing.assert_allclose(
        result, case_a["A/compute_loss/neg_pos_ratio=3,alpha=1,n_neg_min=0"].mean(), rtol=1e-5
    )


def test_gradients_reach_predictions_where_the_loss_looks():
    y_true, y_pred = random_targets(5, batch=2, n_boxes=40)
    _, (gradient,), _ = gradients(
        lambda y_pred: (keras.ops.mean(SSDLoss(neg_pos_ratio=1).compute_loss(y_true, y_pred)), ()),
        [y_pred],
    )
    assert np.all(np.isfinite(gradient))
    positives = y_true[..., 1:-12].max(-1) > 0
    neutral = y_true[..., :-12].max(-1) == 0
    assert np.all(np.any(gradient[positives][:, -12:-8] != 0, axis=-1))
    assert np.all(gradient[..., -8:] == 0)  # anchors and variances are not part of the loss
    assert np.all(gradient[neutral] == 0)
    assert np.all(gradient[~positives][:, -12:-8] == 0)
    mined = np.any(gradient[..., :-12] != 0, axis=-1) & ~positives & ~neutral
    assert mined.sum() == positives.sum()  # neg_pos_ratio 1


def test_config_round_trip_and_saved_compiled_model(tmp_path):
    loss = SSDLoss(neg_pos_ratio=2, n_neg_min=4, alpha=0.25)
    config = loss.get_config()
    assert {k: config[k] for k in ("neg_pos_ratio", "n_neg_min", "alpha")} == {
        "neg_pos_ratio": 2,
        "n_neg_min": 4,
        "alpha": 0.25,
    }
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(clone, SSDLoss) and clone.get_config() == config

    inputs = keras.Input((30, 17))
    model = keras.Model(inputs, keras.layers.Identity()(inputs))
    model.compile(optimizer="adam", loss=loss)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    y_true, y_pred = random_targets(6, batch=2, n_boxes=30, n_classes=5)
    expected = reference_loss(y_true, y_pred, neg_pos_ratio=2, n_neg_min=4, alpha=0.25).mean()
    np.testing.assert_allclose(loaded.evaluate(y_pred, y_true, verbose=0), expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"neg_pos_ratio": 2.5}, "neg_pos_ratio=2.5"),
        ({"neg_pos_ratio": -1}, "neg_pos_ratio=-1"),
        ({"n_neg_min": "10"}, "n_neg_min='10'"),
        ({"alpha": None}, "alpha=None"),
    ],
)
def test_invalid_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        SSDLoss(**arguments)


def test_docstring_examples_run():
    result = doctest.testmod(importlib.import_module("keras_loss_function.keras_ssd_loss"))
    assert result.attempted > 0 and result.failed == 0


def test_global_normalization_is_the_batch_loss_outside_tf_distribute():
    y_true, y_pred = random_targets(3, batch=3, n_boxes=40, n_classes=4)
    replica = SSDLoss(neg_pos_ratio=2).compute_loss(y_true, y_pred)
    loss = SSDLoss(neg_pos_ratio=2, normalization="global")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loss.compute_loss(y_true, y_pred)),
        keras.ops.convert_to_numpy(replica),
    )
    clone = keras.losses.deserialize(keras.losses.serialize(loss))
    assert clone.normalization == "global" and clone.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="normalization='batch'"):
        SSDLoss(normalization="batch")
