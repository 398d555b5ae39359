"""Tests of the photometric ops with fixed parameters, their random variants and bad input."""

# The library draws from numpy's global RNG by contract (seeded runs reproduce the original),
# so the tests seed and read that RNG.
# ruff: noqa: NPY002

import cv2
import numpy as np
import pytest

from data_generator import object_detection_2d_photometric_ops as ops

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(12, 16, 3), dtype=np.uint8)
HSV = cv2.cvtColor(RGB, cv2.COLOR_RGB2HSV)
LABELS = np.array([[1, 2, 3, 10, 11]])


def test_convert_color_round_trip_and_same_space():
    back = ops.ConvertColor("HSV", "RGB")(ops.ConvertColor("RGB", "HSV")(RGB))
    assert np.abs(back.astype(int) - RGB).max() <= 8  # 8-bit HSV quantisation
    image, labels = ops.ConvertColor("RGB", "RGB")(RGB, LABELS)
    np.testing.assert_array_equal(image, RGB)
    np.testing.assert_array_equal(labels, LABELS)


def test_convert_color_to_gray_from_rgb_and_hsv():
    gray = ops.ConvertColor("RGB", "GRAY", keep_3ch=False)(RGB)
    np.testing.assert_array_equal(gray, cv2.cvtColor(RGB, cv2.COLOR_RGB2GRAY))
    stacked = ops.ConvertColor("RGB", "GRAY")(RGB)
    assert stacked.shape == (12, 16, 3)
    np.testing.assert_array_equal(stacked[:, :, 2], gray)
    # The original crashed here (OpenCV has no HSV2GRAY code): HSV goes through RGB.
    from_hsv = ops.ConvertColor("HSV", "GRAY", keep_3ch=False)(HSV)
    expected = cv2.cvtColor(cv2.cvtColor(HSV, cv2.COLOR_HSV2RGB), cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(from_hsv, expected)


def test_convert_color_float64_is_computed_in_float32():
    image = RGB.astype(np.float64)
    out = ops.ConvertColor("RGB", "HSV")(image)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, cv2.cvtColor(RGB.astype(np.float32), cv2.COLOR_RGB2HSV))


def test_convert_color_unsupported_pair():
    with pytest.raises(NotImplementedError, match="'LAB'"):
        ops.ConvertColor("LAB", "RGB")


def test_convert_data_type_rounds_half_to_even_and_clips():
    image = np.array([[[0.5, 1.5, 2.5], [254.5, 300.0, -3.0]]], dtype=np.float32)
    out = ops.ConvertDataType("uint8")(image)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, [[[0, 2, 2], [254, 255, 0]]])
    assert ops.ConvertDataType("float32")(RGB).dtype == np.float32
    with pytest.raises(ValueError, match="'float64'"):
        ops.ConvertDataType("float64")


@pytest.mark.parametrize(
    ("shape", "expected"), [((4, 5), (4, 5, 3)), ((4, 5, 1), (4, 5, 3)), ((4, 5, 4), (4, 5, 3))]
)
def test_convert_to_3_channels(shape, expected):
    image = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape)
    out = ops.ConvertTo3Channels()(image)
    assert out.shape == expected
    np.testing.assert_array_equal(out[..., 0], image if image.ndim == 2 else image[..., 0])


def test_hue_shift_wraps_and_keeps_dtype():
    image = np.zeros((1, 3, 3), dtype=np.float32)
    image[0, :, 0] = [10, 170, 179.5]
    out = ops.Hue(20)(image)
    np.testing.assert_allclose(out[0, :, 0], [30, 10, 19.5])
    assert image[0, 1, 0] == 170  # the input is not modified
    out_u8 = ops.Hue(-15)(np.array([[[5, 7, 9]]], dtype=np.uint8))
    assert out_u8.dtype == np.uint8
    np.testing.assert_array_equal(out_u8, [[[170, 7, 9]]])


def test_saturation_scales_channel_1_only():
    image = np.array([[[10, 100, 30], [10, 200, 30]]], dtype=np.float32)
    out = ops.Saturation(1.5)(image)
    np.testing.assert_allclose(out, [[[10, 150, 30], [10, 255, 30]]])
    out_u8 = ops.Saturation(0.55)(image.astype(np.uint8))
    np.testing.assert_array_equal(out_u8, [[[10, 55, 30], [10, 110, 30]]])


def test_brightness_and_contrast_float_and_uint8():
    image = np.array([[[0, 100, 250]]], dtype=np.uint8)
    bright = ops.Brightness(10)(image)
    assert bright.dtype == np.float32  # no uint8 wrap-around (250 + 10)
    np.testing.assert_array_equal(bright, [[[10, 110, 255]]])
    out = ops.Brightness(-20.5)(image.astype(np.float64))
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [[[0, 79.5, 229.5]]])
    contrast = ops.Contrast(2.0)(image)
    np.testing.assert_array_equal(contrast, [[[0, 72.5, 255]]])


