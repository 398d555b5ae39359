"""Tests of `DataGenerator.as_dataset`, the Keras 3 `PyDataset` input pipeline."""

# ruff: noqa: NPY002 - the library draws from the legacy global generator, as the original

from __future__ import annotations

import pickle
import random
from concurrent.futures import ThreadPoolExecutor

import cv2
import golden_replay
import keras
import numpy as np
import pytest

from data_generator.keras_dataset import DetectionDataset
from data_generator.object_detection_2d_data_generator import DataGenerator, DatasetError

NUM_IMAGES = 10
BATCH = 3
DATASET = golden_replay.GOLDEN_DIR / "dataset"


class CountEncoder:
    """`(B, 1)` number of boxes per image."""

    def __call__(self, labels):
        return np.array([[len(item)] for item in labels], dtype=np.float32)


class RandomOffset:
    """Random test augmentation drawing from both global generators like the real ops do."""

    labels_format = None

    def __call__(self, image, labels=None):
        offset = np.random.randint(0, 5) + (random.random() < 0.5)
        image = image + np.uint8(offset)
        return image if labels is None else (image, labels)


@pytest.fixture(scope="module")
def coded_generator(tmp_path_factory):
    """Images whose pixels all equal `10 * index` (8x8 PNG) and `index % 3 + 1` boxes each."""
    folder = tmp_path_factory.mktemp("coded")
    filenames, labels = [], []
    for index in range(NUM_IMAGES):
        path = folder / f"{index:02d}.png"
        cv2.imwrite(str(path), np.full((8, 8, 3), 10 * index, np.uint8))
        filenames.append(str(path))
        labels.append(np.array([[1, 0, 0, 4, 4]] * (index % 3 + 1)))
    return DataGenerator(filenames=filenames, labels=labels, verbose=False)


def _max_pixel_model() -> keras.Model:
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.GlobalMaxPooling2D()])


