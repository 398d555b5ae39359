"""Tests of the AnchorBoxes layer and its numpy anchor generator."""

import doctest
import importlib

import keras
import numpy as np
import pytest

from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes, anchor_boxes_for_layer
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

SSD300_SIZES = [(38, 38), (19, 19), (10, 10), (5, 5), (3, 3), (1, 1)]
SSD300_SCALES = [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05]
SSD300_RATIOS = [[1.0, 2.0, 0.5]] + [[1.0, 2.0, 0.5, 3.0, 1.0 / 3.0]] * 3 + [[1.0, 2.0, 0.5]] * 2
SSD300_STEPS = [8, 16, 32, 64, 100, 300]
SSD7_SIZES = [(37, 60), (18, 30), (9, 15), (4, 7)]
SSD7_SCALES = [0.08, 0.16, 0.32, 0.64, 0.96]


def layer_anchors(layer: AnchorBoxes, feature_map_size, batch=2, channels=3) -> np.ndarray:
    x = np.zeros((batch, *feature_map_size, channels), np.float32)
    return np.asarray(layer(x))


# ----------------------------------------------------------------------------------------------
# Reference numbers


def test_ssd300_first_layer_reference_values():
    layer = AnchorBoxes(
        300,
        300,
        0.1,
        0.2,
        aspect_ratios=[1.0, 2.0, 0.5],
        this_steps=8,
        this_offsets=0.5,
        normalize_coords=True,
    )
    anchors = layer_anchors(layer, (38, 38))
    assert anchors.shape == (2, 38, 38, 4, 8)
    first = anchors[0, 0, 0, :, :4]
    np.testing.assert_allclose(first[:, :2], 8 * 0.5 / 300, rtol=1e-6)
    np.testing.assert_allclose(
        first[:, 2:],
        [[0.1, 0.1], [0.14142, 0.14142], [0.14142, 0.07071], [0.07071, 0.14142]],
        atol=1e-5,
    )
    np.testing.assert_array_equal(
        anchors[..., 4:], np.broadcast_to(np.float32([0.1, 0.1, 0.2, 0.2]), (2, 38, 38, 4, 4))
    )
    np.testing.assert_array_equal(anchors[0], anchors[1])


def test_ssd300_last_anchor_reference_value():
    layer = AnchorBoxes(
        300, 300, 0.88, 1.05, [1.0, 2.0, 0.5], this_steps=300, normalize_coords=True
    )
    np.testing.assert_allclose(
        layer_anchors(layer, (1, 1))[0, 0, 0, -1, :4], [0.5, 0.5, 0.62225, 1.24451], atol=1e-5
    )


def test_ssd7_first_layer_reference_values():
    layer = AnchorBoxes(300, 480, 0.08, 0.16, [0.5, 1.0, 2.0], variances=[1.0] * 4)
    anchors = layer_anchors(layer, (37, 60), batch=1)
    first = anchors[0, 0, 0]
    np.testing.assert_allclose(first[:, 0], 4.0, rtol=1e-6)  # step_w = 480 / 60 = 8
    np.testing.assert_allclose(first[:, 1], 300 / 37 / 2, rtol=1e-6)  # step_h = 8.1081
    np.testing.assert_allclose(
        first[:, 2:4], [[16.97, 33.94], [24, 24], [33.94, 33.94], [33.94, 16.97]], atol=0.01
    )
    np.testing.assert_allclose(anchors[0, 1, 0, 0, 1] - anchors[0, 0, 0, 0, 1], 300 / 37, rtol=1e-6)