def test_gamma_table_and_float_formula():
    gamma = ops.Gamma(2.0)
    expected = ((np.arange(256) / 255.0) ** 0.5 * 255).astype(np.uint8)
    np.testing.assert_array_equal(gamma.table, expected)
    out, labels = gamma(RGB, LABELS)  # the original raised NameError here
    np.testing.assert_array_equal(out, expected[RGB])
    np.testing.assert_array_equal(labels, LABELS)
    floats = gamma(RGB.astype(np.float32))
    assert floats.dtype == np.float32
    np.testing.assert_allclose(floats, 255 * (RGB / 255.0) ** 0.5, rtol=1e-5)
    gamma.gamma = 1.0
    np.testing.assert_array_equal(gamma(RGB), RGB)


def test_histogram_equalization_on_value_channel():
    out = ops.HistogramEqualization()(HSV)
    np.testing.assert_array_equal(out[:, :, :2], HSV[:, :, :2])
    np.testing.assert_array_equal(
        out[:, :, 2], cv2.equalizeHist(np.ascontiguousarray(HSV[:, :, 2]))
    )
    floats = ops.HistogramEqualization()(HSV.astype(np.float32))
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(floats, out)


def test_channel_swap():
    image, labels = ops.ChannelSwap((2, 0, 1))(RGB, LABELS)
    np.testing.assert_array_equal(image, RGB[:, :, [2, 0, 1]])
    np.testing.assert_array_equal(labels, LABELS)
    with pytest.raises(ValueError, match="order"):
        ops.ChannelSwap("bgr")


RANDOM_CASES = [
    (ops.RandomHue(max_delta=30, prob=0.6), ops.Hue, HSV.astype(np.float32)),
    (ops.RandomSaturation(0.5, 1.5, prob=0.6), ops.Saturation, HSV.astype(np.float32)),
    (ops.RandomBrightness(-40, 40, prob=0.6), ops.Brightness, RGB.astype(np.float32)),
    (ops.RandomContrast(0.5, 1.5, prob=0.6), ops.Contrast, RGB.astype(np.float32)),
    (ops.RandomGamma(0.5, 2.0, prob=0.6), ops.Gamma, RGB),
    (ops.RandomHistogramEqualization(prob=0.6), ops.HistogramEqualization, HSV),
    (ops.RandomChannelSwap(prob=0.6), ops.ChannelSwap, RGB),
]


@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda case: type(case[0]).__name__)
def test_random_op_equals_deterministic_op_with_drawn_params(case):
    random_op, deterministic, image = case
    fired_count = 0
    for seed in range(30):
        np.random.seed(seed)
        out, labels = random_op(image.copy(), LABELS)
        next_draw = np.random.uniform()
        np.random.seed(seed)
        fired = np.random.uniform(0, 1) >= 1 - random_op.prob
        expected = image
        if fired:
            expected = deterministic(**random_op.draw_params())(image)
        fired_count += fired
        assert np.random.uniform() == next_draw  # same number of draws as the original
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(labels, LABELS)
    assert 0 < fired_count < 30


@pytest.mark.parametrize("case", RANDOM_CASES, ids=lambda case: type(case[0]).__name__)
def test_random_op_probability_extremes(case):
    random_op, _, image = case
    random_op.prob = 0.0
    np.testing.assert_array_equal(random_op(image), image)
    random_op.prob = 1.0
    np.random.seed(0)
    out = random_op(image)
    random_op.prob = 0.6
    assert out.shape[:2] == image.shape[:2]


def test_random_channel_swap_never_keeps_the_order():
    swap = ops.RandomChannelSwap(prob=1.0)
    np.random.seed(1)
    orders = {swap.draw_params()["order"] for _ in range(200)}
    assert orders == set(swap.permutations)


@pytest.mark.parametrize(
    ("factory", "name", "value"),
    [
        (lambda: ops.Hue(delta=181), "delta", "181"),
        (lambda: ops.RandomHue(max_delta=-1), "max_delta", "-1"),
        (lambda: ops.RandomHue(prob=1.5), "prob", "1.5"),
        (lambda: ops.Saturation(0), "factor", "0"),
        (lambda: ops.RandomSaturation(2.0, 1.0), "lower", "2.0"),
        (lambda: ops.RandomBrightness(5, 5), "lower", "5"),
        (lambda: ops.Contrast(-1), "factor", "-1"),
        (lambda: ops.RandomContrast(1.5, 0.5), "lower", "1.5"),
        (lambda: ops.Gamma(0), "gamma", "0"),
        (lambda: ops.RandomGamma(0.0, 1.0), "lower", "0.0"),
        (lambda: ops.RandomHistogramEqualization(prob=-0.1), "prob", "-0.1"),
        (lambda: ops.RandomChannelSwap(prob=2), "prob", "2"),
    ],
)
def test_bad_arguments(factory, name, value):
    with pytest.raises(ValueError, match=name) as info:
        factory()
    assert value in str(info.value)
