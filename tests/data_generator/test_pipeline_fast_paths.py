"""The input pipeline's shortcuts give exactly what the straightforward path gives.

Each test compares a fast path (whole-pixel shift by copying, `cv2.flip`, look-up table
shortcuts, image prefetching, the cached encoder background, zero-copy shared memory) with the
reference computation it replaces.
"""

from __future__ import annotations

import pickle
import random
from pathlib import Path

import cv2
import numpy as np
import pytest

from data_generator._chain_utils import run_sequence
from data_generator.dataset_errors import MissingFileError
from data_generator.object_detection_2d_data_generator import DataGenerator
from data_generator.object_detection_2d_geometric_ops import (
    Translate,
    _flip_image,
    _shift_image,
    _warp,
)
from data_generator.object_detection_2d_patch_sampling_ops import CropPad
from data_generator.object_detection_2d_photometric_ops import (
    ConvertColor,
    ConvertDataType,
    RandomBrightness,
    RandomContrast,
    RandomHue,
    RandomSaturation,
)
from data_generator.shared_arrays import shareable
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

UDACITY = ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"]


def _warp_shift(image: np.ndarray, dy: int, dx: int, background) -> np.ndarray:
    matrix = np.float32([[1, 0, dx], [0, 1, dy]])
    return _warp(image, matrix, image.shape[:2], background)


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_whole_pixel_shift_equals_warp_affine(channels):
    rng = np.random.default_rng(channels)
    for _ in range(300):
        height, width = (int(v) for v in rng.integers(1, 40, size=2))
        image = rng.integers(0, 256, size=(height, width, channels), dtype=np.uint8)
        dy = int(rng.integers(-height - 2, height + 3))
        dx = int(rng.integers(-width - 2, width + 3))
        background = tuple(int(v) for v in rng.integers(0, 256, size=channels))
        shifted = _shift_image(image, dy, dx, background)
        np.testing.assert_array_equal(shifted, _warp_shift(image, dy, dx, background))
        assert shifted.shape == image.shape and shifted.dtype == np.uint8


@pytest.mark.parametrize(
    ("dtype", "background"),
    [
        (np.uint8, (0.5, 10, 20)),  # not integral: OpenCV rounds, the copy could not
        (np.uint8, (300, 0, 0)),  # out of range: OpenCV saturates
        (np.float32, (1, 2, 3)),
    ],
)
def test_shift_falls_back_to_warp_affine(dtype, background):
    image = (np.arange(5 * 7 * 3).reshape(5, 7, 3) * 1.7).astype(dtype)
    for dy, dx in [(2, -3), (-1, 4), (0, 0), (6, 1)]:
        np.testing.assert_array_equal(
            _shift_image(image, dy, dx, background), _warp_shift(image, dy, dx, background)
        )


def test_translate_shifts_pixels_and_boxes():
    image = np.arange(4 * 6 * 3, dtype=np.uint8).reshape(4, 6, 3)
    labels = np.array([[1, 0, 0, 3, 2]])
    shifted, moved = Translate(dy=0.25, dx=-1 / 6, background=(9, 9, 9))(image, labels)
    expected = np.full_like(image, 9)
    expected[1:, :5] = image[:3, 1:]
    np.testing.assert_array_equal(shifted, expected)
    np.testing.assert_array_equal(moved, [[1, 0, 1, 2, 3]])


def _padded_reference(image, ymin, xmin, height, width, background):
    """The patch cut from `image` embedded in a large canvas of `background`."""
    margin = 2 * max(image.shape[:2]) + max(height, width)
    canvas = np.empty(
        (image.shape[0] + 2 * margin, image.shape[1] + 2 * margin, *image.shape[2:]), image.dtype
    )
    canvas[...] = np.asarray(background, dtype=image.dtype)
    canvas[margin : margin + image.shape[0], margin : margin + image.shape[1]] = image
    return canvas[margin + ymin : margin + ymin + height, margin + xmin : margin + xmin + width]


