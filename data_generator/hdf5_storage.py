"""HDF5 dataset files in the layout of the original library's `create_hdf5_dataset`.

Layout (one row per image, `N` images):

- file attributes `has_labels`, `has_image_ids`, `has_eval_neutral`, `variable_image_size` (bool);
- `images`: `(N,)` variable-length uint8, each image flattened in `(height, width, 3)` order;
- `image_shapes`: `(N, 3)` int32;
- `labels`: `(N,)` variable-length int32, each `(k, 5)` label array flattened, with
  `label_shapes`: `(N, 2)` int32 (only when `has_labels`);
- `image_ids`: `(N,)` variable-length str (only when `has_image_ids`);
- `eval_neutral`: `(N,)` variable-length bool (only when `has_eval_neutral`).

Files written by the original library open unchanged. Image ids are returned as `str` (h5py 3
reads variable-length strings as bytes).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import h5py
import numpy as np
from tqdm import tqdm

from data_generator.image_io import to_three_channels
from misc_utils.atomic_write import atomic_path

_READ_BLOCK = 256  # images read per HDF5 access when loading a whole dataset into memory


@dataclass
class Hdf5Contents:
    """Everything `read_hdf5_contents` loaded from an HDF5 dataset file.

    Attributes:
        dataset_size: Number of images `N`.
        images: The `N` images as `(height, width, 3)` uint8 arrays, or `None` if not loaded.
        labels: `N` int32 arrays of shape `(k, 5)` (absolute pixels), or `None`.
        image_ids: `N` ids as str, or `None`.
        eval_neutral: `N` bool arrays of shape `(k,)`, or `None`.
    """

    dataset_size: int
    images: list[np.ndarray] | None
    labels: list[np.ndarray] | None
    image_ids: list[str] | None
    eval_neutral: list[np.ndarray] | None


def write_hdf5_dataset(
    file_path: str,
    dataset_size: int,
    load_image: Callable[[int], np.ndarray],
    labels: Sequence[Any] | None,
    image_ids: Sequence[Any] | None,
    eval_neutral: Sequence[Any] | None,
    num_label_columns: int,
    resize: bool | tuple[int, int] = False,
    variable_image_size: bool = True,
    verbose: bool = True,
) -> None:
    """Writes a dataset file atomically.

    The file is written under a temporary name in the target directory,
    `.<name>.<host>.<pid>.<random>.partial`, and renamed to `file_path` only when complete, so an
    error (or an interrupt) never leaves a file at `file_path` that looks finished. The
    temporary file is deleted on an exception, a Ctrl-C or a SIGTERM. A run killed outright
    (SIGKILL, out of memory) cannot delete it; the next call for the same `file_path` removes
    such leftovers, the ones written on this host by a process that no longer exists, and keeps
    those of live processes (see `misc_utils.atomic_write`).

    Args:
        file_path: Target path of the HDF5 file.
        dataset_size: Number of images `N`.
        load_image: Returns image `i` (uint8, 2-D or `(height, width, channels)`).
        labels: `N` label arrays (or lists of rows), `(k, num_label_columns)`, or `None`.
        image_ids: `N` image ids (stored as str) or `None`.
        eval_neutral: `N` lists of per-box booleans or `None`.
        num_label_columns: Number of label columns, used to shape images without boxes.
        resize: `False` or `(height, width)`: images are resized with `cv2.resize` (bilinear).
            Labels are **not** rescaled (as in the original; a warning says so).
        variable_image_size: Stored in the `variable_image_size` attribute (forced to `False`
            when `resize` is given).
        verbose: Show a tqdm progress bar.
    """
    resize = _check_resize(resize)
    if resize and labels is not None:
        warnings.warn(
            "create_hdf5_dataset(resize=...) resizes the images but does not rescale the labels "
            "(as in the original library); resize them with a `Resize` transformation instead.",
            stacklevel=3,
        )
    with atomic_path(file_path) as temporary_path, h5py.File(temporary_path, "w") as h5_file:
        writer = _Hdf5Writer(
            h5_file,
            dataset_size,
            labels,
            image_ids,
            eval_neutral,
            variable_image_size and not resize,
        )
        progress = tqdm(
            range(dataset_size),
            desc="Creating HDF5 dataset",
            file=sys.stdout,
            disable=not verbose,
        )
        for index in progress:
            image = to_three_channels(load_image(index))
            if resize:
                image = cv2.resize(image, dsize=(resize[1], resize[0]))
            writer.write(index, image, num_label_columns)
        writer.warn_if_truncated()


def _check_resize(resize: Any) -> tuple[int, int] | bool:
    if resize is False or resize is None:
        return False
    valid = (
        isinstance(resize, (list, tuple))
        and len(resize) == 2
        and all(isinstance(size, (int, np.integer)) and size > 0 for size in resize)
    )
    if not valid:
        raise ValueError(
            f"`resize` must be False or a (height, width) pair of positive ints, got {resize!r}."
        )
    return int(resize[0]), int(resize[1])


class _Hdf5Writer:
    """Creates the datasets of the layout and writes one image's row at a time."""

    def __init__(
        self,
        h5_file: h5py.File,
        size: int,
        labels: Any,
        image_ids: Any,
        eval_neutral: Any,
        variable_image_size: bool,
    ) -> None:
        self.labels, self.image_ids, self.eval_neutral = labels, image_ids, eval_neutral
        self.truncated_labels = 0
        attrs = h5_file.attrs
        for name, value in (
            ("has_labels", labels is not None),
            ("has_image_ids", image_ids is not None),
            ("has_eval_neutral", eval_neutral is not None),
            ("variable_image_size", variable_image_size),
        ):
            attrs.create(name=name, data=value, dtype=np.bool_)
        self.images = self._vlen(h5_file, "images", size, np.uint8)
        self.image_shapes = h5_file.create_dataset(
            "image_shapes", shape=(size, 3), maxshape=(None, 3), dtype=np.int32
        )
        if labels is not None:
            self.labels_ds = self._vlen(h5_file, "labels", size, np.int32)
            self.label_shapes = h5_file.create_dataset(
                "label_shapes", shape=(size, 2), maxshape=(None, 2), dtype=np.int32
            )
        if image_ids is not None:
            self.image_ids_ds = self._vlen(h5_file, "image_ids", size, str)
        if eval_neutral is not None:
            self.eval_neutral_ds = self._vlen(h5_file, "eval_neutral", size, np.bool_)

    @staticmethod
    def _vlen(h5_file: h5py.File, name: str, size: int, base: Any) -> h5py.Dataset:
        dtype = h5py.string_dtype() if base is str else h5py.vlen_dtype(base)
        return h5_file.create_dataset(name, shape=(size,), maxshape=(None,), dtype=dtype)

    def write(self, index: int, image: np.ndarray, num_label_columns: int) -> None:
        self.images[index] = image.reshape(-1)
        self.image_shapes[index] = image.shape
        if self.labels is not None:
            labels = np.asarray(self.labels[index])
            if labels.size == 0:
                labels = labels.reshape(0, num_label_columns)
            as_int = labels.astype(np.int32)
            self.truncated_labels += int(np.count_nonzero(as_int != labels))
            self.labels_ds[index] = as_int.reshape(-1)
            self.label_shapes[index] = as_int.shape
        if self.image_ids is not None:
            self.image_ids_ds[index] = str(self.image_ids[index])
        if self.eval_neutral is not None:
            self.eval_neutral_ds[index] = np.asarray(self.eval_neutral[index], dtype=np.bool_)

    def warn_if_truncated(self) -> None:
        if self.truncated_labels:
            warnings.warn(
                f"create_hdf5_dataset stores labels as int32 (the original library's layout): "
                f"{self.truncated_labels} non-integer label value(s) were truncated.",
                stacklevel=4,
            )


