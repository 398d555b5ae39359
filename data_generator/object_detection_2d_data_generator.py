"""A data generator for 2D object detection.

`DataGenerator` holds a dataset (image files, in-memory images or an HDF5 file, plus labels, image
ids and evaluation-neutrality flags), parses annotations (`parse_csv`, `parse_xml`, `parse_json`),
converts datasets to HDF5 (`create_hdf5_dataset`) and produces batches, either with the lazy,
infinite `generate()` of the original library or as a Keras 3 `PyDataset` (`as_dataset()`) that
`model.fit` can run with several workers.

Labels of one image are an array of shape `(k, 5)` with the columns in `labels_output_format`
order (default `class_id, xmin, ymin, xmax, ymax`), box corners in absolute pixels; class 0 is the
background. Images are uint8 arrays `(height, width, channels)` in RGB order.
"""

from __future__ import annotations

import os
import pickle
import sys
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np
from tqdm import tqdm

from data_generator import hdf5_storage, parsers
from data_generator.batching import (
    BatchAssembler,
    ImagePrefetcher,
    SampleSource,
    check_returns,
    warn_impossible_returns,
)
from data_generator.dataset_errors import (
    AnnotationError,
    DatasetError,
    DegenerateBatchError,
    ImageDecodeError,
    MissingFileError,
)
from data_generator.image_io import read_image

__all__ = [
    "AnnotationError",
    "DataGenerator",
    "DatasetError",
    "DegenerateBatchError",
    "ImageDecodeError",
    "MissingFileError",
]

_LABEL_NAMES = ("class_id", "xmin", "ymin", "xmax", "ymax")
_VOC_CLASSES = (
    "background",
    "aeroplane",
    "bicycle",
    "bird",
    "boat",
    "bottle",
    "bus",
    "car",
    "cat",
    "chair",
    "cow",
    "diningtable",
    "dog",
    "horse",
    "motorbike",
    "person",
    "pottedplant",
    "sheep",
    "sofa",
    "train",
    "tvmonitor",
)
_DEFAULT_RETURNS = frozenset({"processed_images", "encoded_labels"})