@pytest.mark.parametrize(
    ("channels", "dtype", "background"),
    [
        (3, np.uint8, (123, 117, 104)),  # the border is filled by cv2.copyMakeBorder
        (4, np.uint8, (1, 2, 3, 4)),
        (1, np.uint8, (7,)),
        (3, np.float32, (0.5, 1.5, 2.5)),  # numpy fill
    ],
)
def test_crop_pad_equals_padded_reference(channels, dtype, background):
    rng = np.random.default_rng(channels)
    for _ in range(200):
        img_height, img_width = (int(v) for v in rng.integers(1, 30, size=2))
        image = rng.integers(0, 256, size=(img_height, img_width, channels)).astype(dtype)
        height, width = (int(v) for v in rng.integers(1, 60, size=2))
        ymin = int(rng.integers(-height - 2, img_height + 1))
        xmin = int(rng.integers(-width - 2, img_width + 1))
        patch = CropPad(ymin, xmin, height, width, background=background)(image)
        expected = _padded_reference(image, ymin, xmin, height, width, background)
        np.testing.assert_array_equal(patch, expected)
        assert patch.shape == expected.shape and patch.dtype == image.dtype


@pytest.mark.parametrize(
    "shape_dtype",
    [
        ((5, 7), np.uint8),
        ((5, 7, 1), np.uint8),
        ((5, 7, 3), np.uint8),
        ((5, 7, 4), np.float32),
        ((5, 7, 5), np.uint8),  # more channels than OpenCV handles
        ((5, 7, 3), np.int64),  # a dtype OpenCV does not handle
        ((0, 7, 3), np.uint8),
    ],
)
@pytest.mark.parametrize("horizontal", [True, False])
def test_flip_equals_reversed_view(shape_dtype, horizontal):
    shape, dtype = shape_dtype
    image = np.arange(int(np.prod(shape))).reshape(shape).astype(dtype)
    flipped = _flip_image(image, horizontal)
    expected = image[:, ::-1] if horizontal else image[::-1]
    np.testing.assert_array_equal(flipped, expected)
    assert flipped.shape == image.shape and flipped.dtype == image.dtype
    assert flipped.flags.c_contiguous


def _run_one_by_one(transforms, image):
    for transform in transforms:
        image = transform(image)
    return image


@pytest.mark.parametrize(
    "ops",
    [
        # nothing fires: the table is the identity
        lambda: [RandomBrightness(prob=0.0), RandomContrast(prob=0.0)],
        # the same table for every channel
        lambda: [RandomBrightness(prob=1.0), RandomContrast(prob=1.0)],
        # a different table per channel (in HSV)
        lambda: [RandomSaturation(prob=1.0), RandomHue(prob=1.0)],
        # random mixtures
        lambda: [RandomBrightness(), RandomContrast(), RandomSaturation(), RandomHue()],
    ],
)
def test_lookup_table_shortcuts_equal_float_path(ops):
    rng = np.random.default_rng(7)
    for trial in range(20):
        image = rng.integers(0, 256, size=(9, 11, 3), dtype=np.uint8)
        to_hsv = ConvertColor("RGB", "HSV")
        transforms = [
            to_hsv,
            ConvertDataType("float32"),
            *ops(),
            ConvertDataType("uint8"),
        ]
        np.random.seed(trial)  # noqa: NPY002 - the ops draw from the global generator
        fast = run_sequence(transforms, image, None)
        np.random.seed(trial)  # noqa: NPY002
        reference = _run_one_by_one(transforms, image)
        np.testing.assert_array_equal(fast, reference)
        assert fast.dtype == np.uint8
        assert fast is not image


@pytest.mark.parametrize("prob", [0.0, 1.0])
def test_lookup_table_keeps_a_single_channel_axis(prob):
    image = np.arange(4 * 5, dtype=np.uint8).reshape(4, 5, 1) * 9
    transforms = [ConvertDataType("float32"), RandomContrast(prob=prob), ConvertDataType("uint8")]
    np.random.seed(0)  # noqa: NPY002
    fast = run_sequence(transforms, image, None)
    np.random.seed(0)  # noqa: NPY002
    np.testing.assert_array_equal(fast, _run_one_by_one(transforms, image))
    assert fast.shape == image.shape


def test_skipped_lookup_table_returns_a_copy():
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    transforms = [ConvertDataType("float32"), RandomBrightness(prob=0.0), ConvertDataType("uint8")]
    result = run_sequence(transforms, image, None)
    np.testing.assert_array_equal(result, image)
    result[0, 0, 0] = 200
    assert image[0, 0, 0] == 0


# ----------------------------------------------------------------------------------------------
# Prefetching in `generate`


