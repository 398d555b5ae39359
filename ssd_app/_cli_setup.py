"""Model configurations, datasets and model files for the command-line interface.

The two model configurations repeat the numbers of the tutorials: SSD7 on the road-traffic data
(`notebooks/ssd7_training.ipynb`) and SSD300 on Pascal VOC (`notebooks/ssd300_training.ipynb`).
"""

from __future__ import annotations

import csv
import logging
import os
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_generator.object_detection_2d_data_generator import DataGenerator
from data_generator.object_detection_2d_geometric_ops import Resize
from data_generator.object_detection_2d_photometric_ops import ConvertTo3Channels
from data_generator.parsers import CSV_HEADER_NAMES, header_columns
from models.presets import SSD7_ROAD_TRAFFIC, SSD300_VOC
from ssd_encoder_decoder.output_layout import raw_predictions

IGNORED_CSV_COLUMN = "ignored"
"""`input_format` entry of a CSV column whose header is none of `CSV_HEADER_NAMES`."""

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
"""The 20 positive Pascal VOC class names, the default of `--classes`."""


class CliError(Exception):
    """Bad user input; `main` prints its message as one line and exits with code 2."""


MODEL_PRESETS = {"ssd7": SSD7_ROAD_TRAFFIC, "ssd300": SSD300_VOC}
"""The models `train --model` offers (their anchors, input size and matching thresholds)."""


@dataclass(frozen=True)
class DataSource:
    """Where one split of a dataset lives.

    Attributes:
        data_format: `'csv'`, `'voc'` or `'coco'`.
        images_dir: Folder of the images.
        labels: CSV labels file, VOC image set file or COCO JSON file.
        annotations_dir: Folder of the VOC XML files (VOC only).
        classes: Positive class names of the VOC XML files (VOC only).
    """

    data_format: str
    images_dir: str
    labels: str
    annotations_dir: str | None = None
    classes: tuple[str, ...] = VOC_CLASSES


def data_source(args: Any, labels: str) -> DataSource:
    """The `DataSource` described by parsed `--data-format`, `--images-dir`,
    `--annotations-dir` and `--classes` options and one labels path."""
    return DataSource(
        data_format=args.data_format,
        images_dir=args.images_dir,
        labels=labels,
        annotations_dir=args.annotations_dir,
        classes=tuple(args.classes.split(",")) if args.classes else VOC_CLASSES,
    )


def require_path(path: str | None, what: str, directory: bool = False) -> str:
    """Returns `path` if it exists (as a folder if `directory`), raising `CliError`."""
    if path is None:
        raise CliError(f"{what} is required")
    exists = os.path.isdir(path) if directory else os.path.exists(path)
    if not exists:
        kind = "folder" if directory else "file"
        raise CliError(f"{what} {kind} does not exist: {path}")
    return path


def _accepted_header_names() -> str:
    """The accepted CSV header names as a phrase for error messages."""
    return ", ".join("/".join(names) for names in CSV_HEADER_NAMES.values())


def csv_input_format(labels_path: str) -> list[str]:
    """The `parse_csv` `input_format` of a CSV labels file, read from its header line.

    Every column of `data_generator.parsers.CSV_HEADER_NAMES` (the names `parse_csv` knows,
    case, spaces and hyphens ignored) must be named exactly once, in any order; other columns are
    ignored (`IGNORED_CSV_COLUMN`). The list ends at the last needed column.

    Args:
        labels_path: The CSV file.

    Returns:
        The column names in the file's order, e.g. `['image_name', 'xmin', 'ymin', 'xmax',
        'ymax', 'class_id']` for the header `frame,xmin,ymin,xmax,ymax,class_id`.

    Raises:
        CliError: If the file is empty or its header lacks a column or names one twice.
    """
    try:
        with open(labels_path, encoding="utf-8-sig", newline="") as file:
            header = next(csv.reader(file), None)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CliError(f"cannot read the labels file {labels_path}: {error}") from error
    if not header:
        raise CliError(f"labels file {labels_path} is empty: it needs a header line")
    columns = [column or IGNORED_CSV_COLUMN for column in header_columns(header)]
    problems = [
        f"{'no' if columns.count(column) == 0 else 'more than one'} {column} column"
        for column in CSV_HEADER_NAMES
        if columns.count(column) != 1
    ]
    if problems:
        raise CliError(
            f"labels file {labels_path}: cannot read the header {','.join(header)!r} "
            f"({', '.join(problems)}); the columns are found by name, in any order: "
            f"{_accepted_header_names()}"
        )
    last = max(columns.index(column) for column in CSV_HEADER_NAMES)
    return columns[: last + 1]


