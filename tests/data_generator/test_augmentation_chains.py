"""Property tests of the four augmentation chains over many seeds, plus bad input."""

# The library draws from numpy's global RNG by contract (seeded runs reproduce the original),
# so the tests seed and read that RNG.
# ruff: noqa: NPY002

import pickle
import random

import numpy as np
import pytest

from data_generator.data_augmentation_chain_constant_input_size import (
    DataAugmentationConstantInputSize,
)
from data_generator.data_augmentation_chain_original_ssd import (
    SSDDataAugmentation,
    SSDExpand,
    SSDPhotometricDistortions,
    SSDRandomCrop,
)
from data_generator.data_augmentation_chain_satellite import DataAugmentationSatellite
from data_generator.data_augmentation_chain_variable_input_size import (
    DataAugmentationVariableInputSize,
)
from data_generator.object_detection_2d_image_boxes_validation_utils import BoxFilter

H, W = 60, 90
_rng = np.random.default_rng(5)
IMAGE = _rng.integers(0, 256, size=(H, W, 3), dtype=np.uint8)
# Unique class ids so that output rows can be matched to input rows.
LABELS = np.array([[1, 5, 4, 30, 40], [2, 40, 10, 88, 58], [3, 60, 2, 75, 20], [4, 0, 45, 20, 59]])
SEEDS = range(40)

CHAINS = {
    "constant": lambda: DataAugmentationConstantInputSize(),
    "variable": lambda: DataAugmentationVariableInputSize(48, 64),
    "satellite": lambda: DataAugmentationSatellite(50, 50),
    "ssd": lambda: SSDDataAugmentation(50, 70),
}
OUTPUT_SIZES = {"constant": (H, W), "variable": (48, 64), "satellite": (50, 50), "ssd": (50, 70)}


def run(chain, seed, image=IMAGE, labels=LABELS):
    np.random.seed(seed)
    random.seed(seed)
    return chain(image, labels)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_outputs_keep_boxes_inside_the_image(name):
    chain = CHAINS[name]()
    height, width = OUTPUT_SIZES[name]
    n_kept = 0
    for seed in SEEDS:
        image, labels = run(chain, seed)
        assert image.shape == (height, width, 3) and image.dtype == np.uint8
        assert labels.shape[1] == 5 and set(labels[:, 0]) <= set(LABELS[:, 0])
        # Flipping maps [0, W-1] to [1, W], so a box may touch the far border.
        assert (labels[:, [1, 3]] >= 0).all() and (labels[:, [1, 3]] <= width).all()
        assert (labels[:, [2, 4]] >= 0).all() and (labels[:, [2, 4]] <= height).all()
        assert (labels[:, 3] >= labels[:, 1]).all() and (labels[:, 4] >= labels[:, 2]).all()
        n_kept += len(labels)
    assert n_kept > 0


@pytest.mark.parametrize("name", ["variable", "satellite"])
def test_variable_size_chains_end_with_the_resize_filter(name):
    chain = CHAINS[name]()
    height, width = OUTPUT_SIZES[name]
    for seed in SEEDS:
        _, labels = run(chain, seed)
        np.testing.assert_array_equal(chain.box_filter_resize(labels, height, width), labels)
        areas = (labels[:, 3] - labels[:, 1]) * (labels[:, 4] - labels[:, 2])
        assert (areas >= 16).all()


def test_ssd_chain_drops_degenerate_boxes():
    chain = CHAINS["ssd"]()
    degenerate_only = BoxFilter(check_overlap=False, check_min_area=False)
    for seed in SEEDS:
        _, labels = run(chain, seed)
        np.testing.assert_array_equal(degenerate_only(labels), labels)


@pytest.mark.parametrize("contrast_first", [True, False])
def test_constant_chain_equals_its_steps_run_one_by_one(contrast_first):
    """The look-up-table path of the photometric stages is bit-identical to the plain ops."""
    chain = CHAINS["constant"]()
    sequence = chain.sequence1 if contrast_first else chain.sequence2
    compared = 0
    for seed in SEEDS:
        np.random.seed(seed)
        if bool(np.random.choice(2)) != contrast_first:
            continue
        image, labels = run(chain, seed)
        after = np.random.uniform()
        np.random.seed(seed)
        np.random.choice(2)
        expected_image, expected_labels = IMAGE, LABELS
        for step in sequence:
            expected_image, expected_labels = step(expected_image, expected_labels)
        assert np.random.uniform() == after
        np.testing.assert_array_equal(image, expected_image)
        np.testing.assert_array_equal(labels, expected_labels)
        compared += 1
    assert compared > 5