class DataGenerator:
    """Holds an object detection dataset and generates batches from it.

    Load a dataset here (lists, pickles, a text file of image names or an HDF5 file made by
    `create_hdf5_dataset`) or with one of the parsers. Batches come from `generate()` (lazy Python
    generator, as in the original library) or from `as_dataset()` (a `keras.utils.PyDataset`).

    Args:
        load_images_into_memory: Decode every image once and keep it in memory.
        hdf5_dataset_path: Path of an HDF5 dataset (layout of `create_hdf5_dataset`) to load.
        filenames: List/tuple of image paths, or the path of a pickle of such a list
            (`filenames_type='pickle'`) or of a text file with one image file name per line
            (`filenames_type='text'`, joined with `images_dir`).
        filenames_type: `'text'` or `'pickle'`, how to read a `filenames` path.
        images_dir: Directory of the images named in a `filenames` text file.
        labels: List/tuple with one `(k, 5)` label array per image, or the path of a pickle of it.
        image_ids: List/tuple of image ids, or the path of a pickle of it.
        eval_neutral: List/tuple with one list of per-box booleans per image (`True` = neutral
            in evaluation), or the path of a pickle of it.
        labels_output_format: Order of the five label columns; must contain `'class_id'`,
            `'xmin'`, `'ymin'`, `'xmax'`, `'ymax'`.
        verbose: Show progress bars for slow steps.

    Raises:
        ValueError: On an argument of the wrong type or a `labels_output_format` without one of
            the five names.
        MissingFileError: If a given file does not exist.
    """

    def __init__(
        self,
        load_images_into_memory: bool = False,
        hdf5_dataset_path: str | None = None,
        filenames: Sequence[str] | str | None = None,
        filenames_type: str = "text",
        images_dir: str | None = None,
        labels: Sequence[Any] | str | None = None,
        image_ids: Sequence[Any] | str | None = None,
        eval_neutral: Sequence[Any] | str | None = None,
        labels_output_format: Sequence[str] = _LABEL_NAMES,
        verbose: bool = True,
    ) -> None:
        self.labels_output_format = labels_output_format
        self.labels_format = _labels_format(labels_output_format)
        self.dataset_size = 0
        self.load_images_into_memory = load_images_into_memory
        self.images = None
        self.hdf5_dataset = None
        self.hdf5_dataset_path = hdf5_dataset_path
        self.dataset_indices = np.arange(0, dtype=np.int32)
        self.filenames = _load_filenames(filenames, filenames_type, images_dir)
        if self.filenames is not None:
            self._reset_indices(len(self.filenames))
            self._load_images_if_requested(verbose)
        self.labels = _load_list(labels, "labels")
        self.image_ids = _load_list(image_ids, "image_ids")
        self.eval_neutral = _load_list(eval_neutral, "eval_neutral")
        if hdf5_dataset_path is not None:
            self.load_hdf5_dataset(verbose=verbose)

    # ------------------------------------------------------------------------------------------
    # Loading

    def load_hdf5_dataset(self, verbose: bool = True) -> None:
        """Opens `self.hdf5_dataset_path` (read-only, kept open) and loads its labels, image ids
        and neutrality flags, and its images too if `load_images_into_memory`.

        Image ids are returned as str (see docs/differences.md#hdf5-format).

        Raises:
            MissingFileError: If the file does not exist.
        """
        import h5py

        if not os.path.exists(self.hdf5_dataset_path):
            raise MissingFileError(f"HDF5 dataset file not found: '{self.hdf5_dataset_path}'.")
        h5_file = h5py.File(self.hdf5_dataset_path, "r")
        contents = hdf5_storage.read_hdf5_contents(h5_file, self.load_images_into_memory, verbose)
        self.hdf5_dataset = h5_file
        self._reset_indices(contents.dataset_size)
        if contents.images is not None:
            self.images = contents.images
        for name in ("labels", "image_ids", "eval_neutral"):
            if getattr(contents, name) is not None:
                setattr(self, name, getattr(contents, name))

    def parse_csv(
        self,
        images_dir: str,
        labels_filename: str,
        input_format: Sequence[str],
        include_classes: str | Sequence[int] = "all",
        random_sample: bool | float = False,
        ret: bool = False,
        verbose: bool = True,
    ) -> tuple | None:
        """Reads a CSV file with one ground truth box per line.

        The first line is a header. The first six columns of each line are the image file name,
        `xmin`, `xmax`, `ymin`, `ymax` (absolute pixels) and `class_id` in the order given by
        `input_format` (Udacity: `['image_name', 'xmin', 'xmax', 'ymin', 'ymax', 'class_id']`).
        Rows are sorted and grouped per image; an image's id is its file name up to the first dot.

        Columns are read by position, and the header is checked against `input_format`: a header
        cell that is a known column name (case and spaces ignored: `xmin`, `xmax`, `ymin`, `ymax`;
        `class_id`, `class`, `label`...; `image_name`, `frame`, `filename`, `image`...; the full
        list is `data_generator.parsers.CSV_HEADER_NAMES`) must sit where `input_format` reads
        that column, otherwise the file is refused rather than misread. Headers of other words or
        numbers are not checked.

        Args:
            images_dir: Directory of the images.
            labels_filename: Path of the CSV file.
            input_format: The six column names in the file's order.
            include_classes: `'all'` or the class ids to keep.
            random_sample: `False` or a fraction in `[0, 1]`: each image is kept iff
                `np.random.uniform(0, 1) >= 1 - random_sample`.
            ret: Return `(images, filenames, labels, image_ids)`.
            verbose: Show a progress bar.

        Returns:
            `None`, or the tuple above if `ret` (labels: `(k, 5)` int arrays).

        Raises:
            ValueError: If `labels_filename` or `input_format` is `None`.
            MissingFileError: If the CSV file does not exist.
            AnnotationError: On a missing column, a header that names the columns in another
                order than `input_format` (the message gives the matching `input_format`), or a
                non-numeric, NaN or infinite value (the message names the file and the line).
        """
        if labels_filename is None or input_format is None:
            raise ValueError("`labels_filename` and `input_format` must both be given.")
        parsed = parsers.parse_csv(
            images_dir,
            labels_filename,
            input_format,
            self.labels_output_format,
            include_classes,
            random_sample,
            verbose,
        )
        self.images_dir = images_dir
        self.labels_filename = labels_filename
        self.input_format = input_format
        self.include_classes = include_classes
        self._adopt(parsed, verbose)
        if ret:
            return self.images, self.filenames, self.labels, self.image_ids
        return None

    def parse_xml(
        self,
        images_dirs: Sequence[str],
        image_set_filenames: Sequence[str],
        annotations_dirs: Sequence[str] = (),
        classes: Sequence[str] = _VOC_CLASSES,
        include_classes: str | Sequence[int] = "all",
        exclude_truncated: bool = False,
        exclude_difficult: bool = False,
        ret: bool = False,
        verbose: bool = True,
    ) -> tuple | None:
        """Reads Pascal VOC image sets and XML annotations.

        Each image set file lists image ids (one per line); image `<id>` is
        `<images_dir>/<id>.jpg` and its annotation `<annotations_dir>/<id>.xml`. Boxes get
        `class_id = classes.index(name)`; difficult boxes are marked evaluation-neutral.

        Args:
            images_dirs: Image directories, one per image set.
            image_set_filenames: Image set files, one per image directory.
            annotations_dirs: Annotation directories, one per image directory; empty for a
                dataset without labels.
            classes: Class names; index 0 is the background.
            include_classes: `'all'` or the class ids to keep.
            exclude_truncated: Skip boxes marked truncated.
            exclude_difficult: Skip boxes marked difficult.
            ret: Return `(images, filenames, labels, image_ids, eval_neutral)`.
            verbose: Show progress bars.

        Returns:
            `None`, or the tuple above if `ret` (labels: per image a list of rows in
            `labels_output_format` order).

        Raises:
            MissingFileError: If an image set or annotation file does not exist.
            AnnotationError: On malformed XML (file, line, column), a missing element, an unknown
                class name or a non-numeric coordinate (file and object index).
        """
        parsed = parsers.parse_voc(
            images_dirs,
            image_set_filenames,
            annotations_dirs,
            classes,
            self.labels_output_format,
            include_classes,
            exclude_truncated,
            exclude_difficult,
            verbose,
        )
        self.images_dirs = images_dirs
        self.annotations_dirs = annotations_dirs
        self.image_set_filenames = image_set_filenames
        self.classes = classes
        self.include_classes = include_classes
        self._adopt(parsed, verbose)
        self.eval_neutral = parsed.eval_neutral
        if ret:
            return self.images, self.filenames, self.labels, self.image_ids, self.eval_neutral
        return None

    def parse_json(
        self,
        images_dirs: Sequence[str],
        annotations_filenames: Sequence[str],
        ground_truth_available: bool = False,
        include_classes: str | Sequence[int] = "all",
        ret: bool = False,
        verbose: bool = True,
    ) -> tuple | None:
        """Reads MS COCO annotation files.

        Sets `cats_to_names`, `classes_to_names`, `cats_to_classes` and `classes_to_cats` from the
        first file's categories (category `i` in file order becomes class `i + 1`). Image ids are
        the COCO integer ids; boxes `[x, y, w, h]` become `xmin = x, ymin = y, xmax = x + w,
        ymax = y + h` (pixels, floats as in the file).

        Args:
            images_dirs: Image directories, one per annotations file.
            annotations_filenames: COCO JSON files.
            ground_truth_available: Read the `annotations` (else labels are `None`).
            include_classes: `'all'` or the original COCO category ids to keep (not the
                consecutive class ids, as in the original).
            ret: Return `(images, filenames, labels, image_ids)`.
            verbose: Show progress bars.

        Returns:
            `None`, or the tuple above if `ret`.

        Raises:
            MissingFileError: If an annotations file does not exist.
            AnnotationError: On malformed JSON (file, line, column), a missing key, a category
                or image id listed twice, an annotation of an image id that the file does not
                list, an unknown category or a bad bbox (file and entry).
        """
        parsed = parsers.parse_coco(
            images_dirs,
            annotations_filenames,
            self.labels_output_format,
            ground_truth_available,
            include_classes,
            verbose,
        )
        self.images_dirs = images_dirs
        self.annotations_filenames = annotations_filenames
        self.include_classes = include_classes
        for name, value in parsed.extras.items():
            setattr(self, name, value)
        self._adopt(parsed, verbose)
        if ret:
            return self.images, self.filenames, self.labels, self.image_ids
        return None

    def _adopt(self, parsed: parsers.ParsedDataset, verbose: bool) -> None:
        """Makes a parser's result the current dataset (images are reloaded if kept in memory)."""
        images = _load_images(parsed.filenames, verbose) if self.load_images_into_memory else None
        self.filenames = parsed.filenames
        self.labels = parsed.labels
        self.image_ids = parsed.image_ids
        if images is not None:
            self.images = images
        self.hdf5_dataset = None
        self._reset_indices(len(parsed.filenames))

    def _reset_indices(self, size: int) -> None:
        self.dataset_size = size
        self.dataset_indices = np.arange(size, dtype=np.int32)

    def _load_images_if_requested(self, verbose: bool) -> None:
        if self.load_images_into_memory:
            self.images = _load_images(self.filenames, verbose)

    # ------------------------------------------------------------------------------------------
    # HDF5

    def create_hdf5_dataset(
        self,
        file_path: str = "dataset.h5",
        resize: bool | tuple[int, int] = False,
        variable_image_size: bool = True,
        verbose: bool = True,
    ) -> None:
        """Writes the current dataset to an HDF5 file and switches the generator to it.

        The file layout is the original library's (see `data_generator.hdf5_storage`), so files
        written by either library open in both. Images are stored as 3-channel uint8; labels as
        int32 (non-integer labels are truncated, with a warning). The file is written under a
        temporary name in the same directory and renamed when complete; the temporary file is
        removed on an error or SIGTERM, and one left by a killed run is removed by the next call
        for the same `file_path` (`data_generator.hdf5_storage.write_hdf5_dataset`).

        Args:
            file_path: Path of the HDF5 file.
            resize: `False` or `(height, width)` to resize the stored images (bilinear). The labels
                are **not** rescaled (as in the original; a warning says so).
            variable_image_size: Stored as the file attribute of the same name.
            verbose: Show a progress bar.

        Raises:
            DatasetError: If no dataset is loaded.
        """
        if self.dataset_size == 0:
            raise DatasetError("Cannot create an HDF5 dataset: no dataset is loaded.")
        source = self._sample_source()
        if self.hdf5_dataset is not None and _same_file(self.hdf5_dataset.filename, file_path):
            self._load_images_for_rewrite(source)
        hdf5_storage.write_hdf5_dataset(
            file_path,
            self.dataset_size,
            source.image,
            self.labels,
            self.image_ids,
            self.eval_neutral,
            len(self.labels_output_format),
            resize,
            variable_image_size,
            verbose,
        )
        import h5py

        if self.hdf5_dataset is not None:
            self.hdf5_dataset.close()
        self.hdf5_dataset = h5py.File(file_path, "r")
        self.hdf5_dataset_path = file_path
        self._reset_indices(len(self.hdf5_dataset["images"]))

    def _load_images_for_rewrite(self, source: SampleSource) -> None:
        """Reading from the file that is about to be replaced: keep its images in memory."""
        if source.images is None:
            source.images = [source.hdf5_reader.image(i) for i in range(self.dataset_size)]
            source.dataset_indices = np.arange(self.dataset_size)

    # ------------------------------------------------------------------------------------------
    # Batches

    def _sample_source(self, snapshot: bool = False) -> SampleSource:
        """Read access to the current samples; `snapshot` copies the lists and indices so that
        later in-place shuffles by `generate` do not affect it."""

        def maybe_copy(values: Any) -> Any:
            return list(values) if snapshot and values is not None else values

        reader = None
        if self.hdf5_dataset is not None:
            reader = hdf5_storage.Hdf5ImageReader(self.hdf5_dataset.filename, self.hdf5_dataset)
        indices = np.array(self.dataset_indices) if snapshot else self.dataset_indices
        return SampleSource(
            filenames=maybe_copy(self.filenames),
            labels=maybe_copy(self.labels),
            image_ids=maybe_copy(self.image_ids),
            eval_neutral=maybe_copy(self.eval_neutral),
            dataset_indices=indices[: self.dataset_size],
            images=self.images,
            hdf5_reader=reader,
            num_label_columns=len(self.labels_output_format),
        )

    def _assembler(
        self,
        transformations: Sequence[Callable],
        label_encoder: Callable | None,
        returns: set[str],
        keep_images_without_gt: bool,
        degenerate_box_handling: str,
    ) -> BatchAssembler:
        if self.labels is not None:
            for transform in transformations:
                transform.labels_format = self.labels_format
        return BatchAssembler(
            transformations,
            label_encoder,
            returns,
            keep_images_without_gt,
            degenerate_box_handling,
            self.labels_format,
        )

    def _shuffle_in_place(self) -> None:
        """Permutes `dataset_indices` and the filename, label, id and neutrality lists jointly,
        in place (as the original's `sklearn.utils.shuffle` + slice assignment did; the same
        global `np.random` draws give the same permutation)."""
        permutation = np.arange(self.dataset_size)
        np.random.shuffle(permutation)  # noqa: NPY002 - global generator, as the original
        self.dataset_indices[:] = self.dataset_indices[permutation]
        for name in ("filenames", "labels", "image_ids", "eval_neutral"):
            values = getattr(self, name)
            if values is not None:
                values[:] = [values[i] for i in permutation]

    def generate(
        self,
        batch_size: int = 32,
        shuffle: bool = True,
        transformations: Sequence[Callable] = (),
        label_encoder: Callable | None = None,
        returns: Collection[str] = _DEFAULT_RETURNS,
        keep_images_without_gt: bool = False,
        degenerate_box_handling: str = "remove",
    ) -> Iterator[tuple]:
        """Generates batches indefinitely (a lazy generator: nothing runs before the first
        `next`).

        Each pass walks the dataset in order; with `shuffle` the dataset is shuffled before the
        first pass and whenever a pass ends, by permuting the generator's lists **in place**
        (see docs/differences.md#generate-shuffles-in-place). The last batch of a pass may be
        smaller.

        Every item goes through `transformations` in order: `t(image, labels)` ->
        `(image, labels)`, or `t(image)` -> `image` without labels; with `'inverse_transform'`
        requested, transformations with a `return_inverter` parameter are called with
        `return_inverter=True` and their inverters are collected (in reverse order, ready for
        `apply_inverse_transforms`). An item is dropped if it has no boxes and
        `keep_images_without_gt` is `False` (before or after the transformations and the
        degenerate-box removal), or if a transformation returns `None` as image.

        When the images are read from files (neither loaded into memory nor in an HDF5 file),
        the files of the next batch of a pass are decoded in one background thread while the
        current batch is built; the batches are the same as without it, and a missing or corrupt
        file raises its error when its batch is requested.

        Args:
            batch_size: Items per batch.
            shuffle: Shuffle before every pass.
            transformations: Image/label transformations (their `labels_format` is set to this
                generator's when there are labels).
            label_encoder: Callable on the list of `(k, 5)` label arrays, e.g. an
                `SSDInputEncoder` (called with `diagnostics=`).
            returns: Output names; the yielded tuple holds them in this order:
                `'processed_images'` (`(B, H, W, C)` array), `'encoded_labels'`,
                `'matched_anchors'` (`SSDInputEncoder` only), `'processed_labels'` (list of
                `(k, 5)` arrays), `'filenames'`, `'image_ids'`, `'evaluation-neutral'`,
                `'inverse_transform'` (per item a list of inverters), `'original_images'`,
                `'original_labels'`. Outputs that are not available are `None` (with a warning).
            keep_images_without_gt: Keep items without boxes (their labels are `(0, 5)` arrays).
            degenerate_box_handling: After the transformations, `'remove'` drops boxes with
                `xmax <= xmin` or `ymax <= ymin` (logging the count), `'warn'` warns, anything else
                ignores them.

        Yields:
            A tuple with the requested outputs, so that the generator can be passed to
            `model.fit` as it is (`model.fit(generator, steps_per_epoch=...)`) and unpacked as
            before (`images, labels = next(generator)`). The original yielded a list
            (docs/differences.md#generate-yields-tuples).

        Raises:
            DatasetError: If the dataset is empty (at the first `next`).
            DegenerateBatchError: If a batch ends up empty or with images of different shapes.
            ValueError: On an unknown output name or a `batch_size` below 1.
        """
        returns = check_returns(returns)
        self._check_can_generate(batch_size)
        warn_impossible_returns(returns, self.labels is not None, label_encoder)
        if shuffle:
            self._shuffle_in_place()
        assembler = self._assembler(
            transformations, label_encoder, returns, keep_images_without_gt, degenerate_box_handling
        )
        prefetcher = ImagePrefetcher() if self._sample_source().reads_files else None
        try:
            yield from self._batches(batch_size, shuffle, assembler, prefetcher)
        finally:
            if prefetcher is not None:
                prefetcher.close()

    def _batches(
        self,
        batch_size: int,
        shuffle: bool,
        assembler: BatchAssembler,
        prefetcher: ImagePrefetcher | None,
    ) -> Iterator[tuple]:
        """The endless batch loop of `generate`; with a `prefetcher` the files of the next batch
        are decoded while the current one is assembled (not across a reshuffle)."""
        current = 0
        while True:
            if current >= self.dataset_size:
                current = 0
                if shuffle:
                    self._shuffle_in_place()
            positions = range(current, min(current + batch_size, self.dataset_size))
            source = self._sample_source()
            images = None
            if prefetcher is not None:
                images = prefetcher.take(source.filenames_at(positions))
            raw = source.fetch(positions, images)
            current += batch_size
            if prefetcher is not None and current < self.dataset_size:
                ahead = range(current, min(current + batch_size, self.dataset_size))
                prefetcher.request(source.filenames_at(ahead))
            yield tuple(assembler.assemble(raw))

    def _check_can_generate(self, batch_size: int) -> None:
        if self.dataset_size == 0:
            raise DatasetError(
                "Cannot generate batches: the dataset is empty (no dataset was "
                "loaded, or the parser found no images)."
            )
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int, got {batch_size!r}.")

    def as_dataset(
        self,
        batch_size: int = 32,
        shuffle: bool = True,
        transformations: Sequence[Callable] = (),
        label_encoder: Callable | None = None,
        returns: Collection[str] = _DEFAULT_RETURNS,
        keep_images_without_gt: bool = False,
        degenerate_box_handling: str = "remove",
        seed: int | None = None,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
        repeat: bool = False,
    ):
        """A `keras.utils.PyDataset` over this dataset, for `model.fit(dataset, ...)`.

        One epoch shows every image exactly once, in `ceil(N / batch_size)` batches built exactly
        as `generate` builds them (same transformations, filtering, encoding and output order);
        with `shuffle` the order is a new permutation every epoch drawn from `seed`. Random
        augmentation is seeded per batch from `(seed, epoch, batch index)`, so a run is
        reproducible with any number of workers, threads or processes. The dataset is a snapshot:
        later parsing or `generate` calls do not change it.

        Args:
            batch_size, shuffle, transformations, label_encoder, returns,
            keep_images_without_gt, degenerate_box_handling: As in `generate`.
            seed: Seed of the epoch permutations and the augmentation; `None` draws one from the
                global `np.random`.
            workers: Number of Keras workers (threads or processes) preparing batches.
            use_multiprocessing: Use processes instead of threads.
            max_queue_size: Batches prepared ahead.
            repeat: Make the dataset endless (epoch after epoch, same batches as above), for
                `fit(..., steps_per_epoch=k)` with any `k`: without it Keras stops with a
                warning once one pass over the images is used up. Pass `shuffle=False` to
                `fit` then (the dataset shuffles itself; Keras warns about `shuffle=True` for
                endless datasets).

        Returns:
            A `data_generator.keras_dataset.DetectionDataset`. Each item is the tuple of the
            requested outputs (a single array when only one is requested), e.g.
            `(images, encoded_labels)` by default.

        Raises:
            DatasetError: If the dataset is empty.
        """
        from data_generator.keras_dataset import DetectionDataset

        returns = check_returns(returns)
        self._check_can_generate(batch_size)
        warn_impossible_returns(returns, self.labels is not None, label_encoder)
        assembler = self._assembler(
            transformations, label_encoder, returns, keep_images_without_gt, degenerate_box_handling
        )
        return DetectionDataset(
            self._sample_source(snapshot=True),
            assembler,
            batch_size,
            shuffle=shuffle,
            seed=seed,
            workers=workers,
            use_multiprocessing=use_multiprocessing,
            max_queue_size=max_queue_size,
            repeat=repeat,
        )

    # ------------------------------------------------------------------------------------------
    # Access and saving

    def save_dataset(
        self,
        filenames_path: str = "filenames.pkl",
        labels_path: str | None = None,
        image_ids_path: str | None = None,
        eval_neutral_path: str | None = None,
    ) -> None:
        """Pickles the filenames and, where a path is given, the labels, image ids and
        neutrality flags (each readable by the constructor)."""
        for path, values in (
            (filenames_path, self.filenames),
            (labels_path, self.labels),
            (image_ids_path, self.image_ids),
            (eval_neutral_path, self.eval_neutral),
        ):
            if path is not None:
                with open(path, "wb") as pickle_file:
                    pickle.dump(values, pickle_file)

    def get_dataset(self) -> tuple:
        """Returns `(filenames, labels, image_ids, eval_neutral)` (each a list or `None`)."""
        return self.filenames, self.labels, self.image_ids, self.eval_neutral

    def get_dataset_size(self) -> int:
        """Returns the number of images in the dataset."""
        return self.dataset_size