def count_boxes(dataset: DataGenerator) -> int:
    """Number of ground-truth boxes of `dataset` that count in an evaluation (boxes marked
    evaluation-neutral, such as Pascal VOC's `difficult` ones, do not)."""
    labels = dataset.labels or []
    neutral = dataset.eval_neutral or [None] * len(labels)
    total = 0
    for boxes, flags in zip(labels, neutral, strict=True):
        count = len(boxes)
        total += count if flags is None else count - int(np.count_nonzero(flags))
    return total


def load_dataset(source: DataSource, n_classes: int | None) -> DataGenerator:
    """Parses one split and checks that every class id lies in `[1, n_classes]`.

    Args:
        source: The split to read.
        n_classes: Number of positive classes of the model; None skips the class id check
            (for `check_class_ids` once the model is known).

    Returns:
        A `DataGenerator` whose labels are `(k, 5)` arrays (class_id, xmin, ymin, xmax,
        ymax; corners, absolute pixels).

    Raises:
        CliError: For a missing path, a CSV header that cannot be read (see
            `csv_input_format`) or a class id outside `[1, n_classes]`.
    """
    require_path(source.images_dir, "images", directory=True)
    require_path(source.labels, "labels")
    dataset = DataGenerator(load_images_into_memory=False)
    if source.data_format == "csv":
        input_format = csv_input_format(source.labels)
        dataset.parse_csv(source.images_dir, source.labels, input_format, verbose=False)
    elif source.data_format == "voc":
        annotations = source.annotations_dir or os.path.join(source.images_dir, "Annotations")
        require_path(annotations, "annotations", directory=True)
        dataset.parse_xml(
            [source.images_dir],
            [source.labels],
            [annotations],
            classes=("background", *source.classes),
            verbose=False,
        )
    else:
        dataset.parse_json(
            [source.images_dir], [source.labels], ground_truth_available=True, verbose=False
        )
    if n_classes is not None:
        check_class_ids(dataset.labels, n_classes, source.labels)
    return dataset


def check_class_ids(labels: Any, n_classes: int, labels_path: str) -> None:
    """Raises `CliError` if a box's class id (column 0) is outside `[1, n_classes]`."""
    if not labels:
        return
    class_ids = np.concatenate([np.asarray(boxes).reshape(-1, 5)[:, 0] for boxes in labels])
    bad = (class_ids < 1) | (class_ids > n_classes)
    if np.any(bad):
        raise CliError(
            f"{labels_path} contains class id {int(class_ids[np.argmax(bad)])}, but "
            f"--n-classes is {n_classes} (class ids must lie in 1..{n_classes})"
        )


def evaluation_transformations(img_height: int, img_width: int) -> list:
    """Transformations bringing any image to the model input size (3 channels, resized)."""
    return [ConvertTo3Channels(), Resize(height=img_height, width=img_width)]


def ensure_writable_dir(path: str) -> str:
    """Creates `path` if needed and checks that a file can be written into it.

    Raises:
        CliError: If the folder cannot be created or written.
    """
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, ".ssd_keras_write_test")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as error:
        reason = error.strerror or str(error)
        raise CliError(f"cannot write to output folder {path}: {reason}") from error
    return path


def import_keras() -> Any:
    """Imports Keras (and its backend) without the backend's start-up log lines.

    Unless the user has set `TF_CPP_MIN_LOG_LEVEL` (then nothing is hidden), it is set to 2 and
    the standard error stream is sent to the null device while the backend loads: TensorFlow
    prints notices such as "oneDNN custom operations are on" there while it is imported, before
    any log level applies. Errors raised by the import itself still propagate.

    Returns:
        The `keras` module.
    """
    if "keras" in sys.modules or "TF_CPP_MIN_LOG_LEVEL" in os.environ:
        import keras

        return keras
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    sys.stderr.flush()
    saved_stderr = os.dup(2)
    try:
        with open(os.devnull, "w", encoding="utf-8") as null:
            os.dup2(null.fileno(), 2)
        import keras
    finally:
        os.dup2(saved_stderr, 2)
        os.close(saved_stderr)
    return keras