def test_constant_chain_boxes_follow_the_box_filter():
    """Every kept box passes the chain's filter before clipping; clipping only shrinks it."""
    chain = DataAugmentationConstantInputSize(
        random_flip=0.0,
        random_translate=((0.1, 0.4), (0.1, 0.4), 1.0),
        random_scale=(0.5, 2.0, 0.0),
    )
    compared = 0
    for seed in SEEDS:
        _, labels = run(chain, seed)
        translate = chain.random_translate.translate
        if np.array_equal(labels, LABELS):
            continue  # no accepted shift
        compared += 1
        moved = translate.transform_labels(LABELS, H, W)
        kept = chain.box_filter(moved, H, W)
        np.testing.assert_array_equal(labels[:, 0], kept[:, 0])
        clipped = kept.copy()
        clipped[:, [1, 3]] = np.clip(kept[:, [1, 3]], 0, W - 1)
        clipped[:, [2, 4]] = np.clip(kept[:, [2, 4]], 0, H - 1)
        np.testing.assert_array_equal(labels, clipped)
    assert compared > 10


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains_work_without_labels(name):
    chain = CHAINS[name]()
    for seed in range(10):
        image = run(chain, seed, labels=None)
        assert isinstance(image, np.ndarray) and image.shape[2] == 3
        gray = run(chain, seed, image=IMAGE[:, :, 0], labels=None)
        assert gray.ndim == 3


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains_accept_images_without_boxes(name):
    chain = CHAINS[name]()
    for seed in range(10):
        _, labels = run(chain, seed, labels=np.zeros((0, 5), dtype=int))
        assert labels.shape == (0, 5)


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains_honour_labels_format(name):
    chain = CHAINS[name]()
    other = CHAINS[name]()
    other.labels_format = {"xmin": 0, "xmax": 1, "ymin": 2, "ymax": 3, "class_id": 4}
    permuted = LABELS[:, [1, 3, 2, 4, 0]]
    for seed in range(15):
        image, labels = run(chain, seed)
        other_image, other_labels = run(other, seed, labels=permuted)
        np.testing.assert_array_equal(other_image, image)
        np.testing.assert_array_equal(other_labels, labels[:, [1, 3, 2, 4, 0]])


def test_ssd_chain_returns_one_inverter_mapping_boxes_back():
    chain = CHAINS["ssd"]()
    for seed in SEEDS:
        np.random.seed(seed)
        _, labels, inverter = chain(IMAGE, LABELS, return_inverter=True)
        assert callable(inverter)  # one inverter, not a list as in the original
        restored = inverter(np.insert(labels.astype(float), 1, 0.5, axis=1))
        for row in restored:
            original = LABELS[LABELS[:, 0] == row[0]][0]
            # Cropping and clipping only shrink a box; resizing rounds to whole pixels.
            tolerance = max(H / 50, W / 70) + 1
            assert (row[[2, 3]] >= original[[1, 2]] - tolerance).all()
            assert (row[[4, 5]] <= original[[3, 4]] + tolerance).all()
        image_only, inverter = chain(IMAGE, return_inverter=True)
        assert image_only.shape == (50, 70, 3) and callable(inverter)


def test_ssd_chain_random_draws_do_not_depend_on_inverters():
    chain = CHAINS["ssd"]()
    for seed in range(10):
        image, labels = run(chain, seed)
        np.random.seed(seed)
        random.seed(seed)
        image2, labels2, _ = chain(IMAGE, LABELS, return_inverter=True)
        np.testing.assert_array_equal(image, image2)
        np.testing.assert_array_equal(labels, labels2)


def test_ssd_components():
    np.random.seed(0)
    image, labels = SSDPhotometricDistortions()(IMAGE, LABELS)
    assert image.dtype == np.uint8 and labels is LABELS
    assert SSDPhotometricDistortions()(IMAGE).shape == IMAGE.shape
    expand = SSDExpand(background=(1, 2, 3))
    sizes = set()
    for seed in range(20):
        np.random.seed(seed)
        image, labels = expand(IMAGE, LABELS)
        sizes.add(image.shape[0] > H)
        assert image.shape[0] * W == pytest.approx(image.shape[1] * H, abs=W)
        assert len(labels) == len(LABELS)
    assert sizes == {True, False}
    crop = SSDRandomCrop()
    for seed in range(20):
        np.random.seed(seed)
        image, labels = crop(IMAGE, LABELS)
        assert image.shape[0] <= H and image.shape[1] <= W


@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chains_survive_pickling(name):
    chain = CHAINS[name]()
    copy = pickle.loads(pickle.dumps(chain))
    image, labels = run(chain, 3)
    copy_image, copy_labels = run(copy, 3)
    np.testing.assert_array_equal(image, copy_image)
    np.testing.assert_array_equal(labels, copy_labels)


@pytest.mark.parametrize(
    ("factory", "name", "value"),
    [
        (
            lambda: DataAugmentationConstantInputSize(random_scale=(1.0, 2.0, 0.5)),
            "random_scale",
            "1.0",
        ),
        (
            lambda: DataAugmentationConstantInputSize(random_brightness=(10, -10, 0.5)),
            "random_brightness",
            "(10, -10, 0.5)",
        ),
        (lambda: DataAugmentationConstantInputSize(random_hue=(200, 0.5)), "random_hue", "200"),
        (lambda: DataAugmentationConstantInputSize(random_flip=1.5), "random_flip", "1.5"),
        (
            lambda: DataAugmentationConstantInputSize(random_translate=((0.3, 0.1), (0, 1), 0.5)),
            "random_translate",
            "0.3",
        ),
        (lambda: DataAugmentationConstantInputSize(n_boxes_min=0), "n_boxes_min", "0"),
        (
            lambda: DataAugmentationConstantInputSize(overlap_criterion="x"),
            "overlap_criterion",
            "'x'",
        ),
        (lambda: DataAugmentationVariableInputSize(10, 10, min_scale=2.0), "min_scale", "2.0"),
        (
            lambda: DataAugmentationVariableInputSize(10, 10, random_contrast=(2, 1, 0.5)),
            "random_contrast",
            "(2, 1, 0.5)",
        ),
        (
            lambda: DataAugmentationSatellite(10, 10, random_rotate=((45,), 0.5)),
            "random_rotate",
            "45",
        ),
        (lambda: DataAugmentationSatellite(0, 10), "resize_height", "0"),
    ],
)
def test_bad_arguments(factory, name, value):
    with pytest.raises(ValueError, match=name) as info:
        factory()
    assert value in str(info.value)