def test_hand_computed_corners_offsets_and_clipping():
    # 2x2 map on a 100x80 image, one 40x40 box per cell, steps (30, 50), offsets (1, 0).
    boxes = anchor_boxes_for_layer(
        (2, 2),
        100,
        80,
        0.5,
        0.5,
        aspect_ratios=[1.0],
        two_boxes_for_ar1=False,
        this_steps=(30, 50),
        this_offsets=(1, 0),
        coords="corners",
    )
    centers = [[(0, 30), (50, 30)], [(0, 60), (50, 60)]]  # (cx, cy)
    expected = [[[cx - 20, cy - 20, cx + 20, cy + 20] for cx, cy in row] for row in centers]
    np.testing.assert_allclose(boxes[:, :, 0], expected)
    clipped = anchor_boxes_for_layer(
        (2, 2),
        100,
        80,
        0.5,
        0.5,
        aspect_ratios=[1.0],
        two_boxes_for_ar1=False,
        this_steps=(30, 50),
        this_offsets=(1, 0),
        coords="minmax",
        clip_boxes=True,
    )
    # x >= 80 -> 79, x < 0 -> 0 (minmax order: xmin, xmax, ymin, ymax)
    np.testing.assert_allclose(clipped[1, 1, 0], [30, 70, 40, 80])
    np.testing.assert_allclose(clipped[0, 0, 0], [0, 20, 10, 50])
    edge = anchor_boxes_for_layer(
        (1, 1), 10, 10, 1.0, 1.0, [1.0], False, coords="corners", clip_boxes=True
    )
    np.testing.assert_allclose(edge[0, 0, 0], [0, 0, 9, 9])


# ----------------------------------------------------------------------------------------------
# Same anchors as the encoder


