"""The one prediction path: run an SSD model on images of any size and get boxes in their pixels.

`predict_detections(model, images)` takes a model built by `build_model`, `ssd_300` or `ssd_512`
in any mode (also one loaded from `.keras` or legacy `.h5`), resizes every image to the model's
input size, predicts in batches, decodes with the model's own settings and maps the boxes back
to each original image. Nothing about the model is assumed: its box format (`coords`), whether
its anchors are relative (`normalize_coords`), its input size and, for inference-mode models,
its decoding thresholds are read from its layers (`model_decoding`). The variances travel inside
the raw predictions.

The lower-level steps are public for code that brings its own batches (the `Evaluator`, the
COCO export): `model_decoding(model)` and `decode_model_output(y_pred, settings, ...)`.

Detections are rows `[class_id, confidence, xmin, ymin, xmax, ymax]` (`corners`, pixels; see
`ssd_encoder_decoder.output_layout`), sorted by descending confidence within each image.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssd_encoder_decoder.anchor_config import AnchorConfig, anchor_layers
from ssd_encoder_decoder.output_layout import (
    CLASS_ID,
    CONFIDENCE,
    ROW_WIDTH,
    X_COLUMNS,
    Y_COLUMNS,
    decoding_layer,
    is_decoded_width,
    raw_predictions,
)

# Decoding thresholds used for training-mode models when the caller gives none: those of
# `decode_detections` and of the `DecodeDetections` layer.
DEFAULT_CONFIDENCE_THRESH = 0.01
DEFAULT_IOU_THRESHOLD = 0.45
DEFAULT_TOP_K = 200


@dataclass(frozen=True)
class DecodingSettings:
    """How a model's output is decoded, as read from the model by `model_decoding`.

    Attributes:
        mode: `'training'` (raw predictions, decoded in NumPy), `'inference'` or
            `'inference_fast'` (the model decodes in its graph).
        img_height: Model input height in pixels.
        img_width: Model input width in pixels.
        coords: Box format of the anchors in the raw predictions: `'centroids'`,
            `'corners'` or `'minmax'`.
        normalize_coords: Whether the raw predictions are relative to the image size.
        confidence_thresh: Inference modes: the decoding layer's threshold; else None.
        iou_threshold: Inference modes: the decoding layer's NMS threshold; else None.
        top_k: Inference modes: the decoding layer's `top_k`; else None.
    """

    mode: str
    img_height: int
    img_width: int
    coords: str
    normalize_coords: bool
    confidence_thresh: float | None = None
    iou_threshold: float | None = None
    top_k: int | None = None


def model_input_size(model: Any) -> tuple[int, int]:
    """`(height, width)` of a model's image input, in pixels.

    Raises:
        ValueError: If the model's input has no static height and width.
    """
    shape = model.inputs[0].shape
    if len(shape) != 4 or shape[1] is None or shape[2] is None:
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} must take images (batch, height, width, "
            f"channels) of a fixed size, but its input has shape {tuple(shape)}."
        )
    return int(shape[1]), int(shape[2])


def model_decoding(model: Any) -> DecodingSettings:
    """Reads how a model's output must be decoded from the model itself.

    For an inference-mode model the decoding layer's settings are returned. For a
    training-mode model the box format and normalisation come from its `AnchorBoxes` layers.

    Args:
        model: An SSD model of this library (any mode).

    Returns:
        The `DecodingSettings`.

    Raises:
        ValueError: If the model has neither a decoding layer nor anchor layers, so its output
            cannot be interpreted.
    """
    height, width = model_input_size(model)
    decoder = decoding_layer(model)
    if decoder is not None and is_decoded_width(model.outputs[0].shape[-1]):
        p = decoder.decoding_parameters()
        return DecodingSettings(
            mode=p["mode"],
            img_height=int(p["img_height"]) if p["img_height"] is not None else height,
            img_width=int(p["img_width"]) if p["img_width"] is not None else width,
            coords=p["coords"],
            normalize_coords=bool(p["normalize_coords"]),
            confidence_thresh=float(p["confidence_thresh"]),
            iou_threshold=float(p["iou_threshold"]),
            top_k=int(p["top_k"]),
        )
    if not anchor_layers(model):
        raise ValueError(
            f"Model {getattr(model, 'name', model)!r} has neither a decoding layer nor "
            "AnchorBoxes layers, so how to decode its output cannot be read from it."
        )
    config, _ = AnchorConfig.from_model(model)
    return DecodingSettings(
        mode="training",
        img_height=config.img_height,
        img_width=config.img_width,
        coords=config.coords,
        normalize_coords=config.normalize_coords,
    )


def decode_model_output(
    y_pred: Any,
    settings: DecodingSettings,
    confidence_thresh: float | None = None,
    iou_threshold: float | None = None,
    top_k: int | None = None,
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Decodes one batch of model output into detections in model-input pixels.

    Args:
        y_pred: The model output for a batch: raw `(batch, n_anchors, n_classes + 13)` for
            a training-mode model, decoded and zero-padded `(batch, top_k, 6)` otherwise.
        settings: How to decode, from `model_decoding`.
        confidence_thresh: Minimum confidence; None means the decoding layer's (inference
            modes) or 0.01 (training mode). Inference modes: only values at or above the
            layer's can be applied to its output (see `predict_detections` for lower ones).
        iou_threshold: Training mode: NMS IoU threshold (None: 0.45). Inference modes: must be
            None or the layer's own.
        top_k: Training mode: boxes kept per image (None: 200). Inference modes: None or at
            most the layer's own.
        border_pixels: Training mode: `border_pixels` of the NumPy NMS.

    Returns:
        One float64 array `(k, 6)` per image, rows `[class_id, confidence, xmin, ymin, xmax,
        ymax]` (`corners`, pixels of the model input), by descending confidence.

    Raises:
        ValueError: If `y_pred` has the wrong shape for the mode, holds NaN or infinite values,
            or the thresholds cannot be applied to an inference-mode output.
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 3:
        raise ValueError(
            f"The model output must have shape (batch, boxes, values), got {y_pred.shape}."
        )
    if settings.mode == "training":
        if is_decoded_width(y_pred.shape[-1]):
            raise ValueError(
                f"A training-mode model must output raw predictions (batch, n_anchors, "
                f"n_classes + 13), got shape {y_pred.shape}."
            )
        from ssd_encoder_decoder.ssd_output_decoder import decode_detections

        return decode_detections(
            y_pred,
            confidence_thresh=_or(confidence_thresh, DEFAULT_CONFIDENCE_THRESH),
            iou_threshold=_or(iou_threshold, DEFAULT_IOU_THRESHOLD),
            top_k=_or(top_k, DEFAULT_TOP_K),
            input_coords=settings.coords,
            normalize_coords=settings.normalize_coords,
            img_height=settings.img_height,
            img_width=settings.img_width,
            border_pixels=border_pixels,
        )
    if not is_decoded_width(y_pred.shape[-1]):
        raise ValueError(
            f"A model in {settings.mode!r} mode must output decoded boxes (batch, top_k, 6), "
            f"got shape {y_pred.shape}."
        )
    problem = _unreachable_thresholds(settings, confidence_thresh, iou_threshold, top_k)
    if problem:
        raise ValueError(problem)
    if not np.all(np.isfinite(y_pred)):
        raise ValueError("The model output holds NaN or infinite values.")
    rows = []
    for item in y_pred.astype(np.float64):
        keep = item[:, CLASS_ID] != 0  # padding rows have class 0
        if confidence_thresh is not None:
            keep &= item[:, CONFIDENCE] >= confidence_thresh
        item = item[keep][:top_k] if top_k is not None else item[keep]
        rows.append(item.reshape(-1, ROW_WIDTH))
    return rows


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def _unreachable_thresholds(
    settings: DecodingSettings,
    confidence_thresh: float | None,
    iou_threshold: float | None,
    top_k: int | None,
) -> str | None:
    """Why an inference-mode output cannot give these thresholds' rows, or None if it can.

    The decoding layer's rows at confidence `c` filtered to confidence `c' >= c` are exactly the
    rows it would give at `c'` (greedy NMS only compares a box with more confident ones), and
    likewise its first `k' <= top_k` rows; anything else needs the raw predictions.
    """
    if confidence_thresh is not None and confidence_thresh < settings.confidence_thresh:
        return (
            f"confidence_thresh={confidence_thresh} is below the decoding layer's "
            f"{settings.confidence_thresh}: its output no longer holds those boxes."
        )
    if iou_threshold is not None and not np.isclose(iou_threshold, settings.iou_threshold):
        return (
            f"iou_threshold={iou_threshold} differs from the decoding layer's "
            f"{settings.iou_threshold}, which its output was made with."
        )
    if top_k is not None and top_k > settings.top_k:
        return f"top_k={top_k} exceeds the decoding layer's top_k={settings.top_k}."
    return None


def predict_detections(
    model: Any,
    images: Sequence[np.ndarray] | np.ndarray,
    batch_size: int = 8,
    confidence_thresh: float | None = None,
    iou_threshold: float | None = None,
    top_k: int | None = None,
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Detections of an SSD model on images of any size, in pixels of each original image.

    Every image is resized to the model's input size (bilinear, `cv2.INTER_LINEAR`), the
    images are predicted `batch_size` at a time and decoded with the model's own settings
    (`model_decoding`), and the boxes are scaled back to each image's own size.

    For an inference-mode model, thresholds that its decoding layer's output cannot give (a
    lower confidence, another IoU threshold, a larger `top_k`) are applied by decoding the
    model's raw predictions in NumPy with the algorithm of its layer (`decode_detections` for
    `'inference'`, `decode_detections_fast` for `'inference_fast'`).

    Args:
        model: An SSD model of this library in any mode, or an object with `predict(batch)`
            and the model's `inputs`, `outputs` and `layers`.
        images: A sequence of `(H, W, 3)` images (uint8 or float, RGB, any `H` and `W`) or
            one array `(batch, H, W, 3)`.
        batch_size: Images per `model.predict` call.
        confidence_thresh: Minimum confidence. None: the decoding layer's (inference modes) or
            0.01 (training mode).
        iou_threshold: NMS IoU threshold. None: the decoding layer's or 0.45.
        top_k: Detections kept per image. None: the decoding layer's or 200.
        border_pixels: `border_pixels` of the NumPy NMS (training mode or raw decoding).

    Returns:
        One float64 array `(k, 6)` per image, rows `[class_id, confidence, xmin, ymin, xmax,
        ymax]` (`corners`, pixels of that image), by descending confidence.

    Raises:
        ValueError: For an empty image, images without 3 channels, a float image with NaN or
            infinite values, a non-positive `batch_size`, or a model whose output cannot be
            decoded (see `model_decoding`).

    Example:
        >>> import numpy as np
        >>> from models.keras_ssd7 import build_model
        >>> model = build_model((300, 480, 3), n_classes=5, min_scale=0.08, max_scale=0.96)
        >>> rows = predict_detections(model, [np.zeros((720, 1280, 3), np.uint8)])
        >>> rows[0].shape[1]
        6
    """
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or (batch_size < 1)
    ):
        raise ValueError(f"`batch_size` must be a positive integer, got {batch_size!r}.")
    images = _checked_images(images)
    settings = model_decoding(model)
    predictor = _Predictor(model, settings, confidence_thresh, iou_threshold, top_k, border_pixels)
    height, width = model_input_size(model)
    results = []
    for start in range(0, len(images), batch_size):
        chunk = images[start : start + batch_size]
        batch = np.stack([_resized(image, height, width) for image in chunk])
        for image, rows in zip(chunk, predictor(batch), strict=True):
            rows = np.array(rows, dtype=np.float64).reshape(-1, ROW_WIDTH)
            rows[:, X_COLUMNS] *= image.shape[1] / width
            rows[:, Y_COLUMNS] *= image.shape[0] / height
            results.append(rows)
    return results