def read_hdf5_contents(h5_file: h5py.File, load_images: bool, verbose: bool = True) -> Hdf5Contents:
    """Reads the labels, ids, neutrality flags and optionally the images of an open file.

    Args:
        h5_file: An HDF5 file in the layout described in this module.
        load_images: Also load every image into memory.
        verbose: Show tqdm progress bars.
    """
    size = len(h5_file["images"])
    attrs = h5_file.attrs
    images = _read_images(h5_file, size, verbose) if load_images else None
    labels = image_ids = eval_neutral = None
    if attrs["has_labels"]:
        flat, shapes = h5_file["labels"][()], h5_file["label_shapes"][()]
        labels = [flat[i].reshape(shapes[i]) for i in range(size)]
    if attrs["has_image_ids"]:
        image_ids = [str(image_id) for image_id in h5_file["image_ids"].asstr()[()]]
    if attrs["has_eval_neutral"]:
        eval_neutral = list(h5_file["eval_neutral"][()])
    return Hdf5Contents(size, images, labels, image_ids, eval_neutral)


def _read_images(h5_file: h5py.File, size: int, verbose: bool) -> list[np.ndarray]:
    images_ds, shapes = h5_file["images"], h5_file["image_shapes"][()]
    images = []
    starts = range(0, size, _READ_BLOCK)
    for start in tqdm(
        starts, desc="Loading images into memory", file=sys.stdout, disable=not verbose
    ):
        block = images_ds[start : start + _READ_BLOCK]
        images += [flat.reshape(shapes[start + k]) for k, flat in enumerate(block)]
    return images


class Hdf5ImageReader:
    """Reads single images from an HDF5 dataset file by index.

    The reader opens the file lazily and again in every process that uses it, so it can be sent
    to (or inherited by) worker processes; pickling drops the open handle.

    Args:
        path: Path of the HDF5 file.
        h5_file: An already open handle of `path` to use in this process, or `None`.
    """

    def __init__(self, path: str, h5_file: h5py.File | None = None) -> None:
        self.path = path
        self._pid = os.getpid() if h5_file is not None else None
        self._file = h5_file
        self._images = self._shapes = None
        if h5_file is not None:
            self._bind(h5_file)

    def _bind(self, h5_file: h5py.File) -> None:
        self._file, self._pid = h5_file, os.getpid()
        self._images, self._shapes = h5_file["images"], h5_file["image_shapes"]

    def image(self, index: int) -> np.ndarray:
        """Image `index` as a `(height, width, 3)` uint8 array."""
        if self._pid != os.getpid():
            self._bind(h5py.File(self.path, "r"))
        return self._images[index].reshape(self._shapes[index])

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["path"])