# ----------------------------------------------------------------------------------------------
# Constructor helpers


def _labels_format(labels_output_format: Sequence[str]) -> dict[str, int]:
    missing = [name for name in _LABEL_NAMES if name not in labels_output_format]
    if missing:
        raise ValueError(
            f"`labels_output_format` {list(labels_output_format)} lacks {missing}; "
            f"it must contain each of {list(_LABEL_NAMES)}."
        )
    return {name: list(labels_output_format).index(name) for name in _LABEL_NAMES}


def _read_pickle(path: str, name: str) -> Any:
    try:
        with open(path, "rb") as pickle_file:
            return pickle.load(pickle_file)
    except FileNotFoundError:
        raise MissingFileError(f"`{name}` file not found: '{path}'.") from None


def _load_list(value: Sequence[Any] | str | None, name: str) -> list | None:
    """A list from a list/tuple or from the path of a pickle; `None` stays `None`."""
    if value is None:
        return None
    if isinstance(value, str):
        value = _read_pickle(value, name)
    if not isinstance(value, (list, tuple)):
        raise ValueError(
            f"`{name}` must be a list/tuple or the path of a pickled list/tuple, got "
            f"{type(value).__name__}."
        )
    return list(value)


def _load_filenames(
    filenames: Sequence[str] | str | None, filenames_type: str, images_dir: str | None
) -> list[str] | None:
    if filenames is None or isinstance(filenames, (list, tuple)):
        return None if filenames is None else list(filenames)
    if not isinstance(filenames, str):
        raise ValueError(
            "`filenames` must be a list/tuple of paths or the path of a pickle or "
            f"text file, got {type(filenames).__name__}."
        )
    if filenames_type == "pickle":
        return _load_list(filenames, "filenames")
    if filenames_type != "text":
        raise ValueError(f"`filenames_type` must be 'text' or 'pickle', got {filenames_type!r}.")
    if images_dir is None:
        raise ValueError("`images_dir` is required when `filenames` is a text file.")
    try:
        with open(filenames, encoding="utf-8") as text_file:
            return [os.path.join(images_dir, line.strip()) for line in text_file if line.strip()]
    except FileNotFoundError:
        raise MissingFileError(f"`filenames` text file not found: '{filenames}'.") from None


def _load_images(filenames: Sequence[str], verbose: bool) -> list[np.ndarray]:
    progress = tqdm(
        filenames, desc="Loading images into memory", file=sys.stdout, disable=not verbose
    )
    return [read_image(filename) for filename in progress]


def _same_file(path_a: str, path_b: str) -> bool:
    try:
        return os.path.samefile(path_a, path_b)
    except OSError:
        return False