def _ids(predictions: np.ndarray) -> list[int]:
    return (predictions[:, 0] // 10).astype(int).tolist()


@pytest.mark.parametrize("use_multiprocessing", [False, True], ids=["threads", "processes"])
def test_two_workers_show_each_sample_once_per_epoch(coded_generator, use_multiprocessing):
    dataset = coded_generator.as_dataset(
        batch_size=BATCH,
        seed=11,
        returns={"processed_images"},
        workers=2,
        use_multiprocessing=use_multiprocessing,
    )
    model = _max_pixel_model()
    orders = []
    for epoch in range(2):
        assert dataset.epoch == epoch
        ids = _ids(model.predict(dataset, verbose=0))
        assert sorted(ids) == list(range(NUM_IMAGES))
        assert ids == np.random.RandomState([11, epoch]).permutation(NUM_IMAGES).tolist()
        orders.append(ids)
    assert orders[0] != orders[1]


def test_same_batches_as_generate_without_augmentation():
    generator = DataGenerator(verbose=False)
    generator.parse_xml(
        [str(DATASET / "JPEGImages")],
        [str(DATASET / "ImageSets" / "Main" / "all.txt")],
        [str(DATASET / "Annotations")],
        verbose=False,
    )
    returns = {"processed_images", "encoded_labels", "processed_labels", "image_ids"}
    kwargs = {
        "batch_size": 4,
        "shuffle": False,
        "label_encoder": CountEncoder(),
        "returns": returns,
    }
    dataset = generator.as_dataset(**kwargs)
    batches = generator.generate(**kwargs)
    assert len(dataset) == 3
    for index in range(len(dataset)):
        expected = next(batches)
        got = dataset[index]
        assert isinstance(got, tuple)
        assert len(got) == len(expected) == 4
        np.testing.assert_array_equal(got[0], expected[0])
        np.testing.assert_array_equal(got[1], expected[1])
        for got_labels, want_labels in zip(got[2], expected[2], strict=True):
            np.testing.assert_array_equal(got_labels, want_labels)
        assert got[3] == expected[3]
    assert dataset[2][3] == ["000009", "000010"]  # 000011 has no boxes and is dropped


def test_seed_makes_augmentation_reproducible(coded_generator):
    def make(seed):
        return coded_generator.as_dataset(
            batch_size=BATCH,
            seed=seed,
            transformations=[RandomOffset()],
            returns={"processed_images", "image_ids"},
        )

    reference = make(5)
    expected = [reference[i][0] for i in range(len(reference))]
    numpy_state = np.random.get_state()[1].copy()
    python_state = random.getstate()
    replay = make(5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        got = list(pool.map(lambda i: replay[i][0], reversed(range(len(replay)))))[::-1]
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_array_equal(want, have)
    np.testing.assert_array_equal(np.random.get_state()[1], numpy_state)
    assert random.getstate() == python_state
    other = make(6)
    assert any(not np.array_equal(want, other[i][0]) for i, want in enumerate(expected))
    offsets = np.concatenate(expected)[:, 0, 0, 0] % 10
    assert len(set(offsets.tolist())) > 1


def test_process_workers_seed_augmentation_like_a_single_process(coded_generator):
    model = _max_pixel_model()
    results = []
    for workers, use_multiprocessing in ((1, False), (2, True)):
        dataset = coded_generator.as_dataset(
            batch_size=BATCH,
            seed=3,
            transformations=[RandomOffset()],
            returns={"processed_images"},
            workers=workers,
            use_multiprocessing=use_multiprocessing,
        )
        results.append([model.predict(dataset, verbose=0)[:, 0] for _ in range(2)])
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[0][0] % 10, results[0][1] % 10)


@pytest.mark.parametrize("use_multiprocessing", [False, True], ids=["threads", "processes"])
def test_model_fit_consumes_the_dataset(coded_generator, use_multiprocessing):
    dataset = coded_generator.as_dataset(
        batch_size=BATCH,
        seed=0,
        label_encoder=CountEncoder(),
        workers=2,
        use_multiprocessing=use_multiprocessing,
    )
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    history = model.fit(dataset, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    assert np.all(np.isfinite(history.history["loss"]))


def test_snapshot_is_not_affected_by_generate(coded_generator):
    dataset = coded_generator.as_dataset(
        batch_size=BATCH, shuffle=False, returns={"processed_images"}
    )
    before = [dataset[i] for i in range(len(dataset))]
    np.random.seed(0)
    next(coded_generator.generate(batch_size=BATCH, shuffle=True, returns={"processed_images"}))
    for index, batch in enumerate(before):
        np.testing.assert_array_equal(dataset[index], batch)
    assert _ids(np.concatenate(before)[:, 0, 0]) == list(range(NUM_IMAGES))


def test_hdf5_backed_dataset_pickles(tmp_path):
    generator = DataGenerator(verbose=False)
    generator.parse_csv(
        str(DATASET / "JPEGImages"),
        str(DATASET / "labels.csv"),
        ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"],
        verbose=False,
    )
    generator.create_hdf5_dataset(str(tmp_path / "d.h5"), verbose=False)
    dataset = generator.as_dataset(
        batch_size=4, seed=2, label_encoder=CountEncoder(), workers=2, use_multiprocessing=True
    )
    clone = pickle.loads(pickle.dumps(dataset))
    for index in range(len(dataset)):
        for got, want in zip(clone[index], dataset[index], strict=True):
            np.testing.assert_array_equal(got, want)
    clone.on_epoch_end()
    assert clone.epoch == 1
    assert not np.array_equal(clone.positions(0), dataset.positions(0))


def test_length_index_errors_and_bad_arguments(coded_generator):
    dataset = coded_generator.as_dataset(batch_size=4, returns={"processed_images"})
    assert isinstance(dataset, DetectionDataset)
    assert isinstance(dataset, keras.utils.PyDataset)
    assert len(dataset) == 3
    assert dataset[2].shape == (2, 8, 8, 3)
    with pytest.raises(IndexError):
        dataset[3]
    with pytest.raises(ValueError, match="seed"):
        coded_generator.as_dataset(seed=-1, returns={"processed_images"})
    with pytest.raises(ValueError, match="batch_size"):
        coded_generator.as_dataset(batch_size=0)
    with pytest.raises(DatasetError):
        DataGenerator(verbose=False).as_dataset()
    dataset.set_epoch(4)
    np.testing.assert_array_equal(
        np.concatenate([dataset.positions(i) for i in range(3)]),
        np.random.RandomState([dataset.base_seed, 4]).permutation(NUM_IMAGES),
    )


def _shared_batch(index: int):
    from data_generator.shared_arrays import shareable

    big = np.arange(300_000, dtype=np.float64).reshape(1000, 300) + index
    return shareable((big, np.arange(3), ["names"]))


def test_large_arrays_travel_through_shared_memory():
    import multiprocessing
    import os

    from data_generator.shared_arrays import SharedMemoryArray

    local = _shared_batch(0)
    assert isinstance(local[0], SharedMemoryArray)
    assert type(local[1]) is np.ndarray
    before = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    with multiprocessing.get_context("fork").Pool(2) as pool:
        results = pool.map(_shared_batch, range(4))
    for index, (big, small, names) in enumerate(results):
        assert type(big) is np.ndarray
        np.testing.assert_array_equal(big, np.arange(300_000).reshape(1000, 300) + index)
        np.testing.assert_array_equal(small, [0, 1, 2])
        assert names == ["names"]
    clone = pickle.loads(pickle.dumps(local[0]))
    assert type(clone) is np.ndarray
    np.testing.assert_array_equal(clone, local[0])
    after = set(os.listdir("/dev/shm")) if os.path.isdir("/dev/shm") else set()
    assert after <= before


def test_repeat_is_endless_and_gives_each_epochs_batches(coded_generator):
    def make(repeat):
        return coded_generator.as_dataset(
            batch_size=BATCH,
            seed=4,
            transformations=[RandomOffset()],
            returns={"processed_images", "filenames"},
            repeat=repeat,
        )

    finite, endless = make(False), make(True)
    n = len(finite)  # 4 batches of up to 3 images
    assert finite.num_batches == n
    assert endless.num_batches is None and len(endless) == n
    expected = []
    for _ in range(3):
        expected += [finite[i] for i in range(n)]
        finite.on_epoch_end()
    # Any order of requests, from any position: item i is batch i % n of epoch i // n.
    for i in reversed(range(3 * n)):
        images, ids = endless[i]
        np.testing.assert_array_equal(images, expected[i][0])
        assert list(ids) == list(expected[i][1])
    for epoch in range(3):
        names = [name for b in range(n) for name in expected[epoch * n + b][1]]
        assert sorted(names) == sorted(coded_generator.filenames)
    assert expected[0][1] != expected[n][1]  # shuffled anew each epoch
    with pytest.raises(IndexError):
        finite[n]


@pytest.mark.parametrize("workers", [1, 2])
def test_repeat_lets_fit_run_more_steps_than_one_pass(coded_generator, workers):
    dataset = coded_generator.as_dataset(
        batch_size=BATCH, seed=0, label_encoder=CountEncoder(), repeat=True, workers=workers
    )
    model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Flatten(), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(1e-6), loss="mse")
    # 3 epochs of 5 steps = 15 batches from a 4-batch dataset; without repeat Keras would stop.
    # `shuffle=False`: the dataset shuffles itself; Keras warns about `shuffle=True` when endless.
    history = model.fit(dataset, epochs=3, steps_per_epoch=5, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3
