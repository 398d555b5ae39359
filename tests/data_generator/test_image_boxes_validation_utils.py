"""Tests of BoundGenerator, BoxFilter and ImageValidator."""

# The library draws from numpy's global RNG by contract (seeded runs reproduce the original),
# so the tests seed and read that RNG.
# ruff: noqa: NPY002

import itertools

import numpy as np
import pytest

from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoundGenerator,
    BoxFilter,
    ImageValidator,
)

H, W = 300, 480
D = {"half": 0, "include": 1, "exclude": -1}


def boxes(*rows):
    """Labels (class_id, xmin, ymin, xmax, ymax), class ids numbered from 1."""
    return np.array([[i + 1, *row] for i, row in enumerate(rows)])


def reference_keep(row, criterion, bounds, border, check_min_area=True, min_area=16):
    """Slow per-box statement of the original's BoxFilter rules."""
    _, xmin, ymin, xmax, ymax = (float(v) for v in row)
    if not (xmax > xmin and ymax > ymin):
        return False
    if check_min_area and (xmax - xmin) * (ymax - ymin) < min_area:
        return False
    lower, upper = bounds
    d = D[border]
    if criterion == "center_point":
        cx, cy = (xmin + xmax) / 2, (ymin + ymax) / 2
        return 0 <= cx <= W - 1 and 0 <= cy <= H - 1
    area = (xmax - xmin + d) * (ymax - ymin + d)
    if criterion == "iou":
        inter = max(0.0, min(xmax, W) - max(xmin, 0)) * max(0.0, min(ymax, H) - max(ymin, 0))
        union = area + (W + d) * (H + d) - inter
        return lower < inter / union <= upper
    cx0, cx1 = min(max(xmin, 0), W - 1), min(max(xmax, 0), W - 1)
    cy0, cy1 = min(max(ymin, 0), H - 1), min(max(ymax, 0), H - 1)
    inside = (cx1 - cx0 + d) * (cy1 - cy0 + d)
    above = inside > lower * area if lower == 0 else inside >= lower * area
    return above and inside <= upper * area


@pytest.mark.parametrize(
    ("criterion", "bounds", "border"),
    list(
        itertools.product(
            ["center_point", "iou", "area"],
            [(0.0, 1.0), (0.3, 1.0), (0.5, 0.9), (1.0, 1.0)],
            ["half", "include", "exclude"],
        )
    ),
)
def test_box_filter_matches_reference(criterion, bounds, border):
    rng = np.random.default_rng(7)
    xs = np.sort(rng.integers(-200, W + 200, size=(300, 2)), axis=1)
    ys = np.sort(rng.integers(-150, H + 150, size=(300, 2)), axis=1)
    labels = np.column_stack([np.arange(300), xs[:, 0], ys[:, 0], xs[:, 1], ys[:, 1]])
    labels[:20, [1, 3]] = labels[:20, [3, 1]]  # some inverted boxes
    box_filter = BoxFilter(overlap_criterion=criterion, overlap_bounds=bounds, border_pixels=border)
    kept = box_filter(labels, H, W)
    expected = [row for row in labels if reference_keep(row, criterion, bounds, border)]
    np.testing.assert_array_equal(kept, np.array(expected).reshape(-1, 5))


def test_box_filter_hand_checked_values():
    labels = boxes(
        (10, 10, 14, 14),  # area exactly 16: kept
        (10, 10, 13, 15),  # area 15: dropped
        (10, 10, 10, 50),  # zero width: dropped
        (470, 10, 490, 30),  # centre x = 480 > W-1: dropped by center_point
        (459, 10, 499, 30),  # centre x = 479 = W-1: kept
    )
    kept = BoxFilter(overlap_criterion="center_point")(labels, H, W)
    np.testing.assert_array_equal(kept[:, 0], [1, 5])


def test_box_filter_area_bound_is_inclusive_and_zero_lower_is_strict():
    # 20x10 box with 10x10 inside the image: inside/area = 0.5 ('half': clip to W-1 = 479).
    labels = boxes((469, 0, 489, 10), (600, 0, 620, 10))
    half = BoxFilter(check_min_area=False, overlap_criterion="area", overlap_bounds=(0.5, 1.0))
    np.testing.assert_array_equal(half(labels, H, W)[:, 0], [1])
    above = BoxFilter(check_min_area=False, overlap_criterion="area", overlap_bounds=(0.51, 1.0))
    assert above(labels, H, W).shape == (0, 5)
    zero = BoxFilter(check_min_area=False, overlap_criterion="area", overlap_bounds=(0.0, 1.0))
    np.testing.assert_array_equal(zero(labels, H, W)[:, 0], [1])  # no area inside: dropped