@contextmanager
def _quiet_absl_warnings() -> Iterator[None]:
    """Hides Keras' absl warnings (such as the one on the legacy HDF5 format) inside the block."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def save_model(model: Any, path: str) -> None:
    """Saves `model` to `path` (`.keras` or `.h5`) so that no partial file is left behind.

    The file is written under a temporary name in the same folder and renamed when complete; if
    saving fails, `path` keeps its previous content (or stays absent).

    Raises:
        CliError: If the file cannot be written (a full disk, for example); the message names
            `path`.
    """
    from misc_utils.atomic_write import atomic_path

    try:
        with atomic_path(path, keep_extension=True) as temporary, _quiet_absl_warnings():
            model.save(temporary)
    except OSError as error:
        reason = error.strerror or str(error)
        raise CliError(f"cannot write {path}: {reason}; nothing was saved there") from error


def model_file_problem(path: str) -> str | None:
    """Why `path` cannot be a saved model file, or None if its container looks intact.

    A `.keras` file must be a zip archive whose members pass their checksums, a `.h5` file
    an HDF5 file that opens; other files are left to Keras.
    """
    extension = os.path.splitext(path)[1].lower()
    if extension == ".keras":
        try:
            with zipfile.ZipFile(path) as archive:
                damaged = archive.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            return f"it is not a complete .keras (zip) archive ({error})"
        return None if damaged is None else f"its member {damaged} is damaged"
    if extension in (".h5", ".hdf5"):
        import h5py

        try:
            with h5py.File(path, "r"):
                return None
        except OSError as error:
            return f"it is not a readable HDF5 file ({str(error).splitlines()[0]})"
    return None


def load_model(path: str, compile: bool = False) -> Any:
    """Loads a `.keras` or `.h5` SSD model (legacy Keras 2 `.h5` files included).

    Raises:
        CliError: If the file does not exist, is corrupt (a truncated or damaged archive) or
            cannot be read as a model.
    """
    require_path(path, "model")
    if os.path.isdir(path):
        raise CliError(f"model {path} is a folder, not a model file")
    problem = model_file_problem(path)
    if problem is not None:
        raise CliError(f"model file {path} is corrupt: {problem}")
    import_keras()
    from models.legacy_h5 import load_ssd_model

    try:
        return load_ssd_model(path, compile=compile)
    except ValueError as error:
        raise CliError(str(error)) from error


class CheckedModel:
    """A loaded model whose predictions are checked to be finite.

    A model with NaN or infinite weights (a training run that diverged, a damaged file) gives
    NaN or infinite raw predictions; decoding them in the graph can silently drop or keep such
    boxes, and decoding them in NumPy fails deep inside. `predict` returns the model's
    output like `model.predict` but raises `CliError` naming the model file instead.

    Attributes:
        model: The wrapped Keras model.
        path: Its file, named in errors.
        inputs, outputs, layers: The model's symbolic inputs and outputs and its layers (so
            `models.prediction` reads the model's settings through the wrapper).
    """

    def __init__(self, model: Any, path: str) -> None:
        self.model = model
        self.path = path
        self.inputs = model.inputs
        self.outputs = model.outputs
        self.layers = model.layers
        raw = raw_predictions(model)
        self._with_raw = None
        if raw is not None and raw is not model.outputs[0]:
            keras = import_keras()
            self._with_raw = keras.Model(model.inputs, [model.outputs[0], raw])

    def predict(self, batch: np.ndarray, verbose: int = 0) -> np.ndarray:
        """The model's output for `batch` (a NumPy array).

        Raises:
            CliError: If the raw predictions or the output hold NaN or infinite values.
        """
        if self._with_raw is None:
            output = raw = np.asarray(self.model.predict(batch, verbose=verbose))
        else:
            output, raw = (
                np.asarray(value) for value in self._with_raw.predict(batch, verbose=verbose)
            )
        for values in (raw, output):
            bad = ~np.isfinite(values)
            if np.any(bad):
                raise CliError(
                    f"model {self.path} gives NaN or infinite values ({int(bad.sum())} of "
                    f"{bad.size} in a batch of {len(batch)} image(s)); its weights are broken, "
                    "for example by a training run that diverged"
                )
        return output
