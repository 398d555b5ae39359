"""Tests of apply_inverse_transforms."""

import numpy as np
import pytest

from data_generator.object_detection_2d_geometric_ops import Flip, Resize
from data_generator.object_detection_2d_misc_utils import apply_inverse_transforms
from data_generator.object_detection_2d_patch_sampling_ops import CropPad

IMAGE = np.zeros((40, 60, 3), dtype=np.uint8)
LABELS = np.array([[1, 12, 5, 30, 25], [2, 40, 10, 48, 30]])


def shift_x(amount):
    def inverter(predictions):
        out = predictions.copy()
        out[:, [2, 4]] += amount
        return out

    return inverter


def predictions(*rows):
    return np.array(rows, dtype=float).reshape(-1, 6)


def test_list_input_applies_inverters_in_order_and_skips_none():
    y = [predictions([1, 0.9, 1, 2, 3, 4]), predictions([2, 0.8, 5, 6, 7, 8])]

    def doubled(p):
        return p * np.array([1, 1, 2, 1, 2, 1])

    out = apply_inverse_transforms(y, [[shift_x(1), None, doubled], [doubled, shift_x(1)]])
    np.testing.assert_array_equal(out[0], [[1, 0.9, 4, 2, 8, 4]])  # (1 + 1) * 2
    np.testing.assert_array_equal(out[1], [[2, 0.8, 11, 6, 15, 8]])  # 5 * 2 + 1
    np.testing.assert_array_equal(y[0], [[1, 0.9, 1, 2, 3, 4]])  # inputs untouched


def test_array_input_and_empty_items():
    y = np.stack([predictions([1, 0.9, 1, 2, 3, 4])] * 2)
    out = apply_inverse_transforms(y, [[shift_x(10)], [None]])
    assert isinstance(out, np.ndarray)
    np.testing.assert_array_equal(out[:, 0, 2], [11, 1])
    np.testing.assert_array_equal(y[0, 0, 2], 1)
    empty = apply_inverse_transforms([np.zeros((0, 6))], [[shift_x(5)]])
    assert empty[0].shape == (0, 6)


def test_nested_inverter_lists_are_flattened():
    y = [predictions([1, 0.9, 1, 2, 3, 4])]
    out = apply_inverse_transforms(y, [[[shift_x(1), shift_x(2)], None, [shift_x(3)]]])
    np.testing.assert_array_equal(out[0][:, 2], [7])


def test_round_trip_through_crop_resize_and_flip():
    image, labels = IMAGE, LABELS
    inverters = []
    for transform in (CropPad(-5, 8, 45, 48, clip_boxes=False), Resize(90, 96), Flip()):
        image, labels, inverter = transform(image, labels, return_inverter=True)
        inverters.append(inverter)
    assert image.shape == (90, 96, 3)
    y_pred = [np.insert(labels.astype(float), 1, 0.75, axis=1)]
    restored = apply_inverse_transforms(y_pred, [inverters[::-1]])[0]
    np.testing.assert_array_equal(restored[:, :2], [[1, 0.75], [2, 0.75]])
    np.testing.assert_allclose(restored[:, 2:], LABELS[:, 1:], atol=1)


def test_bad_input():
    with pytest.raises(ValueError, match="tuple"):
        apply_inverse_transforms((np.zeros((1, 6)),), [[]])
    with pytest.raises(ValueError, match="1 items"):
        apply_inverse_transforms([np.zeros((1, 6))] * 2, [[]])
