"""Tests of the geometric ops: fixed parameters, random variants, inverters, bad input."""

# The library draws from numpy's global RNG by contract (seeded runs reproduce the original),
# so the tests seed and read that RNG.
# ruff: noqa: NPY002

import pickle
import random

import cv2
import numpy as np
import pytest

from data_generator import object_detection_2d_geometric_ops as geo
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoxFilter,
    ImageValidator,
)

H, W = 40, 60
IMAGE = np.random.default_rng(1).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
LABELS = np.array([[1, 10, 5, 30, 25], [2, 40, 20, 58, 38]])


def predictions_from(labels):
    """Decoded-prediction layout: a confidence column inserted at index 1."""
    return np.insert(labels.astype(float), 1, 0.9, axis=1)


def test_flip_horizontal_known_box_and_pixels():
    image, labels = geo.Flip("horizontal")(IMAGE, LABELS)
    np.testing.assert_array_equal(image, IMAGE[:, ::-1])
    np.testing.assert_array_equal(labels, [[1, 30, 5, 50, 25], [2, 2, 20, 20, 38]])


def test_flip_vertical_known_box():
    image, labels = geo.Flip("vertical")(IMAGE, LABELS)
    np.testing.assert_array_equal(image, IMAGE[::-1])
    np.testing.assert_array_equal(labels, [[1, 10, 15, 30, 35], [2, 40, 2, 58, 20]])


@pytest.mark.parametrize("dim", ["horizontal", "vertical"])
def test_flip_returns_an_inverter(dim):
    image, labels, inverter = geo.Flip(dim)(IMAGE, LABELS, return_inverter=True)
    np.testing.assert_array_equal(inverter(predictions_from(labels)), predictions_from(LABELS))
    image_only, inverter = geo.Flip(dim)(IMAGE, return_inverter=True)
    np.testing.assert_array_equal(image_only, image)
    assert pickle.loads(pickle.dumps(inverter)).size == inverter.size


def test_random_flip_inverter_is_identity_when_not_flipped():
    flip = geo.RandomFlip(prob=0.0)
    _, labels, inverter = flip(IMAGE, LABELS, return_inverter=True)
    np.testing.assert_array_equal(labels, LABELS)
    np.testing.assert_array_equal(inverter(predictions_from(LABELS)), predictions_from(LABELS))


def test_random_flip_fires_like_the_original():
    flip = geo.RandomFlip(prob=0.5)
    for seed in range(20):
        np.random.seed(seed)
        _, labels = flip(IMAGE, LABELS)
        np.random.seed(seed)
        fired = np.random.uniform(0, 1) >= 0.5
        expected = geo.Flip()(IMAGE, LABELS)[1] if fired else LABELS
        np.testing.assert_array_equal(labels, expected)


def test_resize_scales_and_rounds_boxes():
    image, labels = geo.Resize(20, 90)(IMAGE, LABELS)
    assert image.shape == (20, 90, 3)
    # y * 0.5, x * 1.5, rounded half to even.
    np.testing.assert_array_equal(labels, [[1, 15, 2, 45, 12], [2, 60, 10, 87, 19]])


def test_resize_inverter_maps_predictions_back_with_rounding():
    _, labels, inverter = geo.Resize(30, 45)(IMAGE, LABELS, return_inverter=True)
    inverted = inverter(predictions_from(labels))
    np.testing.assert_array_equal(inverted[:, :2], predictions_from(LABELS)[:, :2])
    np.testing.assert_allclose(inverted[:, 2:], LABELS[:, 1:], atol=1.5)
    assert np.all(inverted[:, 2:] == np.round(inverted[:, 2:]))  # rounded, as the original
    preds = np.array([[1, 0.5, 3.0, 3.0, 33.0, 27.0]])
    np.testing.assert_array_equal(inverter(preds), [[1, 0.5, 4, 4, 44, 36]])


def test_resize_applies_box_filter_for_the_output_size():
    box_filter = BoxFilter(check_overlap=False, min_area=25)
    _, labels = geo.Resize(10, 15, box_filter=box_filter)(IMAGE, LABELS)
    # Box 1 becomes (2, 1, 8, 6): 30 square pixels; box 2 (10, 5, 14, 10): 20, dropped.
    np.testing.assert_array_equal(labels, [[1, 2, 1, 8, 6]])


def test_resize_keeps_a_single_channel_axis():
    image = geo.Resize(10, 10)(IMAGE[:, :, :1])
    assert image.shape == (10, 10, 1)


