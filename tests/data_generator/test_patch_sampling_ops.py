"""Tests of patch coordinates, CropPad/Crop/Pad and the random patch samplers."""

# The library draws from numpy's global RNG by contract (seeded runs reproduce the original),
# so the tests seed and read that RNG.
# ruff: noqa: NPY002

import numpy as np
import pytest

from data_generator import object_detection_2d_patch_sampling_ops as patch_ops
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoundGenerator,
    BoxFilter,
    ImageValidator,
)

H, W = 40, 60
IMAGE = np.random.default_rng(2).integers(0, 256, size=(H, W, 3), dtype=np.uint8)
LABELS = np.array([[1, 10, 5, 30, 25], [2, 40, 20, 58, 38]])


def predictions_from(labels):
    return np.insert(labels.astype(float), 1, 0.8, axis=1)


# ------------------------------------------------------------------------------------------------
# PatchCoordinateGenerator


def test_fixed_coordinates_draw_nothing():
    generator = patch_ops.PatchCoordinateGenerator(
        img_height=H, img_width=W, patch_ymin=-3, patch_xmin=4, patch_height=20, patch_width=30
    )
    np.random.seed(0)
    assert generator() == (-3, 4, 20, 30)
    np.random.seed(0)
    first = np.random.uniform()
    np.random.seed(0)
    generator()
    assert np.random.uniform() == first


@pytest.mark.parametrize("must_match", ["h_w", "h_ar", "w_ar"])
@pytest.mark.parametrize("scales", [(0.3, 1.0), (1.0, 3.0)])
def test_random_coordinates_stay_in_range(must_match, scales):
    generator = patch_ops.PatchCoordinateGenerator(
        img_height=H,
        img_width=W,
        must_match=must_match,
        min_scale=scales[0],
        max_scale=scales[1],
    )
    np.random.seed(4)
    for _ in range(200):
        ymin, xmin, height, width = generator()
        if must_match in ("h_w", "h_ar"):
            assert int(scales[0] * H) <= height <= scales[1] * H
        if must_match == "h_ar":
            assert int(0.5 * height) <= width <= 2 * height
        if must_match == "w_ar":
            assert int(scales[0] * W) <= width <= scales[1] * W
            assert int(width / 2) <= height <= 2 * width
        # A smaller patch lies inside the image, a larger one contains it.
        for offset, size, img_size in ((ymin, height, H), (xmin, width, W)):
            if size <= img_size:
                assert 0 <= offset <= img_size - size
            else:
                assert img_size - size <= offset <= 0


def test_uniform_scaling_keeps_the_aspect_ratio():
    generator = patch_ops.PatchCoordinateGenerator(
        img_height=100, img_width=200, min_scale=1.0, max_scale=4.0, scale_uniformly=True
    )
    np.random.seed(1)
    for _ in range(50):
        _, _, height, width = generator()
        assert abs(width - 2 * height) <= 2


def test_generator_draw_order_matches_the_original():
    generator = patch_ops.PatchCoordinateGenerator(img_height=H, img_width=W, must_match="h_ar")
    np.random.seed(9)
    got = generator()
    np.random.seed(9)
    height = int(np.random.uniform(0.3, 1.0) * H)
    width = int(height * np.random.uniform(0.5, 2.0))
    ymin = np.random.randint(0, H - height + 1)
    x_range = W - width
    xmin = np.random.randint(0, x_range + 1) if x_range >= 0 else np.random.randint(x_range, 1)
    assert got == (ymin, xmin, height, width)


# ------------------------------------------------------------------------------------------------
# CropPad, Crop, Pad


def test_crop_inside_the_image_is_a_slice():
    crop = patch_ops.CropPad(5, 8, 20, 30, clip_boxes=False)
    image, labels = crop(IMAGE, LABELS)
    np.testing.assert_array_equal(image, IMAGE[5:25, 8:38])
    np.testing.assert_array_equal(labels, [[1, 2, 0, 22, 20], [2, 32, 15, 50, 33]])


