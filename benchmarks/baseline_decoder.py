"""Reference decoders written the straightforward way: one image, one class, one box at a time.

These functions give the same detections as ``ssd_encoder_decoder.ssd_output_decoder`` but take
the direct route of the original library: the boxes of each image and each class are thresholded
separately and non-maximum suppression is a Python ``while`` loop that picks the best remaining box,
then drops every box overlapping it too much. They serve two purposes:

* the speed baseline of ``benchmarks/bench_encoder_decoder.py`` (same signatures as the real
  decoders, so a benchmark can call either);
* a slow but obviously correct reference for the tests.

Rows are ``[class_id, confidence, xmin, ymin, xmax, ymax]`` (corners; pixels if
``normalize_coords``). An image without detections gives an empty ``(0, 6)`` array (the original
gave shape ``(0,)``). Rows come in the loop's natural order (classes
ascending, inside a class the order the suppression loop kept them); a ``top_k`` cut uses
``np.argpartition`` like the original, so after a cut the order is arbitrary.

:func:`make_benchmark_predictions` builds the synthetic SSD300 model output the benchmark decodes.
"""

from __future__ import annotations

import numpy as np

from bounding_box_utils.bounding_box_utils import iou

ROW_WIDTH = 6


def _decoded_corners(y_pred, input_coords, normalize_coords, img_height, img_width):
    """Offsets -> absolute corners, following the original's arithmetic step by step.

    The arithmetic runs in ``y_pred``'s dtype; boxes converted from centroids or minmax are then
    stored as float64 (the original's ``convert_coordinates`` did that), corners stay as they are.
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
        scores: ``(k,)`` confidences.
        boxes: ``(k, 4)`` corners.
        iou_threshold: boxes with IoU above it (more exactly: not ``<=``) with a kept box go.
        border_pixels: passed to ``iou``.

    Returns:
        int array of indices into ``scores``.
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
    """Per-class decoding, the original's way: per image and class, threshold (``>``) and NMS loop.

    Same arguments and detections as ``ssd_output_decoder.decode_detections``; returns one
    ``(k, 6)`` float64 array per image.
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
    """Class-agnostic decoding per image: argmax class, threshold (``>=``), one NMS loop.

    Same arguments and detections as ``ssd_output_decoder.decode_detections_fast``; returns one
    ``(k, 6)`` float64 array per image.
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
    """Class-agnostic NMS of a list of ``(k, 6)`` decoded arrays (score column 1), per image.

    Same as ``ssd_output_decoder.greedy_nms`` for ``coords='corners'`` (the only one handled).
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


def ssd300_anchor_template(n_images: int) -> np.ndarray:
    """The SSD300 VOC encoding template ``(n_images, 8732, 33)`` from ``SSDInputEncoder``."""
    from benchmarks.configs import SSD300_ENCODER
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    encoder = SSDInputEncoder(**SSD300_ENCODER)
    return encoder.generate_encoding_template(n_images)


def make_benchmark_predictions(
    n_images: int = 16,
    seed: int = 0,
    template: np.ndarray | None = None,
    active_fraction: float = 0.05,
) -> np.ndarray:
    """Synthetic SSD300 VOC model output, shaped like a real one: ``(n_images, 8732, 33)`` float32.

    Most anchors are confidently background (softmax of logit 8 for background against 0 for the
    20 object classes, zero offsets). A random ``active_fraction`` of the anchors in every image
    gets a softmax of random logits (standard deviation 3, so some classes reach high
    confidences) and box offsets drawn from N(0, 0.5). Anchors and variances are the SSD300 VOC
    ones (normalised centroids, variances 0.1, 0.1, 0.2, 0.2).

    Args:
        n_images: batch size.
        seed: seed of the ``np.random.default_rng`` generator (same seed, same output).
        template: an encoding template ``(n_images, #boxes, C + 12)`` to take the anchors and
            variances from; by default the SSD300 VOC template of ``SSDInputEncoder``.
        active_fraction: fraction of anchors per image that do not predict background.

    Returns:
        float32 array ``(n_images, #boxes, C + 12)``: scores, offsets, anchors, variances.
    """
    if template is None:
        template = ssd300_anchor_template(n_images)
    rng = np.random.default_rng(seed)
    n_boxes, n_classes = template.shape[1], template.shape[2] - 12
    logits = np.zeros((n_images, n_boxes, n_classes))
    logits[:, :, 0] = 8.0
    offsets = np.zeros((n_images, n_boxes, 4))
    active = rng.random((n_images, n_boxes)) < active_fraction
    n_active = int(active.sum())
    logits[active] = rng.normal(0.0, 3.0, size=(n_active, n_classes))
    offsets[active] = rng.normal(0.0, 0.5, size=(n_active, 4))
    scores = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    y_pred = np.concatenate([scores, offsets, template[:, :, -8:]], axis=-1)
    return y_pred.astype(np.float32)
