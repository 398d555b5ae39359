"""Shared steps of running a detector over a dataset for evaluation (Evaluator, COCO export).

The data generator, transformations and decoder live in other packages and are imported when
first needed, so the evaluation maths works without them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

DATA_GENERATOR_MODES = ("resize", "pad")
MODEL_MODES = ("training", "inference", "inference_fast")


def evaluation_transformations(
    img_height: int, img_width: int, mode: str, labels_format: Mapping[str, int] | None = None
) -> list:
    """Transformations that bring dataset images to the model input size.

    Args:
        img_height: Model input height in pixels.
        img_width: Model input width in pixels.
        mode: `'resize'` (3 channels, resize) or `'pad'` (3 channels, pad to the input
            aspect ratio, resize).
        labels_format: Label layout given to the geometric transformations (their default if
            None).

    Returns:
        The list of transformations for `DataGenerator.generate`.

    Raises:
        ValueError: For an unknown mode.
    """
    if mode not in DATA_GENERATOR_MODES:
        raise ValueError(
            f"`data_generator_mode` can be either of 'resize' or 'pad', but received {mode!r}."
        )
    from data_generator.object_detection_2d_geometric_ops import Resize
    from data_generator.object_detection_2d_photometric_ops import ConvertTo3Channels

    extra = {} if labels_format is None else {"labels_format": dict(labels_format)}
    resize = Resize(height=img_height, width=img_width, **extra)
    if mode == "resize":
        return [ConvertTo3Channels(), resize]
    from data_generator.object_detection_2d_patch_sampling_ops import RandomPadFixedAR

    pad = RandomPadFixedAR(patch_aspect_ratio=img_width / img_height, **extra)
    return [ConvertTo3Channels(), pad, resize]


def decoding_settings(
    model: Any,
    model_mode: str,
    img_height: int,
    img_width: int,
    pred_coords: str | None,
    normalize_coords: bool | None,
) -> Any:
    """How to decode the model's output: read from the model, else from the arguments.

    For an SSD model of this library the box format, normalisation and image size come from
    the model (`models.prediction.model_decoding`); `pred_coords` and `normalize_coords` may
    then be None, and an explicit value that contradicts the model is an error (it would make
    every box wrong). For any other object with `predict(batch)` the arguments are used, None
    meaning `'centroids'` and `True` (the original library's defaults).

    Args:
        model: The model (or any object with `predict`).
        model_mode: `'training'`, `'inference'` or `'inference_fast'`.
        img_height: Model input height in pixels.
        img_width: Model input width in pixels.
        pred_coords: The model's box format, or None.
        normalize_coords: Whether the model's coordinates are relative, or None.

    Returns:
        A `models.prediction.DecodingSettings`.

    Raises:
        ValueError: If an explicit argument or `model_mode` contradicts the model.
    """
    from models.prediction import DecodingSettings, model_decoding

    try:
        found = model_decoding(model)
    except (AttributeError, IndexError, TypeError, ValueError):
        found = None  # not an SSD model of this library: trust the arguments
    if found is None:
        return DecodingSettings(
            mode="training" if model_mode == "training" else "inference",
            img_height=img_height,
            img_width=img_width,
            coords="centroids" if pred_coords is None else pred_coords,
            normalize_coords=True if normalize_coords is None else bool(normalize_coords),
        )
    if (model_mode == "training") != (found.mode == "training"):
        raise ValueError(
            f"`model_mode`={model_mode!r}, but the model is a {found.mode!r}-mode model "
            f"({'raw predictions' if found.mode == 'training' else 'decoded boxes'})."
        )
    if pred_coords is not None and pred_coords != found.coords:
        raise ValueError(
            f"`decoding_pred_coords`={pred_coords!r}, but the model was built with "
            f"coords={found.coords!r}; leave it None to use the model's."
        )
    if normalize_coords is not None and bool(normalize_coords) != found.normalize_coords:
        raise ValueError(
            f"`decoding_normalize_coords`={normalize_coords!r}, but the model was built with "
            f"normalize_coords={found.normalize_coords!r}; leave it None to use the model's."
        )
    return found


def predict_decoded(
    model: Any,
    batch: np.ndarray,
    settings: Any,
    decoding: Mapping[str, Any],
) -> list[np.ndarray]:
    """Per-image decoded predictions `(k, 6)` of one batch, in model-input pixels.

    Args:
        model: The model (or any object with `predict`).
        batch: The images `(B, img_height, img_width, 3)`.
        settings: From `decoding_settings`.
        decoding: `confidence_thresh`, `iou_threshold`, `top_k` and `border_pixels`, applied
            to raw (training-mode) output only; a decoded output keeps its own.

    Returns:
        One array per image, rows `[class_id, confidence, xmin, ymin, xmax, ymax]`.

    Raises:
        ValueError: If the output does not have the expected shape.
    """
    from models.prediction import decode_model_output, predict_batch

    y_pred = predict_batch(model, batch)
    if y_pred.ndim != 3 or len(y_pred) != len(batch):
        raise ValueError(
            f"The model output for a batch of {len(batch)} images must have shape "
            f"({len(batch)}, boxes, values), got {y_pred.shape}."
        )
    if settings.mode != "training":
        return decode_model_output(y_pred, settings)
    return decode_model_output(y_pred, settings, **decoding)


def to_original_images(predictions: Sequence[np.ndarray], inverse_transforms: Sequence) -> list:
    """Maps per-image predictions back to the original images with the batch's inverters."""
    from data_generator.object_detection_2d_misc_utils import apply_inverse_transforms

    return apply_inverse_transforms(list(predictions), inverse_transforms)