def test_pad_puts_the_image_on_a_background_canvas():
    pad = patch_ops.CropPad(-3, -4, H + 5, W + 10, clip_boxes=False, background=(1, 2, 3))
    image, labels = pad(IMAGE, LABELS)
    assert image.shape == (H + 5, W + 10, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[3 : 3 + H, 4 : 4 + W], IMAGE)
    assert (image[:3] == [1, 2, 3]).all() and (image[:, W + 4 :] == [1, 2, 3]).all()
    np.testing.assert_array_equal(labels, LABELS + np.array([0, 4, 3, 4, 3]))


def test_mixed_crop_and_pad_clips_boxes_to_the_patch():
    image, labels = patch_ops.CropPad(-5, 30, 30, 40)(IMAGE, LABELS)
    np.testing.assert_array_equal(image[5:, :30], IMAGE[:25, 30:])
    assert (image[:5] == 0).all() and (image[:, 30:] == 0).all()
    # Box 1 shifts to (-20, 10, 0, 30) and is clipped to (0, 10, 0, 29).
    np.testing.assert_array_equal(labels, [[1, 0, 10, 0, 29], [2, 10, 25, 28, 29]])


def test_crop_pad_keeps_float_images_and_2d_images():
    floats = IMAGE.astype(np.float32) + 0.25
    out = patch_ops.CropPad(-2, -2, 10, 10, background=(0.5, 0, 0))(floats)
    assert out.dtype == np.float32  # the original cast to uint8
    np.testing.assert_array_equal(out[2:, 2:], floats[:8, :8])
    assert (out[:2, :, 0] == 0.5).all()
    gray = patch_ops.CropPad(-2, -2, 10, 10, background=(7, 8, 9))(IMAGE[:, :, 0])
    assert gray.shape == (10, 10)
    assert (gray[:2] == 7).all()


def test_crop_pad_without_labels_and_with_inverter():
    crop = patch_ops.CropPad(-5, 12, 30, 40)
    image, inverter = crop(IMAGE, return_inverter=True)  # the original raised IndexError
    assert image.shape == (30, 40, 3)
    _, _, inverter = crop(IMAGE, LABELS, return_inverter=True)
    unclipped = crop.transform_labels(LABELS)
    np.testing.assert_array_equal(inverter(predictions_from(unclipped)), predictions_from(LABELS))


def test_crop_pad_patch_beyond_the_image_is_an_error():
    with pytest.raises(ValueError, match="patch_ymin=41"):
        patch_ops.CropPad(41, 0, 10, 10)(IMAGE)


def test_crop_pad_patch_outside_the_image_gives_background():
    image, labels = patch_ops.CropPad(-100, 0, 20, 20, background=(5, 5, 5))(IMAGE, LABELS)
    assert (image == 5).all()
    assert labels.shape == (2, 5)


def test_crop_pad_box_filter_runs_before_clipping():
    box_filter = BoxFilter(overlap_criterion="center_point")
    _, labels = patch_ops.CropPad(0, 25, H, 35, box_filter=box_filter)(IMAGE, LABELS)
    np.testing.assert_array_equal(labels, [[2, 15, 20, 33, 38]])  # box 1's centre x = -5


def test_crop_and_pad_wrappers():
    image, labels = patch_ops.Crop(2, 3, 4, 5)(IMAGE, LABELS)
    expected = patch_ops.CropPad(2, 4, H - 5, W - 9)(IMAGE, LABELS)
    np.testing.assert_array_equal(image, expected[0])
    np.testing.assert_array_equal(labels, expected[1])
    image, labels, inverter = patch_ops.Pad(1, 2, 3, 4, background=(9, 9, 9))(
        IMAGE, LABELS, return_inverter=True
    )
    assert image.shape == (H + 3, W + 7, 3)
    np.testing.assert_array_equal(labels, LABELS + np.array([0, 3, 1, 3, 1]))
    np.testing.assert_array_equal(inverter(predictions_from(labels)), predictions_from(LABELS))


# ------------------------------------------------------------------------------------------------
# Random samplers


