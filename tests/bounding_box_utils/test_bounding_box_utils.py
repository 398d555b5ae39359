"""Tests for bounding_box_utils.bounding_box_utils."""

import itertools

import golden_replay
import numpy as np
import pytest

from bounding_box_utils.bounding_box_utils import (
    convert_coordinates,
    convert_coordinates2,
    intersection_area,
    intersection_area_,
    iou,
)

# The same three boxes written in every format: (xmin, ymin, xmax, ymax) = ...
CORNERS = np.array([[10.0, 20.0, 50.0, 80.0], [0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 15.0, 25.0]])
FORMATS = {
    "corners": CORNERS,
    "minmax": CORNERS[:, [0, 2, 1, 3]],
    "centroids": np.array(
        [[30.0, 50.0, 40.0, 60.0], [5.0, 5.0, 10.0, 10.0], [10.0, 15.0, 10.0, 20.0]]
    ),
}


@pytest.mark.parametrize("case", golden_replay.cases("bbu."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


@pytest.mark.parametrize(("source", "target"), list(itertools.permutations(FORMATS, 2)))
def test_every_format_pair_half(source, target):
    converted = convert_coordinates(FORMATS[source], 0, f"{source}2{target}")
    np.testing.assert_allclose(converted, FORMATS[target])


@pytest.mark.parametrize(("border_pixels", "d"), [("half", 0), ("include", 1), ("exclude", -1)])
@pytest.mark.parametrize("source", ["corners", "minmax"])
def test_border_pixels_change_only_sizes_into_centroids(border_pixels, d, source):
    centroids = convert_coordinates(FORMATS[source], 0, f"{source}2centroids", border_pixels)
    expected = FORMATS["centroids"] + np.array([0, 0, d, d])
    np.testing.assert_allclose(centroids, expected)
    # Out of centroids no correction applies.
    back = convert_coordinates(FORMATS["centroids"], 0, f"centroids2{source}", border_pixels)
    np.testing.assert_allclose(back, FORMATS[source])


def test_conversion_keeps_other_columns_and_supports_negative_start():
    rows = np.array([[7, 1, 10, 20, 50, 80], [9, 2, 0, 0, 10, 10]])  # class, conf, corners
    converted = convert_coordinates(rows, -4, "corners2centroids")
    assert converted.dtype == np.float64
    np.testing.assert_array_equal(converted[:, :2], rows[:, :2])
    np.testing.assert_allclose(converted[:, 2:], [[30, 50, 40, 60], [5, 5, 10, 10]])
    assert rows.dtype.kind == "i"  # input untouched


def test_conversion_of_higher_rank_tensor():
    batch = np.stack([FORMATS["minmax"], FORMATS["minmax"] + 1.0])[..., None, :]  # (2, 3, 1, 4)
    converted = convert_coordinates(batch, 0, "minmax2corners")
    np.testing.assert_allclose(converted[0, :, 0], CORNERS)
    np.testing.assert_allclose(converted[1, :, 0], CORNERS[:, [0, 1, 2, 3]] + 1.0)


@pytest.mark.parametrize("conversion", ["minmax2centroids", "centroids2minmax"])
def test_matrix_variant_matches_direct_conversion(conversion):
    rng = np.random.default_rng(0)
    boxes = rng.uniform(0, 100, size=(5, 7, 6))
    np.testing.assert_allclose(
        convert_coordinates2(boxes, 1, conversion), convert_coordinates(boxes, 1, conversion)
    )


def test_unknown_conversion_and_border_pixels_name_the_argument():
    with pytest.raises(ValueError, match="conversion.*'corners2corners'"):
        convert_coordinates(CORNERS, 0, "corners2corners")
    with pytest.raises(ValueError, match="border_pixels.*'inner'"):
        convert_coordinates(CORNERS, 0, "corners2centroids", border_pixels="inner")
    with pytest.raises(ValueError, match="conversion"):
        convert_coordinates2(CORNERS, 0, "corners2centroids")
    with pytest.raises(ValueError, match="start_index"):
        convert_coordinates(CORNERS, 2, "corners2centroids")
    with pytest.raises(ValueError, match="border_pixels"):
        iou(CORNERS, CORNERS, coords="corners", border_pixels="all")


def test_intersection_area_hand_computed():
    # Box 0 and box 2 overlap on x in [10, 15], y in [20, 25]: 5 x 5 = 25.
    expected = np.array([[2400.0, 0.0, 25.0], [0.0, 100.0, 25.0], [25.0, 25.0, 200.0]])
    for coords, boxes in FORMATS.items():
        np.testing.assert_allclose(intersection_area(boxes, boxes, coords=coords), expected)
    # 'include' adds one pixel to every side: 6 x 6 = 36 for the small overlap.
    include = intersection_area(CORNERS, CORNERS, coords="corners", border_pixels="include")
    assert include[0, 2] == 36.0
    assert include[0, 0] == 41 * 61
    exclude = intersection_area(CORNERS, CORNERS, coords="corners", border_pixels="exclude")
    assert exclude[0, 2] == 16.0


def test_element_wise_and_broadcasting():
    shifted = CORNERS + np.array([5.0, 0.0, 5.0, 0.0])
    areas = intersection_area(CORNERS, shifted, coords="corners", mode="element-wise")
    np.testing.assert_allclose(areas, [35 * 60, 5 * 10, 5 * 20])
    one = intersection_area(CORNERS[1], CORNERS, coords="corners", mode="element-wise")
    np.testing.assert_allclose(one, [0.0, 100.0, 25.0])
    assert intersection_area(CORNERS[1], CORNERS, coords="corners").shape == (1, 3)


def test_unchecked_variant_equals_checked():
    for coords in ("corners", "minmax"):
        np.testing.assert_allclose(
            intersection_area_(FORMATS[coords], FORMATS[coords], coords=coords),
            intersection_area(FORMATS[coords], FORMATS[coords], coords=coords),
        )


@pytest.mark.parametrize("coords", list(FORMATS))
@pytest.mark.parametrize("mode", ["outer_product", "element-wise"])
def test_iou_every_coords_mode_pair(coords, mode):
    boxes = FORMATS[coords]
    result = iou(boxes, boxes[[2, 1, 0]], coords=coords, mode=mode)
    full = np.array([[1.0, 0.0, 25 / 2575], [0.0, 1.0, 25 / 275], [25 / 2575, 25 / 275, 1.0]])
    expected = full[:, [2, 1, 0]] if mode == "outer_product" else full[[0, 1, 2], [2, 1, 0]]
    np.testing.assert_allclose(result, expected)


def test_iou_border_pixel_asymmetry_is_kept():
    box = np.array([0.0, 0.0, 10.0, 10.0])
    assert iou(box, box, coords="corners", border_pixels="half")[0, 0] == 1.0
    # The intersection stays 100 while each area becomes 11 x 11 = 121.
    np.testing.assert_allclose(
        iou(box, box, coords="corners", border_pixels="include")[0, 0], 100 / 142
    )
    assert round(float(iou(box, box, coords="corners", border_pixels="include")[0, 0]), 3) == 0.704


def test_iou_integer_boxes_and_zero_union():
    boxes = np.array([[0, 0, 4, 4], [2, 2, 6, 6]])
    np.testing.assert_allclose(iou(boxes, boxes, coords="corners")[0, 1], 4 / 28)
    point = np.array([3.0, 3.0, 3.0, 3.0])
    assert np.isnan(iou(point, point, coords="corners")[0, 0])


@pytest.mark.parametrize("function", [iou, intersection_area])
def test_bad_arguments(function):
    with pytest.raises(ValueError, match="rank"):
        function(np.zeros((1, 2, 4)), CORNERS)
    with pytest.raises(ValueError, match="4 coordinates"):
        function(np.zeros((2, 5)), CORNERS)
    with pytest.raises(ValueError, match="mode.*'elementwise'"):
        function(CORNERS, CORNERS, mode="elementwise")
    with pytest.raises(ValueError, match="coords.*'xywh'"):
        function(CORNERS, CORNERS, coords="xywh")
