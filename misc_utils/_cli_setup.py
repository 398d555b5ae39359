"""Model configurations, datasets and model files for the command-line interface.

The two model configurations repeat the numbers of the tutorials: SSD7 on the road-traffic data
(``notebooks/ssd7_training.ipynb``) and SSD300 on Pascal VOC (``notebooks/ssd300_training.ipynb``).
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_generator.object_detection_2d_data_generator import DataGenerator
from data_generator.object_detection_2d_geometric_ops import Resize
from data_generator.object_detection_2d_photometric_ops import ConvertTo3Channels

CSV_INPUT_FORMAT = ("image_name", "xmin", "xmax", "ymin", "ymax", "class_id")
"""Column order of the CSV labels files (header ``frame,xmin,xmax,ymin,ymax,class_id``)."""

VOC_CLASSES = (
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
)  # fmt: skip
"""The 20 positive Pascal VOC class names, the default of ``--classes``."""


_CUSTOM_OBJECT_MODULES = (
    "keras_layers.keras_layer_AnchorBoxes",
    "keras_layers.keras_layer_DecodeDetections",
    "keras_layers.keras_layer_DecodeDetectionsFast",
    "keras_layers.keras_layer_L2Normalization",
    "keras_layers.keras_layer_preprocessing",
    "keras_loss_function.keras_ssd_loss",
    "models.keras_ssd7",
)


class CliError(Exception):
    """Bad user input; ``main`` prints its message as one line and exits with code 2."""


@dataclass(frozen=True)
class ModelConfig:
    """Anchor and input settings shared by the model builder and the input encoder.

    Attributes:
        name: ``'ssd7'`` or ``'ssd300'``.
        img_height, img_width: Model input size in pixels.
        builder_kwargs: Extra keyword arguments of the model builder.
        encoder_kwargs: Anchor keyword arguments shared by builder and ``SSDInputEncoder``.
        neg_iou_limit: The encoder's ``neg_iou_limit``.
    """

    name: str
    img_height: int
    img_width: int
    builder_kwargs: dict = field(default_factory=dict)
    encoder_kwargs: dict = field(default_factory=dict)
    neg_iou_limit: float = 0.3


SSD7_CONFIG = ModelConfig(
    name="ssd7",
    img_height=300,
    img_width=480,
    builder_kwargs={"l2_regularization": 0.0005, "subtract_mean": 127.5, "divide_by_stddev": 127.5},
    encoder_kwargs={
        "scales": [0.08, 0.16, 0.32, 0.64, 0.96],
        "aspect_ratios_global": [0.5, 1.0, 2.0],
        "two_boxes_for_ar1": True,
        "steps": None,
        "offsets": None,
        "clip_boxes": False,
        "variances": [1.0, 1.0, 1.0, 1.0],
        "normalize_coords": True,
    },
    neg_iou_limit=0.3,
)

SSD300_CONFIG = ModelConfig(
    name="ssd300",
    img_height=300,
    img_width=300,
    builder_kwargs={
        "l2_regularization": 0.0005,
        "subtract_mean": [123, 117, 104],
        "swap_channels": [2, 1, 0],
    },
    encoder_kwargs={
        "scales": [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05],
        "aspect_ratios_per_layer": [
            [1.0, 2.0, 0.5],
            [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
            [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
            [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
            [1.0, 2.0, 0.5],
            [1.0, 2.0, 0.5],
        ],
        "two_boxes_for_ar1": True,
        "steps": [8, 16, 32, 64, 100, 300],
        "offsets": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        "clip_boxes": False,
        "variances": [0.1, 0.1, 0.2, 0.2],
        "normalize_coords": True,
    },
    neg_iou_limit=0.5,
)

MODEL_CONFIGS = {"ssd7": SSD7_CONFIG, "ssd300": SSD300_CONFIG}


@dataclass(frozen=True)
class DataSource:
    """Where one split of a dataset lives.

    Attributes:
        data_format: ``'csv'``, ``'voc'`` or ``'coco'``.
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
    """The :class:`DataSource` described by parsed ``--data-format``, ``--images-dir``,
    ``--annotations-dir`` and ``--classes`` options and one labels path."""
    return DataSource(
        data_format=args.data_format,
        images_dir=args.images_dir,
        labels=labels,
        annotations_dir=args.annotations_dir,
        classes=tuple(args.classes.split(",")) if args.classes else VOC_CLASSES,
    )