def reference_random_patch(op, image, labels):
    """One-candidate-at-a-time statement of the original's RandomPatch/RandomPatchInf."""
    generator = op.patch_coord_generator
    generator.img_height, generator.img_width = image.shape[:2]
    infinite = isinstance(op, patch_ops.RandomPatchInf)
    while True:
        if not np.random.uniform(0, 1) >= 1 - op.prob:
            return image, labels
        if infinite and op.bound_generator is not None:
            op.image_validator.bounds = op.bound_generator()
        for _ in range(max(1, op.n_trials_max)):
            ymin, xmin, height, width = generator()
            if infinite and not (
                height > 0
                and generator.min_aspect_ratio <= width / height <= generator.max_aspect_ratio
            ):
                continue
            crop = patch_ops.CropPad(
                ymin, xmin, height, width, op.clip_boxes, op.box_filter, op.background
            )
            shifted = crop.transform_labels(labels)
            if op.image_validator is None or op.image_validator(shifted, height, width):
                return crop(image, labels)
        if not infinite:
            return (None, None) if op.can_fail else (image, labels)


SAMPLERS = {
    "patch": lambda: patch_ops.RandomPatch(
        patch_ops.PatchCoordinateGenerator(must_match="w_ar", min_scale=0.3, max_scale=2.0),
        box_filter=BoxFilter(check_overlap=True, overlap_criterion="area"),
        image_validator=ImageValidator(overlap_criterion="area", bounds=(0.5, 1.0)),
        n_trials_max=40,
        prob=0.9,
    ),
    "patch_can_fail": lambda: patch_ops.RandomPatch(
        patch_ops.PatchCoordinateGenerator(min_scale=0.1, max_scale=0.3),
        image_validator=ImageValidator(overlap_criterion="iou", bounds=(0.5, 1.0)),
        n_trials_max=3,
        can_fail=True,
    ),
    "inf": lambda: patch_ops.RandomPatchInf(
        patch_ops.PatchCoordinateGenerator(),
        box_filter=BoxFilter(check_min_area=False, check_degenerate=False),
        image_validator=ImageValidator(overlap_criterion="iou"),
        bound_generator=BoundGenerator(),
    ),
    "inf_random_bounds": lambda: patch_ops.RandomPatchInf(
        patch_ops.PatchCoordinateGenerator(),
        image_validator=ImageValidator(overlap_criterion="iou", bounds=BoundGenerator()),
        n_trials_max=20,
    ),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_random_samplers_match_one_by_one_reference(name):
    op, reference_op = SAMPLERS[name](), SAMPLERS[name]()
    for seed in range(25):
        np.random.seed(seed)
        image, labels = op(IMAGE, LABELS)
        after = np.random.uniform()
        np.random.seed(seed)
        expected_image, expected_labels = reference_random_patch(reference_op, IMAGE, LABELS)
        assert np.random.uniform() == after  # exactly the same draws were consumed
        if expected_image is None:
            assert image is None and labels is None
            continue
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(labels, expected_labels)


def test_random_patch_inverters():
    op = SAMPLERS["patch"]()
    op.prob = 0.0
    _, _, inverter = op(IMAGE, LABELS, return_inverter=True)
    np.testing.assert_array_equal(inverter(predictions_from(LABELS)), predictions_from(LABELS))
    op.prob = 1.0
    op.box_filter = None
    op.sample_patch.box_filter = None
    op.clip_boxes = op.sample_patch.clip_boxes = False
    np.random.seed(3)
    _, labels, inverter = op(IMAGE, LABELS, return_inverter=True)
    np.testing.assert_array_equal(inverter(predictions_from(labels)), predictions_from(LABELS))


def test_random_patch_can_fail_returns_none_for_every_output():
    op = SAMPLERS["patch_can_fail"]()
    op.image_validator.bounds = (0.99, 1.0)  # never met by these small patches
    assert op(IMAGE, LABELS) == (None, None)
    assert op(IMAGE, LABELS, return_inverter=True) == (None, None, None)
    op.can_fail = False
    image, labels, inverter = op(IMAGE, LABELS, return_inverter=True)
    assert image is IMAGE and labels is LABELS and inverter is None


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_random_samplers_without_labels(name):
    op = SAMPLERS[name]()
    np.random.seed(0)
    for _ in range(10):
        out = op(IMAGE)
        assert isinstance(out, np.ndarray) and out.ndim == 3
        image, inverter = op(IMAGE.astype(np.float32), return_inverter=True)
        assert image.dtype == np.float32 and (inverter is None or callable(inverter))
        _, empty = op(IMAGE, np.zeros((0, 5)))
        assert empty is None or empty.shape == (0, 5)


def test_random_patch_inf_respects_the_aspect_ratio_range():
    op = patch_ops.RandomPatchInf(
        patch_ops.PatchCoordinateGenerator(min_aspect_ratio=0.9, max_aspect_ratio=1.1), prob=1.0
    )
    np.random.seed(6)
    for _ in range(30):
        height, width = op(IMAGE).shape[:2]
        assert 0.9 <= width / height <= 1.1


@pytest.mark.parametrize("ratio", [1.0, 0.5, 2.0])
def test_random_max_crop_fixed_ar(ratio):
    op = patch_ops.RandomMaxCropFixedAR(ratio)
    np.random.seed(1)
    image, labels, inverter = op(IMAGE, LABELS, return_inverter=True)
    height, width = image.shape[:2]
    assert (height == H or width == W) and abs(width / height - ratio) < 0.05
    assert height <= H and width <= W
    inverted = inverter(predictions_from(labels))
    assert (inverted[:, 2:] >= 0).all() and (inverted[:, [2, 4]] <= W).all()


def test_random_pad_fixed_ar_square():
    op = patch_ops.RandomPadFixedAR(1.0, background=(1, 1, 1))
    np.random.seed(2)
    image, labels, inverter = op(IMAGE, LABELS, return_inverter=True)
    assert image.shape == (W, W, 3)
    np.testing.assert_array_equal(inverter(predictions_from(labels)), predictions_from(LABELS))


def test_random_pad_fixed_ar_warns_when_it_crops():
    with pytest.warns(UserWarning, match="crops"):
        image = patch_ops.RandomPadFixedAR(2.0)(IMAGE)  # W >= H: height W / 2 < H
    assert image.shape == (30, W, 3)


@pytest.mark.parametrize(
    ("factory", "name", "value"),
    [
        (lambda: patch_ops.PatchCoordinateGenerator(must_match="w_h"), "must_match", "'w_h'"),
        (lambda: patch_ops.PatchCoordinateGenerator(min_scale=1, max_scale=1), "min_scale", "1"),
        (
            lambda: patch_ops.PatchCoordinateGenerator(min_aspect_ratio=3.0),
            "min_aspect_ratio",
            "3.0",
        ),
        (
            lambda: patch_ops.PatchCoordinateGenerator(scale_uniformly=True, patch_height=5),
            "scale_uniformly",
            "5",
        ),
        (lambda: patch_ops.CropPad(0, 0, 5, 5, box_filter=1), "box_filter", "1"),
        (lambda: patch_ops.RandomPatch("generator"), "patch_coord_generator", "'generator'"),
        (
            lambda: patch_ops.RandomPatch(patch_ops.PatchCoordinateGenerator(), image_validator=2),
            "image_validator",
            "2",
        ),
        (
            lambda: patch_ops.RandomPatchInf(
                patch_ops.PatchCoordinateGenerator(), bound_generator=(0.1, 1)
            ),
            "bound_generator",
            "(0.1, 1)",
        ),
        (
            lambda: patch_ops.RandomPatch(patch_ops.PatchCoordinateGenerator(), prob=1.5),
            "prob",
            "1.5",
        ),
        (lambda: patch_ops.RandomMaxCropFixedAR(0), "patch_aspect_ratio", "0"),
        (lambda: patch_ops.RandomPadFixedAR(-1), "patch_aspect_ratio", "-1"),
    ],
)
def test_bad_arguments(factory, name, value):
    with pytest.raises(ValueError, match=name) as info:
        factory()
    assert value in str(info.value)
