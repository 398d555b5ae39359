"""Shared steps of running a detector over a dataset for evaluation (Evaluator, COCO export).

The data generator, transformations and decoder live in other packages and are imported when
first needed, so the evaluation maths works without them.
"""

from __future__ import annotations

import inspect
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
        mode: ``'resize'`` (3 channels, resize) or ``'pad'`` (3 channels, pad to the input
            aspect ratio, resize).
        labels_format: Label layout given to the geometric transformations (their default if
            None).

    Returns:
        The list of transformations for ``DataGenerator.generate``.

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


def predict_batch(model: Any, batch: np.ndarray) -> Any:
    """``model.predict(batch)``, silencing Keras' progress bar when the method accepts it."""
    try:
        accepts_verbose = "verbose" in inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        accepts_verbose = False
    return model.predict(batch, verbose=0) if accepts_verbose else model.predict(batch)


def decoded_predictions(
    y_pred: Any, model_mode: str, decoding: Mapping[str, Any], batch_size: int
) -> list[np.ndarray]:
    """Per-image decoded predictions ``(k, 6)`` of one batch of model output.

    Args:
        y_pred: The model output: raw ``(B, n_boxes, n_classes + 13)`` in ``'training'`` mode
            (decoded with ``decode_detections(y_pred, **decoding)``), otherwise decoded and
            zero-padded ``(B, top_k, 6)`` whose padding rows (class 0) are dropped.
        model_mode: ``'training'``, ``'inference'`` or ``'inference_fast'``.
        decoding: Keyword arguments of ``decode_detections``.
        batch_size: Number of images in the batch, checked against the output.

    Returns:
        One array per image, rows ``[class_id, confidence, xmin, ymin, xmax, ymax]``.

    Raises:
        ValueError: If the output does not have the expected shape.
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 3 or len(y_pred) != batch_size:
        raise ValueError(
            f"The model output for a batch of {batch_size} images must have shape "
            f"({batch_size}, boxes, values), got {y_pred.shape}."
        )
    if model_mode == "training":
        from ssd_encoder_decoder.ssd_output_decoder import decode_detections

        return decode_detections(y_pred, **decoding)
    if y_pred.shape[-1] < 6:
        raise ValueError(
            f"A model in {model_mode!r} mode must output decoded boxes (batch, top_k, 6), got "
            f"shape {y_pred.shape}; use model_mode='training' for raw predictions."
        )
    return [item[item[:, 0] != 0] for item in y_pred]


def to_original_images(predictions: Sequence[np.ndarray], inverse_transforms: Sequence) -> list:
    """Maps per-image predictions back to the original images with the batch's inverters."""
    from data_generator.object_detection_2d_misc_utils import apply_inverse_transforms

    return apply_inverse_transforms(list(predictions), inverse_transforms)
