"""Tests of `DataGenerator`: construction, `generate` and the recorded reference cases."""

# ruff: noqa: NPY002 - the library draws from the legacy global generator, as the original

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import golden_replay
import numpy as np
import pytest

from data_generator.image_io import read_image
from data_generator.object_detection_2d_data_generator import (
    DataGenerator,
    DatasetError,
    DegenerateBatchError,
    MissingFileError,
)

DATASET = golden_replay.GOLDEN_DIR / "dataset"
IMAGES = DATASET / "JPEGImages"
UDACITY = ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"]
ALL_RETURNS = {
    "processed_images",
    "encoded_labels",
    "matched_anchors",
    "processed_labels",
    "filenames",
    "image_ids",
    "evaluation-neutral",
    "inverse_transform",
    "original_images",
    "original_labels",
}


# ----------------------------------------------------------------------------------------------
# Reference cases


@pytest.mark.parametrize("case", golden_replay.cases("datagen."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


# ----------------------------------------------------------------------------------------------
# Helpers


def _csv_generator(**kwargs) -> DataGenerator:
    generator = DataGenerator(verbose=False, **kwargs)
    generator.parse_csv(str(IMAGES), str(DATASET / "labels.csv"), UDACITY, verbose=False)
    return generator


def _voc_generator(image_set: str = "test.txt", **kwargs) -> DataGenerator:
    generator = DataGenerator(verbose=False, **kwargs)
    generator.parse_xml(
        [str(IMAGES)],
        [str(DATASET / "ImageSets" / "Main" / image_set)],
        [str(DATASET / "Annotations")],
        verbose=False,
    )
    return generator


class ShiftRight:
    """Deterministic test transformation: moves the boxes `dx` pixels right, with an inverter."""

    def __init__(self, dx: int) -> None:
        self.dx = dx
        self.labels_format = None

    def __call__(self, image, labels=None, return_inverter=False):
        outputs = [image + 0]
        if labels is not None:
            labels = labels.copy()
            labels[:, [self.labels_format["xmin"], self.labels_format["xmax"]]] += self.dx
            outputs.append(labels)
        if return_inverter:

            def invert(predictions):
                shifted = predictions.copy()
                columns = [self.labels_format["xmin"] + 1, self.labels_format["xmax"] + 1]
                shifted[:, columns] -= self.dx
                return shifted

            outputs.append(invert)
        return outputs[0] if len(outputs) == 1 else tuple(outputs)


class DropImage:
    """Test transformation that fails (returns `None`) for images whose mean is below `limit`."""

    def __init__(self, limit: float) -> None:
        self.limit = limit
        self.calls = 0

    def __call__(self, image, labels=None):
        self.calls += 1
        result = None if image.mean() < self.limit else image
        return result if labels is None else (result, labels)


class CountEncoder:
    """Label encoder used in tests: `(B, 1)` number of boxes per image."""

    def __call__(self, labels):
        return np.array([[len(item)] for item in labels], dtype=np.float32)


# ----------------------------------------------------------------------------------------------
# Constructor


def test_constructor_reads_text_filenames_in_text_mode(tmp_path):
    listing = tmp_path / "names.txt"
    listing.write_text("000001.jpg\n000002.jpg\n\n")
    generator = DataGenerator(filenames=str(listing), images_dir=str(IMAGES), verbose=False)
    assert generator.filenames == [str(IMAGES / "000001.jpg"), str(IMAGES / "000002.jpg")]
    assert generator.dataset_size == 2
    assert generator.dataset_indices.dtype == np.int32


def test_constructor_loads_pickles_and_images(tmp_path):
    filenames = [str(IMAGES / "000001.jpg"), str(IMAGES / "000002.jpg")]
    labels = [np.array([[1, 10, 20, 30, 40]]), np.array([[2, 1, 2, 3, 4]])]
    paths = {}
    for name, value in (("filenames", filenames), ("labels", labels), ("image_ids", ["a", "b"])):
        paths[name] = tmp_path / f"{name}.pkl"
        paths[name].write_bytes(pickle.dumps(value))
    generator = DataGenerator(
        load_images_into_memory=True,
        filenames=str(paths["filenames"]),
        filenames_type="pickle",
        labels=str(paths["labels"]),
        image_ids=str(paths["image_ids"]),
        eval_neutral=([False], [True]),
        verbose=False,
    )
    assert generator.filenames == filenames
    np.testing.assert_array_equal(generator.labels[1], labels[1])
    assert generator.image_ids == ["a", "b"]
    assert generator.eval_neutral == [[False], [True]]
    np.testing.assert_array_equal(generator.images[0], read_image(filenames[0]))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"filenames": 3}, "filenames"),
        ({"filenames": "x.txt", "filenames_type": "csv"}, "filenames_type"),
        ({"filenames": "x.txt"}, "images_dir"),
        ({"labels": 3}, "labels"),
        ({"image_ids": {1: 2}}, "image_ids"),
        ({"eval_neutral": 1.5}, "eval_neutral"),
        ({"labels_output_format": ("class_id", "xmin", "ymin", "xmax")}, "ymax"),
    ],
)
def test_constructor_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataGenerator(verbose=False, **kwargs)


