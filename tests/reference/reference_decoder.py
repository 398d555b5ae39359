"""Reference decoders written the straightforward way: one image, one class, one box at a time.

These functions give the same detections as `ssd_encoder_decoder.ssd_output_decoder` but take
the direct route of the original library: the boxes of each image and each class are thresholded
separately and non-maximum suppression is a Python `while` loop that picks the best remaining box,
then drops every box overlapping it too much. They serve two purposes:

* a slow but obviously correct reference for the tests;
* the speed baseline of `benchmarks/bench_encoder_decoder.py` and
  `benchmarks/bench_decode_vs_original.py` (same signatures as the real decoders, so a
  benchmark can call either).

Rows are `[class_id, confidence, xmin, ymin, xmax, ymax]` (corners; pixels if
`normalize_coords`). An image without detections gives an empty `(0, 6)` array (the original
gave shape `(0,)`). Rows come in the loop's natural order (classes
ascending, inside a class the order the suppression loop kept them); a `top_k` cut uses
`np.argpartition` like the original, so after a cut the order is arbitrary.
"""

from __future__ import annotations

import numpy as np

from bounding_box_utils.bounding_box_utils import iou

ROW_WIDTH = 6


def _decoded_corners(y_pred, input_coords, normalize_coords, img_height, img_width):
    """Offsets -> absolute corners, following the original's arithmetic step by step.

    The arithmetic runs in `y_pred`'s dtype; boxes converted from centroids or minmax are then
    stored as float64 (the original's `convert_coordinates` did that), corners stay as they are.
    """
    if normalize_coords and (img_height is None or img_width is None):
        raise ValueError("normalize_coords=True needs img_height and img_width")
    offsets = np.copy(y_pred[:, :, -12:-8])
    anchors = y_pred[:, :, -8:-4]
    variances = y_pred[:, :, -4:]
    if input_coords == "centroids":
        width_height = np.exp(offsets[:, :, 2:] * variances[:, :, 2:]) * anchors[:, :, 2:]
        center = offsets[:, :, :2] * (variances[:, :, :2] * anchors[:, :, 2:]) + anchors[:, :, :2]
        boxes = np.concatenate(
            [center - width_height / 2.0, center + width_height / 2.0], axis=-1
        ).astype(np.float64)
    elif input_coords == "minmax":
        offsets *= variances
        offsets[:, :, :2] *= (anchors[:, :, 1] - anchors[:, :, 0])[:, :, None]
        offsets[:, :, 2:] *= (anchors[:, :, 3] - anchors[:, :, 2])[:, :, None]
        offsets += anchors
        boxes = offsets[:, :, [0, 2, 1, 3]].astype(np.float64)
    elif input_coords == "corners":
        offsets *= variances
        offsets[:, :, 0::2] *= (anchors[:, :, 2] - anchors[:, :, 0])[:, :, None]
        offsets[:, :, 1::2] *= (anchors[:, :, 3] - anchors[:, :, 1])[:, :, None]
        offsets += anchors
        boxes = offsets
    else:
        raise ValueError(f"unknown input_coords {input_coords!r}")
    if normalize_coords:
        boxes[:, :, 0::2] *= img_width
        boxes[:, :, 1::2] *= img_height
    return boxes


def greedy_nms_loop(
    scores: np.ndarray, boxes: np.ndarray, iou_threshold: float, border_pixels: str = "half"
) -> np.ndarray:
    """Greedy NMS by the book; returns the kept indices in the order they were kept.

    Args:
        scores: `(k,)` confidences.
        boxes: `(k, 4)` corners.
        iou_threshold: boxes with IoU above it (more exactly: not `<=`) with a kept box go.
        border_pixels: passed to `iou`.

    Returns:
        int array of indices into `scores`.
    """
    remaining = np.arange(len(scores))
    kept = []
    while remaining.size > 0:
        best_position = np.argmax(scores[remaining])
        best = remaining[best_position]
        kept.append(best)
        remaining = np.delete(remaining, best_position)
        if remaining.size == 0:
            break
        overlaps = iou(
            boxes[remaining],
            boxes[best],
            coords="corners",
            mode="element-wise",
            border_pixels=border_pixels,
        )
        remaining = remaining[overlaps <= iou_threshold]
    return np.array(kept, dtype=int)