def require_path(path: str | None, what: str, directory: bool = False) -> str:
    """Returns ``path`` if it exists (as a folder if ``directory``), raising :class:`CliError`."""
    if path is None:
        raise CliError(f"{what} is required")
    exists = os.path.isdir(path) if directory else os.path.exists(path)
    if not exists:
        kind = "folder" if directory else "file"
        raise CliError(f"{what} {kind} does not exist: {path}")
    return path


def load_dataset(source: DataSource, n_classes: int) -> DataGenerator:
    """Parses one split and checks that every class id lies in ``[1, n_classes]``.

    Args:
        source: The split to read.
        n_classes: Number of positive classes of the model.

    Returns:
        A ``DataGenerator`` whose labels are ``(k, 5)`` arrays (class_id, xmin, ymin, xmax,
        ymax; corners, absolute pixels).

    Raises:
        CliError: For a missing path or a class id outside ``[1, n_classes]``.
    """
    require_path(source.images_dir, "images", directory=True)
    require_path(source.labels, "labels")
    dataset = DataGenerator(load_images_into_memory=False)
    if source.data_format == "csv":
        dataset.parse_csv(source.images_dir, source.labels, list(CSV_INPUT_FORMAT), verbose=False)
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
    check_class_ids(dataset.labels, n_classes, source.labels)
    return dataset


def check_class_ids(labels: Any, n_classes: int, labels_path: str) -> None:
    """Raises :class:`CliError` if a box's class id (column 0) is outside ``[1, n_classes]``."""
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
    """Creates ``path`` if needed and checks that a file can be written into it.

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


def save_model(model: Any, path: str) -> None:
    """Saves ``model`` to ``path`` (``.keras`` or ``.h5``) so that no partial file is left behind.

    The file is written under a temporary name in the same folder and renamed when complete; if
    saving fails, ``path`` keeps its previous content (or stays absent).
    """
    from misc_utils.atomic_write import atomic_path

    with atomic_path(path, keep_extension=True) as temporary:
        model.save(temporary)


def load_model(path: str, compile: bool = False) -> Any:
    """Loads a ``.keras`` or ``.h5`` SSD model (legacy Keras 2 ``.h5`` files included).

    Raises:
        CliError: If the file does not exist or cannot be read as a model.
    """
    import keras

    for module in _CUSTOM_OBJECT_MODULES:  # registers the custom objects with Keras
        importlib.import_module(module)

    require_path(path, "model")
    try:
        return keras.models.load_model(path, compile=compile)
    except Exception as error:
        if path.endswith(".h5"):
            from models.legacy_h5 import load_legacy_model

            try:
                return load_legacy_model(path, compile=compile)
            except Exception:
                pass
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise CliError(f"cannot load model {path}: {message}") from error


def model_input_size(model: Any) -> tuple[int, int]:
    """``(height, width)`` of a model's input in pixels."""
    shape = model.inputs[0].shape
    return int(shape[1]), int(shape[2])


def model_is_decoded(model: Any) -> bool:
    """True for inference-mode models, whose output rows are already decoded boxes (6 columns)."""
    return int(model.outputs[0].shape[-1]) == 6


def model_n_classes(model: Any) -> int | None:
    """Positive class count of a training-mode model (output width minus 13), else None."""
    if model_is_decoded(model):
        return None
    return int(model.outputs[0].shape[-1]) - 13
