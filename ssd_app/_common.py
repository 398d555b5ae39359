"""Pieces that both the `ssd-keras` command line (`ssd_app.cli`) and the demo (`ssd_app.demo`) use.

`argparse` value types for the options of both, and `detect`, the detections of one image. Both
modules import this one and it imports neither, so `ssd_app.cli` can import `ssd_app.demo` for
its `demo` subcommand without the demo importing the command line back.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

import numpy as np

from ssd_app import _cli_setup as setup

# ----------------------------------------------------------------------------------------------
# Argument types


def positive_int(text: str) -> int:
    """``argparse`` type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str) -> float | None:
    """``text`` as a finite float, None if it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """``argparse`` type: a finite number above 0."""
    value = _finite_float(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def iou_threshold(text: str) -> float:
    """``argparse`` type: an IoU threshold in ``(0, 1]``."""
    value = _finite_float(text)
    if value is None or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected an IoU in (0, 1], got {text!r}")
    return value


def confidence(text: str) -> float:
    """``argparse`` type: a confidence threshold in ``[0, 1]``."""
    value = _finite_float(text)
    if value is None or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a confidence in [0, 1], got {text!r}")
    return value


def class_names(text: str) -> tuple[str, ...]:
    """``argparse`` type: comma-separated class names, none of them empty."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated non-empty names, got {text!r}")
    return names


# ----------------------------------------------------------------------------------------------
# Detection


def detect(model: Any, image: np.ndarray, confidence: float, iou_threshold: float) -> np.ndarray:
    """Detections of one RGB image as a ``(k, 6)`` array.

    Args:
        model: A training- or inference-mode SSD model, or a :class:`_cli_setup.CheckedModel`.
        image: ``(H, W, 3)`` uint8 RGB image of any size.
        confidence: Minimum confidence.
        iou_threshold: NMS IoU threshold (training-mode models only).

    Returns:
        Rows ``(class_id, confidence, xmin, ymin, xmax, ymax)``, corners in pixels of ``image``.
    """
    import cv2

    from ssd_encoder_decoder.ssd_output_decoder import decode_detections

    height, width = setup.model_input_size(model)
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    raw = model.predict(resized[np.newaxis], verbose=0)
    if setup.model_is_decoded(model):
        boxes = np.asarray(raw[0])
        boxes = boxes[(boxes[:, 0] > 0) & (boxes[:, 1] >= confidence)]
    else:
        boxes = decode_detections(
            raw,
            confidence_thresh=confidence,
            iou_threshold=iou_threshold,
            top_k=200,
            normalize_coords=True,
            img_height=height,
            img_width=width,
        )[0]
    boxes = np.array(boxes, dtype=np.float64).reshape(-1, 6)
    boxes[:, [2, 4]] *= image.shape[1] / width
    boxes[:, [3, 5]] *= image.shape[0] / height
    return boxes