def test_box_filter_iou_with_hand_computed_value():
    # A box covering the left half of the image: IoU = 0.5 exactly.
    labels = boxes((0, 0, W // 2, H))
    at = BoxFilter(overlap_criterion="iou", overlap_bounds=(0.49, 0.5))
    assert len(at(labels, H, W)) == 1
    above = BoxFilter(overlap_criterion="iou", overlap_bounds=(0.5, 1.0))
    assert len(above(labels, H, W)) == 0


def test_box_filter_with_bound_generator_draws_once_per_call():
    labels = boxes((0, 0, W // 2, H))
    box_filter = BoxFilter(
        overlap_criterion="iou", overlap_bounds=BoundGenerator(((0.6, None), (None, None)))
    )
    np.random.seed(3)
    results = [len(box_filter(labels, H, W)) for _ in range(20)]
    np.random.seed(3)
    draws = [np.random.choice(2, p=[0.5, 0.5]) for _ in range(20)]
    assert results == [1 if draw == 1 else 0 for draw in draws]


def test_box_filter_respects_labels_format():
    labels = boxes((10, 10, 14, 14), (10, 10, 13, 15), (470, 10, 490, 30), (-5, -5, 100, 100))
    permuted = labels[:, [1, 3, 2, 4, 0]]  # xmin, xmax, ymin, ymax, class_id
    fmt = {"class_id": 4, "xmin": 0, "xmax": 1, "ymin": 2, "ymax": 3}
    for criterion in ("center_point", "area", "iou"):
        default = BoxFilter(overlap_criterion=criterion)(labels, H, W)
        other = BoxFilter(overlap_criterion=criterion, labels_format=fmt)(permuted, H, W)
        np.testing.assert_array_equal(other, default[:, [1, 3, 2, 4, 0]])


def test_box_filter_empty_labels_and_copy():
    box_filter = BoxFilter()
    assert box_filter(np.zeros((0, 5)), H, W).shape == (0, 5)
    assert box_filter(np.array([]), H, W).shape == (0, 5)
    labels = boxes((10, 10, 50, 50))
    kept = box_filter(labels, H, W)
    kept[0, 1] = 99
    assert labels[0, 1] == 10


def test_box_filter_without_overlap_check_needs_no_image_size():
    labels = boxes((10, 10, 50, 50), (10, 10, 5, 50))
    kept = BoxFilter(check_overlap=False, check_min_area=False)(labels)
    np.testing.assert_array_equal(kept[:, 0], [1])
    with pytest.raises(ValueError, match="image_height"):
        BoxFilter()(labels)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"overlap_bounds": 0.3}, "overlap_bounds"),
        ({"overlap_bounds": (0.8, 0.2)}, "overlap_bounds"),
        ({"overlap_criterion": "centre"}, "overlap_criterion"),
        ({"border_pixels": "all"}, "border_pixels"),
        ({"labels_format": {"xmin": 1}}, "labels_format"),
    ],
)
def test_box_filter_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name) as info:
        BoxFilter(**kwargs)
    assert repr(next(iter(kwargs.values())))[:4] in str(info.value)


def test_bound_generator_defaults_and_draws():
    generator = BoundGenerator()
    assert generator.sample_space[-1] == [0.0, 1.0]
    assert generator.sample_space[0] == [0.1, 1.0]
    np.random.seed(11)
    drawn = [generator() for _ in range(30)]
    np.random.seed(11)
    indices = [np.random.choice(6, p=[1 / 6] * 6) for _ in range(30)]
    assert drawn == [generator.sample_space[i] for i in indices]
    weighted = BoundGenerator(((0.1, 0.2), (0.3, 0.4)), weights=(0.0, 1.0))
    assert all(weighted() == [0.3, 0.4] for _ in range(10))


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"sample_space": ((0.1, None),), "weights": (0.5, 0.5)}, "weights"),
        ({"sample_space": ((0.1, None), (0.2, None)), "weights": (0.5, 0.6)}, "weights"),
        ({"sample_space": ((0.1, 0.2, 0.3),)}, "sample_space"),
        ({"sample_space": ((0.5, 0.2),)}, "sample_space"),
    ],
)
def test_bound_generator_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BoundGenerator(**kwargs)


def test_image_validator_counts_boxes():
    labels = boxes((10, 10, 50, 50), (100, 100, 150, 150), (600, 10, 650, 50))
    assert ImageValidator(n_boxes_min=2)(labels, H, W) is True
    assert ImageValidator(n_boxes_min=3)(labels, H, W) is False
    assert ImageValidator(n_boxes_min="all")(labels, H, W) is False
    assert ImageValidator(n_boxes_min="all")(labels[:2], H, W) is True
    assert ImageValidator(n_boxes_min="all")(np.zeros((0, 5)), H, W) is True


def test_image_validator_rereads_bounds():
    labels = boxes((0, 0, W // 2, H))  # IoU 0.5 with the image
    validator = ImageValidator(overlap_criterion="iou", bounds=(0.6, 1.0))
    assert validator(labels, H, W) is False
    validator.bounds = (0.4, 1.0)
    assert validator(labels, H, W) is True


def test_image_validator_accepts_boxes_batches_candidates():
    rng = np.random.default_rng(0)
    corners = np.sort(rng.integers(0, 300, size=(6, 2, 2)), axis=1).transpose(0, 2, 1)
    corners = corners.reshape(6, 4)[:, [0, 2, 1, 3]]
    offsets = rng.integers(-50, 150, size=(40, 2))
    heights = rng.integers(20, 300, size=40)
    widths = rng.integers(20, 300, size=40)
    for criterion in ("iou", "area", "center_point"):
        validator = ImageValidator(overlap_criterion=criterion, bounds=(0.3, 1.0), n_boxes_min=2)
        shifted = corners[None] - offsets[:, None, [1, 0, 1, 0]]
        batch = validator.accepts_boxes(shifted, heights[:, None], widths[:, None])
        one_by_one = [
            validator(
                np.column_stack([np.ones(6), shifted[i]]),
                image_height=heights[i],
                image_width=widths[i],
            )
            for i in range(40)
        ]
        np.testing.assert_array_equal(batch, one_by_one)


@pytest.mark.parametrize("n_boxes_min", [0, -1, 1.5, "some"])
def test_image_validator_bad_n_boxes_min(n_boxes_min):
    with pytest.raises(ValueError, match="n_boxes_min") as info:
        ImageValidator(n_boxes_min=n_boxes_min)
    assert repr(n_boxes_min) in str(info.value)


def test_docstring_examples():
    import doctest

    from data_generator import object_detection_2d_image_boxes_validation_utils as module

    result = doctest.testmod(module, extraglobs={"np": np})
    assert result.attempted >= 3 and result.failed == 0
