"""`models.prediction.predict_detections`: one prediction path, the model's own settings."""

import cv2
import keras
import numpy as np
import pytest

from models.keras_ssd7 import build_model
from models.prediction import (
    decode_model_output,
    model_decoding,
    predict_batch,
    predict_detections,
)
from ssd_encoder_decoder.output_layout import X_COLUMNS, Y_COLUMNS
from ssd_encoder_decoder.ssd_output_decoder import decode_detections

SIZE = (96, 128, 3)
ANCHORS = {"min_scale": 0.15, "max_scale": 0.9, "subtract_mean": 127.5, "divide_by_stddev": 127.5}


def _model(mode="training", seed=0, std=0.08, **overrides):
    """A small SSD7 with fixed random weights that gives a few dozen confident boxes."""
    model = build_model(SIZE, n_classes=3, mode=mode, **{**ANCHORS, **overrides})
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        if "variance" in weight.path or "gamma" in weight.path:
            weight.assign(np.ones(weight.shape, "float32"))
        else:
            weight.assign(rng.normal(0, std, weight.shape).astype("float32"))
    return model


def _images():
    rng = np.random.default_rng(3)
    return [
        rng.integers(0, 256, (48, 64, 3), dtype=np.uint8),  # smaller than the input
        rng.integers(0, 256, (96, 128, 3), dtype=np.uint8),  # the input size
        rng.integers(0, 256, (300, 250, 3), dtype=np.uint8),  # larger, other aspect ratio
    ]


def _by_hand(model, images, coords, normalize_coords, confidence=0.3):
    """Resize, predict and decode step by step with the settings the model was built with."""
    rows = []
    for image in images:
        resized = cv2.resize(image, (SIZE[1], SIZE[0]), interpolation=cv2.INTER_LINEAR)
        y_pred = model.predict(resized[None], verbose=0)
        found = decode_detections(
            y_pred, confidence_thresh=confidence, iou_threshold=0.45, top_k=200,
            input_coords=coords, normalize_coords=normalize_coords, img_height=SIZE[0],
            img_width=SIZE[1],
        )[0]  # fmt: skip
        found[:, X_COLUMNS] *= image.shape[1] / SIZE[1]
        found[:, Y_COLUMNS] *= image.shape[0] / SIZE[0]
        rows.append(found)
    return rows


@pytest.mark.parametrize("normalize_coords", [False, True])
@pytest.mark.parametrize("coords", ["centroids", "minmax", "corners"])
def test_rows_follow_the_models_own_box_format_and_normalisation(coords, normalize_coords):
    model = _model(coords=coords, normalize_coords=normalize_coords)
    images = _images()
    rows = predict_detections(model, images, batch_size=2, confidence_thresh=0.3)
    expected = _by_hand(model, images, coords, normalize_coords)
    assert sum(len(r) for r in rows) > 10  # the comparison is not between empty arrays
    for mine, theirs in zip(rows, expected, strict=True):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-3)


def test_normalised_and_pixel_anchors_give_the_same_boxes():
    """Offsets are relative to the anchor size, so the weights mean the same boxes either way."""
    images = _images()
    pixels = predict_detections(_model(normalize_coords=False), images, confidence_thresh=0.3)
    relative = predict_detections(_model(normalize_coords=True), images, confidence_thresh=0.3)
    for a, b in zip(pixels, relative, strict=True):
        assert len(a) > 0
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-2)


def _assert_same_rows(mine, theirs):
    """Equal detections up to float32 rounding, in any order."""
    assert len(mine) == len(theirs)

    def ordered(rows):
        keys = np.round(rows, 2)
        return rows[np.lexsort(keys.T[::-1])]

    np.testing.assert_allclose(ordered(mine), ordered(theirs), rtol=1e-4, atol=1e-2)


