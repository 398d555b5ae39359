"""Tests of `DataGenerator.create_hdf5_dataset` / loading HDF5 datasets (original file layout)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import golden_replay
import h5py
import numpy as np
import pytest

from data_generator.hdf5_storage import Hdf5ImageReader, write_hdf5_dataset
from data_generator.image_io import read_image
from data_generator.object_detection_2d_data_generator import DataGenerator, DatasetError
from misc_utils.atomic_write import _host_tag

DATASET = golden_replay.GOLDEN_DIR / "dataset"
IMAGES = str(DATASET / "JPEGImages")


def _voc(image_set="trainval.txt", **kwargs) -> DataGenerator:
    generator = DataGenerator(verbose=False, **kwargs)
    generator.parse_xml(
        [IMAGES],
        [str(DATASET / "ImageSets" / "Main" / image_set)],
        [str(DATASET / "Annotations")],
        verbose=False,
    )
    return generator


def test_round_trip_keeps_images_labels_ids_and_flags(tmp_path):
    source = _voc("all.txt")
    path = tmp_path / "voc.h5"
    source.create_hdf5_dataset(str(path), verbose=False)
    assert source.hdf5_dataset.mode == "r"
    assert source.get_dataset_size() == 11
    for load in (False, True):
        loaded = DataGenerator(
            hdf5_dataset_path=str(path), load_images_into_memory=load, verbose=False
        )
        assert loaded.filenames is None
        assert loaded.image_ids == source.image_ids
        assert all(isinstance(image_id, str) for image_id in loaded.image_ids)
        for got, want in zip(loaded.labels, source.labels, strict=True):
            np.testing.assert_array_equal(got, np.asarray(want).reshape(-1, 5))
            assert got.dtype == np.int32
        for got, want in zip(loaded.eval_neutral, source.eval_neutral, strict=True):
            np.testing.assert_array_equal(got, np.asarray(want, dtype=bool))
        batch = next(
            loaded.generate(
                batch_size=11,
                shuffle=False,
                returns={"processed_images", "processed_labels"},
                keep_images_without_gt=True,
            )
        )
        for index, image in enumerate(batch[0]):
            np.testing.assert_array_equal(image, read_image(source.filenames[index]))
        assert batch[1][10].shape == (0, 5)


def test_file_layout_matches_the_original(tmp_path):
    path = tmp_path / "csv.h5"
    generator = DataGenerator(verbose=False)
    generator.parse_csv(
        IMAGES,
        str(DATASET / "labels.csv"),
        ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"],
        verbose=False,
    )
    generator.create_hdf5_dataset(str(path), verbose=False)
    with h5py.File(path, "r") as h5:
        assert dict(h5.attrs) == {
            "has_labels": True,
            "has_image_ids": True,
            "has_eval_neutral": False,
            "variable_image_size": True,
        }
        assert all(isinstance(value, np.bool_) for value in h5.attrs.values())
        assert set(h5) == {"images", "image_shapes", "labels", "label_shapes", "image_ids"}
        assert h5["images"].shape == (10,)
        assert h5["images"].maxshape == (None,)
        assert h5py.check_vlen_dtype(h5["images"].dtype) == np.uint8
        assert h5py.check_vlen_dtype(h5["labels"].dtype) == np.int32
        assert h5py.check_string_dtype(h5["image_ids"].dtype) is not None
        assert h5["image_shapes"].dtype == np.int32
        np.testing.assert_array_equal(h5["image_shapes"][()], [[300, 480, 3]] * 10)
        np.testing.assert_array_equal(h5["label_shapes"][:3], [[1, 5], [4, 5], [2, 5]])
        np.testing.assert_array_equal(h5["labels"][0], [1, 172, 19, 351, 156])
        assert h5["images"][0].size == 300 * 480 * 3


def test_opens_a_file_written_with_the_original_h5py_calls(tmp_path):
    """A file built as the original library built it (h5py.special_dtype, flattened arrays)."""
    path = tmp_path / "old.h5"
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    labels = np.array([[1, 0, 0, 2, 1], [2, 1, 0, 3, 2]], dtype=np.int32)
    with h5py.File(path, "w") as h5:
        for name in ("has_labels", "has_image_ids", "has_eval_neutral"):
            h5.attrs.create(name=name, data=True, shape=None, dtype=np.bool_)
        h5.attrs.create(name="variable_image_size", data=True, shape=None, dtype=np.bool_)
        for name, vlen in (
            ("images", np.uint8),
            ("labels", np.int32),
            ("image_ids", str),
            ("eval_neutral", np.bool_),
        ):
            h5.create_dataset(
                name, shape=(1,), maxshape=(None,), dtype=h5py.special_dtype(vlen=vlen)
            )
        h5.create_dataset("image_shapes", shape=(1, 3), maxshape=(None, 3), dtype=np.int32)
        h5.create_dataset("label_shapes", shape=(1, 2), maxshape=(None, 2), dtype=np.int32)
        h5["images"][0] = image.reshape(-1)
        h5["image_shapes"][0] = image.shape
        h5["labels"][0] = labels.reshape(-1)
        h5["label_shapes"][0] = labels.shape
        h5["image_ids"][0] = "2007_000123"
        h5["eval_neutral"][0] = [False, True]
    generator = DataGenerator(hdf5_dataset_path=str(path), verbose=False)
    assert generator.image_ids == ["2007_000123"]
    np.testing.assert_array_equal(generator.labels[0], labels)
    np.testing.assert_array_equal(generator.eval_neutral[0], [False, True])
    images, batch_labels = next(
        generator.generate(batch_size=1, returns={"processed_images", "processed_labels"})
    )
    np.testing.assert_array_equal(images[0], image)
    np.testing.assert_array_equal(batch_labels[0], labels)


def test_resize_warns_that_labels_are_not_rescaled(tmp_path):
    generator = _voc()
    path = tmp_path / "r.h5"
    with pytest.warns(UserWarning, match="does not rescale the labels"):
        generator.create_hdf5_dataset(str(path), resize=(150, 240), verbose=False)
    expected = cv2.resize(read_image(generator.filenames[0]), dsize=(240, 150))
    with h5py.File(path, "r") as h5:
        assert not h5.attrs["variable_image_size"]
        np.testing.assert_array_equal(h5["images"][0].reshape(h5["image_shapes"][0]), expected)
        np.testing.assert_array_equal(h5["labels"][0], np.asarray(generator.labels[0]).ravel())


@pytest.mark.parametrize("resize", [(10,), (0, 5), "big", (2.5, 3)])
def test_bad_resize(tmp_path, resize):
    with pytest.raises(ValueError, match="resize"):
        _voc().create_hdf5_dataset(str(tmp_path / "x.h5"), resize=resize, verbose=False)
    assert not os.listdir(tmp_path)


def test_float_labels_are_truncated_with_a_warning(tmp_path):
    generator = DataGenerator(
        filenames=[os.path.join(IMAGES, "000001.jpg")],
        labels=[[[1, 10.5, 2.0, 30.9, 40.0]]],
        verbose=False,
    )
    with pytest.warns(UserWarning, match="2 non-integer label value"):
        generator.create_hdf5_dataset(str(tmp_path / "f.h5"), verbose=False)
    np.testing.assert_array_equal(generator.hdf5_dataset["labels"][0], [1, 10, 2, 30, 40])


def test_images_are_stored_with_three_channels(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    rgba = np.arange(48, dtype=np.uint8).reshape(3, 4, 4)
    cv2.imwrite(str(tmp_path / "g.png"), gray)
    cv2.imwrite(str(tmp_path / "a.png"), cv2.cvtColor(rgba, cv2.COLOR_RGBA2BGRA))
    generator = DataGenerator(
        filenames=[str(tmp_path / "g.png"), str(tmp_path / "a.png")], verbose=False
    )
    generator.create_hdf5_dataset(str(tmp_path / "c.h5"), verbose=False)
    reader = Hdf5ImageReader(str(tmp_path / "c.h5"))
    np.testing.assert_array_equal(reader.image(0), np.stack([gray] * 3, axis=-1))
    np.testing.assert_array_equal(reader.image(1), rgba[:, :, :3])


def test_interrupted_write_leaves_no_file(tmp_path):
    target = tmp_path / "d.h5"
    target.write_bytes(b"previous")

    def failing_loader(index):
        if index == 2:
            raise KeyboardInterrupt
        return np.zeros((4, 4, 3), np.uint8)

    with pytest.raises(KeyboardInterrupt):
        write_hdf5_dataset(str(target), 5, failing_loader, None, None, None, 5, verbose=False)
    assert os.listdir(tmp_path) == ["d.h5"]
    assert target.read_bytes() == b"previous"


def test_missing_image_during_creation_leaves_no_file(tmp_path):
    generator = DataGenerator(
        filenames=[os.path.join(IMAGES, "000001.jpg"), str(tmp_path / "missing.jpg")],
        verbose=False,
    )
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        generator.create_hdf5_dataset(str(tmp_path / "d.h5"), verbose=False)
    assert os.listdir(tmp_path) == []
    assert generator.hdf5_dataset is None


def test_recreating_the_open_file(tmp_path):
    path = str(tmp_path / "d.h5")
    generator = _voc()
    generator.create_hdf5_dataset(path, verbose=False)
    first = next(generator.generate(batch_size=3, shuffle=False, returns={"processed_images"}))
    generator.create_hdf5_dataset(path, verbose=False)
    second = next(generator.generate(batch_size=3, shuffle=False, returns={"processed_images"}))
    np.testing.assert_array_equal(first[0], second[0])
    assert os.listdir(tmp_path) == ["d.h5"]


def test_no_dataset_and_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="no dataset"):
        DataGenerator(verbose=False).create_hdf5_dataset(str(tmp_path / "x.h5"))
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        DataGenerator(hdf5_dataset_path=str(tmp_path / "nope.h5"), verbose=False)


def test_progress_bar(tmp_path, capsys):
    _voc().create_hdf5_dataset(str(tmp_path / "p.h5"), verbose=True)
    assert "Creating HDF5 dataset" in capsys.readouterr().out


def test_image_reader_reopens_after_pickling(tmp_path):
    import pickle

    path = str(tmp_path / "d.h5")
    generator = _voc()
    generator.create_hdf5_dataset(path, verbose=False)
    reader = Hdf5ImageReader(path, generator.hdf5_dataset)
    clone = pickle.loads(pickle.dumps(reader))
    np.testing.assert_array_equal(clone.image(4), reader.image(4))


# ----------------------------------------------------------------------------------------------
# A writer process that is killed mid-write

REPO = Path(__file__).resolve().parents[2]

# Writes 8 images; before image 3 it creates the marker file and sleeps until it is killed.
WRITER = """
import sys, time
import numpy as np
from data_generator.hdf5_storage import write_hdf5_dataset