def _keep_top_k(rows, top_k, score_column=1):
    if top_k == "all" or rows.shape[0] <= top_k:
        return rows
    cut = rows.shape[0] - top_k
    return rows[np.argpartition(rows[:, score_column], kth=cut)[cut:]]


def _rows(class_ids, scores, boxes):
    rows = np.empty((len(scores), ROW_WIDTH))
    rows[:, 0] = class_ids
    rows[:, 1] = scores
    rows[:, 2:] = boxes
    return rows


def decode_detections(
    y_pred: np.ndarray,
    confidence_thresh: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int | str = 200,
    input_coords: str = "centroids",
    normalize_coords: bool = True,
    img_height: float | None = None,
    img_width: float | None = None,
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Per-class decoding, the original's way: per image and class, threshold (`>`) and NMS loop.

    Same arguments and detections as `ssd_output_decoder.decode_detections`; returns one
    `(k, 6)` float64 array per image.
    """
    corners = _decoded_corners(y_pred, input_coords, normalize_coords, img_height, img_width)
    n_classes = y_pred.shape[-1] - 12
    # The original compares the scores after copying them next to the decoded coordinates.
    scores_all = y_pred[:, :, :n_classes].astype(corners.dtype)
    results = []
    for image_scores, image_boxes in zip(scores_all, corners, strict=True):
        per_class = []
        for class_id in range(1, n_classes):
            candidates = np.nonzero(image_scores[:, class_id] > confidence_thresh)[0]
            if candidates.size == 0:
                continue
            scores = image_scores[candidates, class_id]
            boxes = image_boxes[candidates]
            kept = greedy_nms_loop(scores, boxes, iou_threshold, border_pixels)
            per_class.append(_rows(class_id, scores[kept], boxes[kept]))
        if not per_class:
            results.append(np.empty((0, ROW_WIDTH)))
            continue
        results.append(_keep_top_k(np.concatenate(per_class, axis=0), top_k))
    return results


def decode_detections_fast(
    y_pred: np.ndarray,
    confidence_thresh: float = 0.5,
    iou_threshold: float | None = 0.45,
    top_k: int | str = "all",
    input_coords: str = "centroids",
    normalize_coords: bool = True,
    img_height: float | None = None,
    img_width: float | None = None,
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Class-agnostic decoding per image: argmax class, threshold (`>=`), one NMS loop.

    Same arguments and detections as `ssd_output_decoder.decode_detections_fast`; returns one
    `(k, 6)` float64 array per image.
    """
    corners = _decoded_corners(y_pred, input_coords, normalize_coords, img_height, img_width)
    class_scores = y_pred[:, :, :-12]
    results = []
    for image_scores, image_boxes in zip(class_scores, corners, strict=True):
        class_ids = np.argmax(image_scores, axis=-1)
        confidences = np.max(image_scores, axis=-1).astype(corners.dtype)
        candidates = np.nonzero((class_ids != 0) & (confidences >= confidence_thresh))[0]
        if iou_threshold and candidates.size > 0:
            # NMS in the precision of the decoded boxes, as the original did.
            kept = greedy_nms_loop(
                confidences[candidates], image_boxes[candidates], iou_threshold, border_pixels
            )
            candidates = candidates[kept]
        rows = _rows(class_ids[candidates], confidences[candidates], image_boxes[candidates])
        results.append(_keep_top_k(rows, top_k))
    return results


def greedy_nms(
    y_pred_decoded: list[np.ndarray],
    iou_threshold: float = 0.45,
    coords: str = "corners",
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Class-agnostic NMS of a list of `(k, 6)` decoded arrays (score column 1), per image.

    Same as `ssd_output_decoder.greedy_nms` for `coords='corners'` (the only one handled).
    """
    if coords != "corners":
        raise ValueError("the reference only handles corners")
    results = []
    for rows in y_pred_decoded:
        rows = np.asarray(rows)
        if rows.shape[0] == 0:
            results.append(rows.reshape(0, ROW_WIDTH))
            continue
        results.append(rows[greedy_nms_loop(rows[:, 1], rows[:, 2:], iou_threshold, border_pixels)])
    return results