def test_training_and_inference_models_give_the_same_rows():
    training = _model(std=0.05)
    inference = build_model(
        SIZE, n_classes=3, mode="inference", confidence_thresh=0.44, top_k=400, **ANCHORS
    )
    inference.set_weights(training.get_weights())
    images = _images()
    mine = predict_detections(inference, images)
    theirs = predict_detections(training, images, confidence_thresh=0.44, top_k=400)
    assert sum(len(rows) for rows in mine) > 50
    for a, b in zip(mine, theirs, strict=True):
        _assert_same_rows(a, b)
    # A lower threshold than the layer's is decoded from the model's raw predictions.
    low = predict_detections(inference, images, confidence_thresh=0.42)
    low_training = predict_detections(training, images, confidence_thresh=0.42, top_k=400)
    for a, b, c in zip(low, low_training, mine, strict=True):
        assert len(a) > len(c)
        _assert_same_rows(a, b)
    # A higher one filters the layer's rows.
    high = predict_detections(inference, images, confidence_thresh=0.45)
    for a, b in zip(high, mine, strict=True):
        np.testing.assert_array_equal(a, b[b[:, 1] >= 0.45])


def test_settings_are_read_from_the_model():
    settings = model_decoding(_model(coords="minmax", normalize_coords=False))
    assert (settings.mode, settings.coords, settings.normalize_coords) == (
        "training",
        "minmax",
        False,
    )
    assert (settings.img_height, settings.img_width) == SIZE[:2]
    fast = model_decoding(build_model(SIZE, 3, mode="inference_fast", top_k=7, **ANCHORS))
    assert (fast.mode, fast.top_k, fast.normalize_coords) == ("inference_fast", 7, False)


def test_a_batch_array_and_a_list_give_the_same_rows():
    model = _model()
    images = np.stack([_images()[1]] * 3)
    as_array = predict_detections(model, images, confidence_thresh=0.3)
    as_list = predict_detections(model, list(images), batch_size=1, confidence_thresh=0.3)
    for a, b in zip(as_array, as_list, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-3)


def test_no_images_gives_no_rows():
    assert predict_detections(_model(), []) == []


@pytest.mark.parametrize(
    ("images", "kwargs", "pattern"),
    [
        (np.zeros((10, 10, 3), np.uint8), {}, "wrap a single image in a list"),
        ([np.zeros((10, 10), np.uint8)], {}, r"images\[0\].*\(10, 10\)"),
        ([np.zeros((0, 10, 3), np.uint8)], {}, r"images\[0\]"),
        ([np.zeros((9, 9, 3)), np.full((9, 9, 3), np.nan)], {}, r"images\[1\]` holds NaN"),
        ([np.full((9, 9, 3), -np.inf, np.float32)], {}, r"images\[0\]` holds NaN or infinite"),
        ([np.zeros((10, 10, 3), np.uint8)], {"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_input_is_named(images, kwargs, pattern):
    with pytest.raises(ValueError, match=pattern):
        predict_detections(_model(), images, **kwargs)


def test_a_model_without_ssd_layers_is_refused():
    inputs = keras.Input(SIZE)
    model = keras.Model(inputs, keras.layers.Dense(6)(keras.layers.Reshape((-1, 3))(inputs)))
    with pytest.raises(ValueError, match="neither a decoding layer nor AnchorBoxes"):
        predict_detections(model, [np.zeros(SIZE, np.uint8)])


def test_decode_model_output_refuses_thresholds_an_inference_output_cannot_give():
    model = build_model(SIZE, 3, mode="inference", confidence_thresh=0.3, **ANCHORS)
    settings = model_decoding(model)
    y_pred = predict_batch(model, np.zeros((1, *SIZE), np.uint8))
    with pytest.raises(ValueError, match="below the decoding layer's"):
        decode_model_output(y_pred, settings, confidence_thresh=0.1)
    with pytest.raises(ValueError, match="iou_threshold"):
        decode_model_output(y_pred, settings, iou_threshold=0.6)