def load_image(index):
    if index == 3:
        open(sys.argv[2], "w").close()
        time.sleep(300)
    return np.full((32, 48, 3), index, np.uint8)

write_hdf5_dataset(sys.argv[1], 8, load_image, None, None, None, 5, verbose=False)
"""


def _load_image(index):
    return np.full((32, 48, 3), index, np.uint8)


def _write(target):
    write_hdf5_dataset(str(target), 8, _load_image, None, None, None, 5, verbose=False)


def _paused_writer(tmp_path, target):
    """Starts a writer process and returns it once it is in the middle of writing `target`."""
    marker = tmp_path / "paused"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), str(marker)], cwd=REPO, env=env
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert process.poll() is None, f"the writer exited early with code {process.returncode}"
        assert time.monotonic() < deadline, "the writer did not start writing"
        time.sleep(0.05)
    marker.unlink()
    return process


def _partials(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".partial"))


def _stop(process, signum):
    process.send_signal(signum)
    assert process.wait(timeout=60) == -signum


def test_sigkilled_writer_leaves_a_partial_that_the_next_call_removes(tmp_path):
    target = tmp_path / "d.h5"
    writer = _paused_writer(tmp_path, target)
    partials = _partials(tmp_path)
    assert partials and all(f".{_host_tag()}.{writer.pid}." in name for name in partials)
    _stop(writer, signal.SIGKILL)
    assert _partials(tmp_path) == partials  # SIGKILL cannot be caught
    assert not target.exists()
    _write(target)
    assert os.listdir(tmp_path) == ["d.h5"]
    np.testing.assert_array_equal(Hdf5ImageReader(str(target)).image(7), _load_image(7))


def test_sigterm_removes_the_partial_and_still_ends_the_writer(tmp_path):
    target = tmp_path / "d.h5"
    target.write_bytes(b"previous")
    writer = _paused_writer(tmp_path, target)
    assert _partials(tmp_path)
    _stop(writer, signal.SIGTERM)
    assert os.listdir(tmp_path) == ["d.h5"]
    assert target.read_bytes() == b"previous"


def test_partial_of_a_live_writer_is_kept(tmp_path):
    """Another process writing the same file right now keeps its partial file."""
    target = tmp_path / "d.h5"
    writer = _paused_writer(tmp_path, target)
    try:
        partials = _partials(tmp_path)
        _write(target)
        assert _partials(tmp_path) == partials
    finally:
        _stop(writer, signal.SIGKILL)
    _write(target)
    assert os.listdir(tmp_path) == ["d.h5"]


def _dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_only_partials_of_dead_writers_on_this_host_are_removed(tmp_path):
    host, dead = _host_tag(), _dead_pid()
    stale = [f".d.h5.{host}.{dead}.k2x_9qaz.partial", f".d.h5.{host}.{dead}.u7b1c0de.partial"]
    kept = [
        f".d.h5.other-host.{dead}.k2x_9qaz.partial",  # another host (shared file system)
        f".d.h5.{host}.{os.getppid()}.abcd1234.partial",  # a live process
        ".d.h5.k2x_9qaz.partial",  # no writer in the name
        f".e.h5.{host}.{dead}.k2x_9qaz.partial",  # another target
        "d.h5.partial",
    ]
    for name in stale + kept:
        (tmp_path / name).write_bytes(b"x")
    _write(tmp_path / "d.h5")
    assert sorted(os.listdir(tmp_path)) == sorted([*kept, "d.h5"])