@pytest.mark.parametrize("layer_index", range(6))
@pytest.mark.parametrize("clip_boxes", [False, True])
def test_ssd300_layers_match_encoder(layer_index, clip_boxes):
    encoder = SSDInputEncoder(
        300,
        300,
        20,
        SSD300_SIZES,
        scales=SSD300_SCALES,
        aspect_ratios_per_layer=SSD300_RATIOS,
        steps=SSD300_STEPS,
        offsets=[0.5] * 6,
        clip_boxes=clip_boxes,
        normalize_coords=True,
    )
    i = layer_index
    arguments = {"this_scale": SSD300_SCALES[i], "next_scale": SSD300_SCALES[i + 1]}
    expected = encoder.generate_anchor_boxes_for_layer(
        SSD300_SIZES[i], SSD300_RATIOS[i], this_steps=SSD300_STEPS[i], this_offsets=0.5, **arguments
    )
    layer = AnchorBoxes(
        300,
        300,
        aspect_ratios=SSD300_RATIOS[i],
        this_steps=SSD300_STEPS[i],
        this_offsets=0.5,
        clip_boxes=clip_boxes,
        normalize_coords=True,
        **arguments,
    )
    anchors = layer_anchors(layer, SSD300_SIZES[i], batch=1)[0]
    np.testing.assert_allclose(anchors[..., :4], expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("layer_index", range(4))
@pytest.mark.parametrize(
    ("coords", "normalize_coords"), [("centroids", False), ("minmax", True), ("corners", False)]
)
def test_ssd7_layers_match_encoder(layer_index, coords, normalize_coords):
    encoder = SSDInputEncoder(
        300,
        480,
        5,
        SSD7_SIZES,
        scales=SSD7_SCALES,
        aspect_ratios_global=[0.5, 1.0, 2.0],
        variances=[1.0] * 4,
        coords=coords,
        normalize_coords=normalize_coords,
    )
    i = layer_index
    expected = encoder.generate_anchor_boxes_for_layer(
        SSD7_SIZES[i], [0.5, 1.0, 2.0], SSD7_SCALES[i], SSD7_SCALES[i + 1]
    )
    layer = AnchorBoxes(
        300,
        480,
        SSD7_SCALES[i],
        SSD7_SCALES[i + 1],
        variances=[1.0] * 4,
        coords=coords,
        normalize_coords=normalize_coords,
    )
    anchors = layer_anchors(layer, SSD7_SIZES[i], batch=1)[0]
    np.testing.assert_allclose(anchors[..., :4], expected, rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(anchors[..., 4:], 1.0)


# ----------------------------------------------------------------------------------------------
# Layer behaviour


@pytest.mark.parametrize(
    ("aspect_ratios", "two_boxes_for_ar1", "n_boxes"),
    [
        ([0.5, 1.0, 2.0], True, 4),
        ([0.5, 1.0, 2.0], False, 3),
        ([2.0, 3.0], True, 2),
        ([1], True, 2),
    ],
)
def test_boxes_per_cell_and_output_shape(aspect_ratios, two_boxes_for_ar1, n_boxes):
    layer = AnchorBoxes(60, 80, 0.3, 0.5, aspect_ratios, two_boxes_for_ar1)
    assert layer.n_boxes == n_boxes
    shape = layer.compute_output_shape((None, 6, 7, 12))
    assert shape == (None, 6, 7, n_boxes, 8) and all(type(d) is int for d in shape[1:])
    assert tuple(layer(keras.Input((6, 7, 12))).shape) == (None, 6, 7, n_boxes, 8)
    assert layer_anchors(layer, (6, 7), batch=3).shape == (3, 6, 7, n_boxes, 8)
    assert layer.weights == []


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_serialization_round_trip_keeps_steps_and_offsets(tmp_path, suffix):
    arguments = {
        "img_height": 64,
        "img_width": 96,
        "this_scale": 0.3,
        "next_scale": 0.6,
        "aspect_ratios": [1.0, 3.0],
        "two_boxes_for_ar1": True,
        "this_steps": [12, 9],
        "this_offsets": [0.3, 0.6],
        "clip_boxes": True,
        "variances": [0.2, 0.3, 0.4, 0.5],
        "coords": "minmax",
        "normalize_coords": True,
    }
    inputs = keras.Input((64, 96, 3))
    loc = keras.layers.Conv2D(8, 3, strides=8, padding="same", name="loc")(inputs)
    model = keras.Model(inputs, AnchorBoxes(**arguments, name="anchors")(loc))
    images = np.random.default_rng(0).uniform(size=(2, 64, 96, 3)).astype(np.float32)
    expected = model.predict(images, verbose=0)

    model.save(tmp_path / f"anchors{suffix}")
    loaded = keras.models.load_model(tmp_path / f"anchors{suffix}", safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(images, verbose=0), expected)
    config = loaded.get_layer("anchors").get_config()
    assert {key: config[key] for key in arguments} == arguments
    # Default steps/offsets (what a config without them would rebuild) give other anchors.
    other = dict(arguments, this_steps=None, this_offsets=None)
    assert not np.allclose(layer_anchors(AnchorBoxes(**other), (8, 12)), expected)


def test_from_config_with_numpy_scalars_gives_plain_config():
    layer = AnchorBoxes(
        np.int64(300), 300, np.float64(0.2), np.float64(0.37), this_steps=np.int64(16)
    )
    config = layer.get_config()
    assert type(config["img_height"]) is int and type(config["this_scale"]) is float
    assert type(config["this_steps"]) is int
    clone = AnchorBoxes.from_config(config)
    np.testing.assert_array_equal(layer_anchors(clone, (19, 19)), layer_anchors(layer, (19, 19)))


# ----------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"this_scale": 1.5}, "this_scale=1.5"),
        ({"this_scale": -0.1}, "this_scale=-0.1"),
        ({"next_scale": -1}, "next_scale=-1"),
        ({"coords": "xywh"}, "coords='xywh'"),
        ({"variances": [0.1, 0.1, 0.2]}, r"variances=\[0.1, 0.1, 0.2\]"),
        ({"variances": [0.1, 0.1, 0.2, 0.0]}, "variances="),
        ({"aspect_ratios": [1.0, -2.0]}, "aspect_ratios="),
        ({"aspect_ratios": []}, r"aspect_ratios=\[\]"),
        ({"this_steps": "8"}, "this_steps='8'"),
        ({"this_steps": [8, 8, 8]}, r"this_steps=\[8, 8, 8\]"),
        ({"this_offsets": (0.5,)}, r"this_offsets=\(0.5,\)"),
    ],
)
def test_invalid_arguments(arguments, message):
    full = {"img_height": 300, "img_width": 300, "this_scale": 0.2, "next_scale": 0.4, **arguments}
    with pytest.raises(ValueError, match=message):
        AnchorBoxes(**full)


@pytest.mark.parametrize("shape", [(None, None, 8), (10, 8)])
def test_input_without_static_spatial_shape(shape):
    with pytest.raises(ValueError, match="input_shape"):
        AnchorBoxes(300, 300, 0.2, 0.4)(keras.Input(shape))


def test_docstring_examples_run():
    result = doctest.testmod(importlib.import_module("keras_layers.keras_layer_AnchorBoxes"))
    assert result.attempted > 0 and result.failed == 0