def _write_dataset(folder: Path, count: int) -> Path:
    rng = np.random.default_rng(3)
    rows = []
    for index in range(count):
        image = rng.integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
        cv2.imwrite(str(folder / f"{index}.jpg"), image)
        rows.append(f"{index}.jpg,{2 + index % 5},{20 + index % 7},3,{15 + index % 4},1")
    labels = folder / "labels.csv"
    labels.write_text("frame,xmin,xmax,ymin,ymax,class_id\n" + "\n".join(rows) + "\n")
    return labels


def _generator(folder: Path, labels: Path, in_memory: bool) -> DataGenerator:
    generator = DataGenerator(load_images_into_memory=in_memory, verbose=False)
    generator.parse_csv(str(folder), str(labels), UDACITY, verbose=False)
    return generator


def _flip_half(image, labels):
    if np.random.uniform() < 0.5:  # noqa: NPY002 - the global generator, as the chains use
        return image[:, ::-1], labels
    return image, labels


def test_prefetched_files_give_the_same_batches_as_memory(tmp_path):
    labels = _write_dataset(tmp_path, 10)
    batches = {}
    for in_memory in (False, True):
        np.random.seed(5)  # noqa: NPY002
        random.seed(5)
        generate = _generator(tmp_path, labels, in_memory).generate(
            batch_size=3,
            transformations=[_flip_half],
            returns=("processed_images", "processed_labels", "filenames"),
        )
        batches[in_memory] = [next(generate) for _ in range(9)]  # 2 passes and more
        generate.close()
    for prefetched, read in zip(batches[False], batches[True], strict=True):
        np.testing.assert_array_equal(prefetched[0], read[0])
        for a, b in zip(prefetched[1], read[1], strict=True):
            np.testing.assert_array_equal(a, b)
        assert prefetched[2] == read[2]


def test_prefetch_error_is_raised_with_its_batch(tmp_path):
    labels = _write_dataset(tmp_path, 6)
    generate = _generator(tmp_path, labels, False).generate(
        batch_size=3, shuffle=False, returns=("processed_images",)
    )
    (tmp_path / "4.jpg").unlink()  # in the second batch, read ahead while the first is built
    first = next(generate)
    assert first[0].shape == (3, 24, 32, 3)
    with pytest.raises(MissingFileError, match="4.jpg"):
        next(generate)
    generate.close()


# ----------------------------------------------------------------------------------------------
# Encoder and shared memory


def test_cached_background_row_follows_the_encoder_attributes():
    config = dict(img_height=100, img_width=100, n_classes=2, predictor_sizes=[[4, 4], [2, 2]])
    encoder = SSDInputEncoder(**config)
    labels = [np.array([[1, 10, 10, 50, 50]]), np.zeros((0, 5))]
    first = encoder(labels)
    np.testing.assert_array_equal(encoder(labels), first)
    encoder.variances = np.array([0.2, 0.2, 0.3, 0.3])
    changed = encoder(labels)
    fresh = SSDInputEncoder(**config, variances=[0.2, 0.2, 0.3, 0.3])
    np.testing.assert_array_equal(changed, fresh(labels))
    assert not np.array_equal(changed, first)
    changed[0, 0, 0] = 5.0  # outputs are writable and independent of the cache
    np.testing.assert_array_equal(encoder(labels), fresh(labels))


def test_shared_array_falls_back_to_an_ordinary_pickle(monkeypatch):
    import data_generator.shared_arrays as shared_arrays

    array = np.arange(300_000, dtype=np.float64)
    empty = np.zeros((0, 5)).view(shared_arrays.SharedMemoryArray)
    unpickled = pickle.loads(pickle.dumps(empty))
    assert type(unpickled) is np.ndarray and unpickled.shape == (0, 5)
    monkeypatch.setattr(shared_arrays, "_write_shm_file", lambda array: None)  # /dev/shm full
    clone = pickle.loads(pickle.dumps(shareable(array)))
    assert type(clone) is np.ndarray
    np.testing.assert_array_equal(clone, array)


def test_unpickled_shared_array_is_a_writable_copy():
    array = np.arange(400_000, dtype=np.float64).reshape(1000, 400)
    clone = pickle.loads(pickle.dumps(shareable(array)))
    assert type(clone) is np.ndarray
    np.testing.assert_array_equal(clone, array)
    clone[0, 0] = -1.0
    assert array[0, 0] == 0.0