def test_resize_random_interp_draws_a_mode():
    resize = geo.ResizeRandomInterp(20, 30, interpolation_modes=(cv2.INTER_NEAREST, cv2.INTER_AREA))
    for seed in range(10):
        np.random.seed(seed)
        image, _, _ = resize(IMAGE, LABELS, return_inverter=True)
        np.random.seed(seed)
        mode = resize.draw_params()["interpolation_mode"]
        np.testing.assert_array_equal(image, cv2.resize(IMAGE, (30, 20), interpolation=mode))


def test_translate_by_known_pixels():
    translate = geo.Translate(dy=0.1, dx=-0.05, clip_boxes=False, background=(1, 2, 3))
    image, labels = translate(IMAGE, LABELS)  # shift 4 rows down, 3 columns left
    np.testing.assert_array_equal(image[4:, : W - 3], IMAGE[: H - 4, 3:])
    assert (image[:4] == [1, 2, 3]).all() and (image[:, W - 3 :] == [1, 2, 3]).all()
    np.testing.assert_array_equal(labels, [[1, 7, 9, 27, 29], [2, 37, 24, 55, 42]])


def test_translate_filters_before_clipping():
    box_filter = BoxFilter(overlap_criterion="area", overlap_bounds=(0.5, 1.0))
    translate = geo.Translate(dy=0.25, dx=0.0, box_filter=box_filter)
    _, labels = translate(IMAGE, LABELS)
    # Box 2 moves to y 30..48: 9 of 18 rows inside [0, 39] -> exactly half, kept, then clipped.
    np.testing.assert_array_equal(labels, [[1, 10, 15, 30, 35], [2, 40, 30, 58, 39]])


def test_scale_maps_corners_about_the_centre():
    image, labels = geo.Scale(2.0, clip_boxes=False)(IMAGE, LABELS)
    # x' = 2 (x - 30) + 30, y' = 2 (y - 20) + 20
    np.testing.assert_array_equal(labels, [[1, -10, -10, 30, 30], [2, 50, 20, 86, 56]])
    np.testing.assert_array_equal(image[20, 30], IMAGE[20, 30])
    _, clipped = geo.Scale(2.0)(IMAGE, LABELS)
    np.testing.assert_array_equal(clipped, [[1, 0, 0, 30, 30], [2, 50, 20, 59, 39]])


def test_scale_down_fills_the_border_with_background():
    image = geo.Scale(0.5, background=(9, 9, 9))(IMAGE)
    assert (image[:5] == 9).all() and (image[:, :10] == 9).all()


@pytest.mark.parametrize(
    ("angle", "rot90_k", "shift", "expected"),
    [
        # CCW by 90: (x, y) -> (y, W - x); by 180: (W - x, H - y); by 270: (H - y, x).
        (90, 1, (1, 0), [[1, 5, 30, 25, 50], [2, 20, 2, 38, 20]]),
        (180, 2, (1, 1), [[1, 30, 15, 50, 35], [2, 2, 2, 20, 20]]),
        (270, 3, (0, 1), [[1, 15, 10, 35, 30], [2, 2, 40, 20, 58]]),
    ],
)
def test_rotate_right_angles(angle, rot90_k, shift, expected):
    image, labels = geo.Rotate(angle)(IMAGE, LABELS)
    np.testing.assert_array_equal(labels, expected)
    # Pixel i maps to W - i (box coordinates count pixel borders), one beyond np.rot90's
    # W - 1 - i: the image is np.rot90 moved by one pixel, with a black first row/column.
    dy, dx = shift
    rotated = np.rot90(IMAGE, rot90_k)
    assert image.shape == rotated.shape
    np.testing.assert_array_equal(
        image[dy:, dx:], rotated[: rotated.shape[0] - dy, : rotated.shape[1] - dx]
    )
    assert (image[:dy] == 0).all() and (image[:, :dx] == 0).all()


def test_random_rotate_uses_python_random():
    rotate = geo.RandomRotate(angles=(90, 270), prob=1.0)
    np.random.seed(0)
    random.seed(5)
    _, labels = rotate(IMAGE, LABELS)
    random.seed(5)
    angle = random.choice((90, 270))
    np.testing.assert_array_equal(labels, geo.Rotate(angle)(IMAGE, LABELS)[1])