def test_constructor_names_missing_pickle(tmp_path):
    missing = tmp_path / "nope.pkl"
    with pytest.raises(MissingFileError, match="nope.pkl"):
        DataGenerator(labels=str(missing), verbose=False)


def test_save_dataset_round_trip(tmp_path):
    generator = _voc_generator()
    paths = [tmp_path / f"{name}.pkl" for name in ("f", "l", "i", "e")]
    generator.save_dataset(*map(str, paths))
    reloaded = DataGenerator(
        filenames=str(paths[0]),
        filenames_type="pickle",
        labels=str(paths[1]),
        image_ids=str(paths[2]),
        eval_neutral=str(paths[3]),
        verbose=False,
    )
    assert reloaded.get_dataset() == generator.get_dataset()
    assert reloaded.get_dataset_size() == 3


# ----------------------------------------------------------------------------------------------
# generate: laziness, errors, order


def test_empty_dataset_raises_dataset_error_at_first_next():
    batches = DataGenerator(verbose=False).generate(batch_size=2)
    with pytest.raises(DatasetError, match="empty"):
        next(batches)


def test_header_only_csv_gives_empty_dataset(tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("frame,xmin,xmax,ymin,ymax,class_id\n")
    generator = DataGenerator(verbose=False)
    generator.parse_csv(str(IMAGES), str(labels), UDACITY, verbose=False)
    assert generator.get_dataset_size() == 0
    with pytest.raises(DatasetError):
        next(generator.generate())


@pytest.mark.parametrize("batch_size", [0, -1, 2.5])
def test_bad_batch_size(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        next(_csv_generator().generate(batch_size=batch_size))


def test_unknown_return_name():
    with pytest.raises(ValueError, match="processed_label"):
        next(_csv_generator().generate(returns={"processed_label"}))


def test_generator_reads_attributes_lazily():
    """The Evaluator sets `image_ids` after creating the generator, so `generate` must be lazy."""
    generator = _csv_generator()
    batches = generator.generate(batch_size=2, shuffle=False, returns={"image_ids"})
    generator.image_ids = list(range(generator.dataset_size))
    assert next(batches) == ([0, 1],)


def test_all_returns_in_original_order():
    generator = _voc_generator()
    generator.eval_neutral[0] = [False, True]
    shift = ShiftRight(5)
    with pytest.warns(UserWarning, match="matched_anchors"):
        batch = next(
            generator.generate(
                batch_size=3,
                shuffle=False,
                transformations=[shift],
                label_encoder=CountEncoder(),
                returns=ALL_RETURNS,
                keep_images_without_gt=True,
            )
        )
    assert isinstance(batch, tuple)
    assert len(batch) == len(ALL_RETURNS)
    images, encoded, matched, labels, filenames, ids, neutral, inverters, originals, orig = batch
    assert shift.labels_format == generator.labels_format
    assert images.shape == (3, 300, 480, 3)
    assert images.dtype == np.uint8
    np.testing.assert_array_equal(encoded, [[2], [0], [4]])
    assert matched is None
    assert ids == ["000003", "000011", "000007"]
    assert filenames == [str(IMAGES / f"{image_id}.jpg") for image_id in ids]
    assert neutral == [[False, True], [], [False] * 4]
    assert labels[1].shape == (0, 5)
    np.testing.assert_array_equal(labels[0][:, [1, 3]], np.asarray(orig[0])[:, [1, 3]] + 5)
    np.testing.assert_array_equal(originals[2], read_image(filenames[2]))
    prediction = np.array([[1, 0.9, 15.0, 20.0, 45.0, 60.0]])
    assert all(len(item) == 1 for item in inverters)
    np.testing.assert_array_equal(inverters[0][0](prediction)[0, [2, 4]], [10.0, 40.0])


def test_inverse_transform_without_transformations_is_empty_per_item():
    batch = next(
        _csv_generator().generate(batch_size=2, shuffle=False, returns={"inverse_transform"})
    )
    assert batch == ([[], []],)


def test_shuffle_permutes_lists_in_place_like_the_original():
    generator = _csv_generator()
    pairs = dict(zip(generator.image_ids, generator.filenames, strict=True))
    labels_by_id = dict(zip(generator.image_ids, generator.labels, strict=True))
    np.random.seed(3)
    expected = np.arange(10)
    np.random.shuffle(expected)
    np.random.seed(3)
    batches = generator.generate(batch_size=4, shuffle=True, returns={"image_ids"})
    first = next(batches)
    np.testing.assert_array_equal(generator.dataset_indices, expected)
    assert first == ([f"{k + 1:06d}" for k in expected[:4]],)
    for image_id, filename, labels in zip(
        generator.image_ids, generator.filenames, generator.labels, strict=True
    ):
        assert pairs[image_id] == filename
        np.testing.assert_array_equal(labels_by_id[image_id], labels)


def test_every_pass_shows_every_image_once_and_reshuffles():
    generator = _csv_generator()
    np.random.seed(0)
    batches = generator.generate(batch_size=4, shuffle=True, returns={"image_ids"})
    passes = []
    for _ in range(2):
        ids = [i for _ in range(3) for i in next(batches)[0]]
        assert sorted(ids) == sorted(f"{k:06d}" for k in range(1, 11))
        passes.append(ids)
    assert passes[0] != passes[1]


@pytest.mark.parametrize("source", ["files", "memory", "hdf5"])
def test_images_follow_their_labels_when_shuffled(source, tmp_path):
    generator = _csv_generator(load_images_into_memory=source == "memory")
    if source == "hdf5":
        generator.create_hdf5_dataset(str(tmp_path / "d.h5"), verbose=False)
    np.random.seed(1)
    batches = generator.generate(
        batch_size=5, shuffle=True, returns={"processed_images", "filenames"}
    )
    for _ in range(3):
        images, filenames = next(batches)
        for image, filename in zip(images, filenames, strict=True):
            np.testing.assert_array_equal(image, read_image(filename))


# ----------------------------------------------------------------------------------------------
# Images without boxes, failed transformations, degenerate boxes


@pytest.mark.parametrize("source", ["files", "memory", "hdf5"])
@pytest.mark.parametrize("keep", [False, True])
def test_images_without_boxes_in_every_mode(source, keep, tmp_path):
    generator = _voc_generator(load_images_into_memory=source == "memory")
    if source == "hdf5":
        generator.create_hdf5_dataset(str(tmp_path / "d.h5"), verbose=False)
    batch = next(
        generator.generate(
            batch_size=3,
            shuffle=False,
            transformations=[ShiftRight(1)],
            label_encoder=CountEncoder(),
            returns={"processed_images", "encoded_labels", "processed_labels", "image_ids"},
            keep_images_without_gt=keep,
        )
    )
    images, encoded, labels, ids = batch
    expected_ids = ["000003", "000011", "000007"] if keep else ["000003", "000007"]
    assert ids == expected_ids
    assert images.shape[0] == len(expected_ids)
    assert [len(item) for item in labels] == ([2, 0, 4] if keep else [2, 4])
    np.testing.assert_array_equal(encoded[:, 0], [len(item) for item in labels])


def test_images_without_boxes_with_the_ssd_input_encoder():
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    encoder = SSDInputEncoder(**golden_replay.config("SSD7"))
    generator = DataGenerator(
        filenames=[str(IMAGES / f"{k:06d}.jpg") for k in (1, 11, 2)],
        labels=[np.array([[1, 172, 19, 351, 156]]), [], np.array([[5, 3, 18, 191, 63]])],
        verbose=False,
    )
    _, encoded, matched = next(
        generator.generate(
            batch_size=3,
            shuffle=False,
            label_encoder=encoder,
            returns={"processed_images", "encoded_labels", "matched_anchors"},
            keep_images_without_gt=True,
        )
    )
    assert encoded.shape == matched.shape == (3, 11692, 18)
    empty = encoded[1]
    assert np.all(empty[:, 0] == 1)
    assert np.all(empty[:, 1:6] == 0)
    assert np.all(encoded[[0, 2], :, 1:6].sum(axis=(1, 2)) > 0)


def test_failed_transformation_removes_item_without_filenames(tmp_path):
    """A `None` image removes the item, also in a dataset without filenames (the original
    crashed there)."""
    _csv_generator().create_hdf5_dataset(str(tmp_path / "d.h5"), verbose=False)
    generator = DataGenerator(hdf5_dataset_path=str(tmp_path / "d.h5"), verbose=False)
    assert generator.filenames is None
    means = [read_image(IMAGES / f"{k:06d}.jpg").mean() for k in range(1, 5)]
    drop = DropImage(limit=sorted(means)[1])
    identity = ShiftRight(0)
    images, labels, filenames, ids = next(
        generator.generate(
            batch_size=4,
            shuffle=False,
            transformations=[drop, identity],
            returns={"processed_images", "processed_labels", "filenames", "image_ids"},
        )
    )
    survivors = [f"{k + 1:06d}" for k in range(4) if means[k] >= sorted(means)[1]]
    assert ids == survivors
    assert images.shape[0] == len(labels) == 3
    assert filenames is None


def _degenerate_generator() -> DataGenerator:
    labels = [
        np.array([[1, 10, 10, 50, 50], [2, 30, 10, 30, 40], [3, 5, 9, 8, 2]]),
        np.array([[1, 20, 20, 10, 60]]),
    ]
    filenames = [str(IMAGES / "000001.jpg"), str(IMAGES / "000002.jpg")]
    return DataGenerator(filenames=filenames, labels=labels, verbose=False)


def test_degenerate_boxes_are_removed_and_counted(caplog):
    generator = _degenerate_generator()
    with caplog.at_level(logging.WARNING, logger="data_generator"):
        batch = next(
            generator.generate(
                batch_size=2,
                shuffle=False,
                returns={"processed_labels", "filenames"},
            )
        )
    labels, filenames = batch
    assert len(labels) == 1
    np.testing.assert_array_equal(labels[0], [[1, 10, 10, 50, 50]])
    assert filenames == [str(IMAGES / "000001.jpg")]
    messages = [record.getMessage() for record in caplog.records]
    assert any("Removed 2 degenerate" in m and "000001.jpg" in m for m in messages)
    assert any("Removed 1 degenerate" in m and "000002.jpg" in m for m in messages)


def test_degenerate_boxes_kept_item_when_keeping_images_without_gt():
    batch = next(
        _degenerate_generator().generate(
            batch_size=2, shuffle=False, returns={"processed_labels"}, keep_images_without_gt=True
        )
    )
    assert [item.shape for item in batch[0]] == [(1, 5), (0, 5)]


def test_degenerate_boxes_warn_mode():
    with pytest.warns(UserWarning, match="degenerate ground truth") as caught:
        batch = next(
            _degenerate_generator().generate(
                batch_size=2,
                shuffle=False,
                returns={"processed_labels"},
                degenerate_box_handling="warn",
            )
        )
    assert [len(item) for item in batch[0]] == [3, 1]
    assert [str(w.message)[:2] for w in caught] == ["2 ", "1 "]


def test_degenerate_boxes_other_mode_ignores_them():
    batch = next(
        _degenerate_generator().generate(
            batch_size=2, shuffle=False, returns={"processed_labels"}, degenerate_box_handling="no"
        )
    )
    assert [len(item) for item in batch[0]] == [3, 1]


def test_all_items_removed_raises_degenerate_batch_error():
    generator = DataGenerator(
        filenames=[str(IMAGES / "000011.jpg")], labels=[np.zeros((0, 5))], verbose=False
    )
    with pytest.raises(DegenerateBatchError, match="empty"):
        next(generator.generate(batch_size=1, returns={"processed_images"}))


def test_images_of_different_shapes_raise_degenerate_batch_error():
    class CropBy:
        def __init__(self):
            self.calls = 0

        def __call__(self, image, labels=None):
            self.calls += 1
            return image[: 100 + self.calls], labels

    with pytest.raises(DegenerateBatchError, match="same shape"):
        next(
            _csv_generator().generate(
                batch_size=2,
                shuffle=False,
                transformations=[CropBy()],
                returns={"processed_images"},
            )
        )


def test_impossible_returns_warn_and_yield_none():
    generator = DataGenerator(filenames=[str(IMAGES / "000001.jpg")], verbose=False)
    with pytest.warns(UserWarning, match="no labels"):
        batch = next(generator.generate(batch_size=1, returns={"processed_labels", "image_ids"}))
    assert batch == (None, None)
    with pytest.warns(UserWarning, match="no label encoder"):
        batch = next(_csv_generator().generate(batch_size=1, returns={"encoded_labels"}))
    assert batch == (None,)


def test_transformations_without_labels_get_the_image_only():
    generator = DataGenerator(filenames=[str(IMAGES / "000001.jpg")], verbose=False)
    shift = ShiftRight(0)
    images, inverters = next(
        generator.generate(
            batch_size=1,
            transformations=[shift],
            returns={"processed_images", "inverse_transform"},
        )
    )
    assert shift.labels_format is None
    assert images.shape == (1, 300, 480, 3)
    assert len(inverters[0]) == 1


def test_parse_error_keeps_previous_dataset(tmp_path):
    generator = _csv_generator()
    before = generator.get_dataset()
    bad = tmp_path / "bad.csv"
    bad.write_text("frame,xmin,xmax,ymin,ymax,class_id\n000001.jpg,1,x,3,4,1\n")
    with pytest.raises(ValueError, match="line 2"):
        generator.parse_csv(str(IMAGES), str(bad), UDACITY, verbose=False)
    assert generator.get_dataset() == before
    assert generator.get_dataset_size() == 10


def test_missing_image_names_the_file(tmp_path):
    missing = str(Path(tmp_path) / "gone.jpg")
    generator = DataGenerator(filenames=[missing], labels=[np.array([[1, 0, 0, 5, 5]])])
    with pytest.raises(MissingFileError, match="gone.jpg"):
        next(generator.generate(batch_size=1, returns={"processed_images"}))


@pytest.mark.parametrize("chain", ["constant_input_size", "original_ssd"])
def test_augmentation_chains_keep_images_without_boxes(chain):
    from data_generator.data_augmentation_chain_constant_input_size import (
        DataAugmentationConstantInputSize,
    )
    from data_generator.data_augmentation_chain_original_ssd import SSDDataAugmentation

    transform = (
        DataAugmentationConstantInputSize()
        if chain == "constant_input_size"
        else SSDDataAugmentation(img_height=300, img_width=300)
    )
    generator = _voc_generator(image_set="all.txt")
    np.random.seed(0)
    batches = generator.generate(
        batch_size=11,
        shuffle=False,
        transformations=[transform],
        returns={"processed_images", "processed_labels", "image_ids"},
        keep_images_without_gt=True,
    )
    for _ in range(3):
        images, labels, ids = next(batches)
        assert len(ids) == images.shape[0] == len(labels) == 11
        assert labels[ids.index("000011")].shape == (0, 5)
        height, width = images.shape[1:3]
        for item in labels:
            assert item.shape[1] == 5
            assert np.all(item[:, 3] > item[:, 1])
            assert np.all(item[:, 4] > item[:, 2])
            assert np.all(item[:, 1:] >= 0)
            assert np.all(item[:, [1, 3]] <= width)
            assert np.all(item[:, [2, 4]] <= height)