class _Predictor:
    """Predicts and decodes batches at the model's input size (one choice of route per call)."""

    def __init__(self, model, settings, confidence_thresh, iou_threshold, top_k, border_pixels):
        self.model = model
        self.settings = settings
        self.thresholds = {
            "confidence_thresh": confidence_thresh,
            "iou_threshold": iou_threshold,
            "top_k": top_k,
        }
        self.border_pixels = border_pixels
        self.raw_model = None
        if settings.mode != "training" and _unreachable_thresholds(
            settings, confidence_thresh, iou_threshold, top_k
        ):
            self.raw_model = _raw_prediction_model(model)

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.raw_model is None:
            y_pred = predict_batch(self.model, batch)
            return decode_model_output(
                y_pred, self.settings, **self.thresholds, border_pixels=self.border_pixels
            )
        y_pred = np.asarray(predict_batch(self.raw_model, batch))
        return _decode_raw_like_layer(y_pred, self.settings, self.thresholds, self.border_pixels)


def _raw_prediction_model(model: Any) -> Any:
    import keras

    raw = raw_predictions(getattr(model, "model", model))
    if raw is None:
        raise ValueError("The model's raw predictions cannot be found to decode them again.")
    return keras.Model(model.inputs, raw)


def _decode_raw_like_layer(
    y_pred: np.ndarray, settings: DecodingSettings, thresholds: dict, border_pixels: str
) -> list[np.ndarray]:
    from ssd_encoder_decoder.ssd_output_decoder import decode_detections, decode_detections_fast

    decode = decode_detections if settings.mode == "inference" else decode_detections_fast
    arguments = {
        "confidence_thresh": _or(thresholds["confidence_thresh"], settings.confidence_thresh),
        "iou_threshold": _or(thresholds["iou_threshold"], settings.iou_threshold),
        "top_k": _or(thresholds["top_k"], settings.top_k),
        "input_coords": settings.coords,
        "normalize_coords": settings.normalize_coords,
        "img_height": settings.img_height,
        "img_width": settings.img_width,
    }
    if decode is decode_detections:
        arguments["border_pixels"] = border_pixels
    return decode(y_pred, **arguments)


def predict_batch(model: Any, batch: np.ndarray) -> np.ndarray:
    """`model.predict(batch)` as a NumPy array, without Keras' progress bar where possible."""
    try:
        accepts_verbose = "verbose" in inspect.signature(model.predict).parameters
    except (TypeError, ValueError):
        accepts_verbose = False
    output = model.predict(batch, verbose=0) if accepts_verbose else model.predict(batch)
    return np.asarray(output)


def _checked_images(images: Any) -> list[np.ndarray]:
    if isinstance(images, np.ndarray) and images.ndim == 3:
        raise ValueError(
            f"`images` must be a sequence of (H, W, 3) images or one (batch, H, W, 3) array, got "
            f"one array of shape {images.shape}; wrap a single image in a list."
        )
    checked = []
    for position, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 1:
            raise ValueError(
                f"`images[{position}]` must be an (H, W, 3) image, got shape {image.shape}."
            )
        # The network can turn NaN pixels into ordinary-looking detections, so refuse them.
        if image.dtype.kind == "f" and not np.isfinite(image).all():
            raise ValueError(f"`images[{position}]` holds NaN or infinite pixel values.")
        checked.append(image)
    return checked


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    if image.shape[:2] == (height, width):
        return image
    import cv2

    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