@pytest.mark.parametrize(
    ("random_op", "deterministic"),
    [
        (geo.RandomTranslate(prob=0.7), lambda p: geo.Translate(dy=p["dy_rel"], dx=p["dx_rel"])),
        (geo.RandomScale(prob=0.7), lambda p: geo.Scale(**p)),
    ],
)
def test_random_translate_and_scale_apply_drawn_params(random_op, deterministic):
    for seed in range(15):
        np.random.seed(seed)
        image, labels = random_op(IMAGE, LABELS)
        np.random.seed(seed)
        if np.random.uniform(0, 1) >= 1 - random_op.prob:
            expected_image, expected_labels = deterministic(random_op.draw_params())(IMAGE, LABELS)
        else:
            expected_image, expected_labels = IMAGE, LABELS
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(labels, expected_labels)


def test_random_translate_tries_until_the_validator_accepts():
    validator = ImageValidator(overlap_criterion="area", bounds=(1.0, 1.0), n_boxes_min="all")
    translate = geo.RandomTranslate(
        (0.0, 0.2), (0.0, 0.2), prob=1.0, image_validator=validator, n_trials_max=5
    )
    accepted = 0
    for seed in range(30):
        np.random.seed(seed)
        _, labels = translate(IMAGE, LABELS)
        inside = validator(labels, H, W)
        assert inside  # either an accepted shift or the unchanged input
        accepted += not np.array_equal(labels, LABELS)
    assert accepted > 0


def test_random_scale_gives_up_after_n_trials():
    never = ImageValidator(overlap_criterion="iou", bounds=(0.99, 1.0))
    scale = geo.RandomScale(prob=1.0, image_validator=never, n_trials_max=4)
    np.random.seed(2)
    image, labels = scale(IMAGE, LABELS)
    np.testing.assert_array_equal(image, IMAGE)
    np.testing.assert_array_equal(labels, LABELS)
    after = np.random.uniform()
    np.random.seed(2)
    [np.random.uniform() for _ in range(5)]  # the trigger and four factors
    assert np.random.uniform() == after


@pytest.mark.parametrize(
    "op",
    [
        geo.Resize(20, 30),
        geo.ResizeRandomInterp(20, 30),
        geo.Flip(),
        geo.RandomFlip(prob=1.0),
        geo.Translate(0.1, 0.1),
        geo.RandomTranslate(prob=1.0, image_validator=ImageValidator()),
        geo.Scale(1.2),
        geo.RandomScale(prob=1.0, image_validator=ImageValidator()),
        geo.Rotate(90),
        geo.RandomRotate(prob=1.0),
    ],
    ids=lambda op: type(op).__name__,
)
def test_label_less_calls_and_float_images(op):
    np.random.seed(0)
    out = op(IMAGE)
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8
    floats = op(IMAGE.astype(np.float32))
    assert floats.dtype == np.float32
    _, labels = op(IMAGE, np.zeros((0, 5)))
    assert labels.shape == (0, 5)


@pytest.mark.parametrize(
    ("factory", "name", "value"),
    [
        (lambda: geo.Resize(10, 10, box_filter=3), "box_filter", "3"),
        (lambda: geo.Resize(0, 10), "height", "0"),
        (lambda: geo.Resize(10, None), "width", "None"),
        (lambda: geo.ResizeRandomInterp(10, 10, interpolation_modes=1), "interpolation_modes", "1"),
        (lambda: geo.Flip(dim="diagonal"), "dim", "'diagonal'"),
        (lambda: geo.RandomFlip(prob=2), "prob", "2"),
        (lambda: geo.Translate(0.1, 0.1, box_filter="f"), "box_filter", "'f'"),
        (lambda: geo.RandomTranslate(dy_minmax=(0.3, 0.1)), "dy_minmax", "0.3"),
        (lambda: geo.RandomTranslate(dx_minmax=(-0.1, 0.1)), "dx_minmax", "-0.1"),
        (lambda: geo.RandomTranslate(image_validator=1), "image_validator", "1"),
        (lambda: geo.Scale(0), "factor", "0"),
        (lambda: geo.RandomScale(min_factor=2, max_factor=1), "min_factor", "2"),
        (lambda: geo.Rotate(45), "angle", "45"),
        (lambda: geo.RandomRotate(angles=(90, 30)), "angles", "30"),
    ],
)
def test_bad_arguments(factory, name, value):
    with pytest.raises(ValueError, match=name) as info:
        factory()
    assert value in str(info.value)
