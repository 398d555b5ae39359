"""Reference Pascal VOC scoring with one Python iteration per prediction.

This is the straightforward formulation (the way the original library scores predictions): for
each class, rank the predictions, then walk through them one at a time, compute the IoU with the
ground truth boxes of the same image and class, and claim the best box. It is the baseline of
`bench_evaluator.py` and the slow reference the tests compare the vectorised evaluator with.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bounding_box_utils.bounding_box_utils import iou


def _ground_truth_by_image(
    labels: Sequence[Any], image_ids: Sequence[Any], eval_neutral: Sequence[Any] | None
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    table = {}
    for position, image_id in enumerate(image_ids):
        boxes = np.asarray(labels[position]).reshape(-1, 5)
        if eval_neutral is None:
            neutral = np.zeros(len(boxes), dtype=bool)
        else:
            neutral = np.asarray(eval_neutral[position], dtype=bool).reshape(-1)
        table[str(image_id)] = (boxes, neutral)
    return table


def match_one_class(
    predictions: Sequence[tuple],
    class_id: int,
    ground_truth: dict[str, tuple[np.ndarray, np.ndarray]],
    matching_iou_threshold: float = 0.5,
    border_pixels: str = "include",
    sorting_algorithm: str = "quicksort",
) -> tuple[np.ndarray, np.ndarray]:
    """True/false positive flags (ranked order) of one class's `(id, conf, 4 corners)` tuples."""
    n = len(predictions)
    true_pos = np.zeros(n, dtype=np.int64)
    false_pos = np.zeros(n, dtype=np.int64)
    if n == 0:
        return true_pos, false_pos
    confidences = np.array([entry[1] for entry in predictions], dtype=np.float32)
    claimed: dict[str, set[int]] = {}
    for rank, k in enumerate(np.argsort(-confidences, kind=sorting_algorithm)):
        image_id = str(predictions[k][0])
        box = np.array(predictions[k][2:6], dtype=np.float32)
        boxes, neutral = ground_truth[image_id]
        of_class = boxes[:, 0] == class_id
        if not np.any(of_class):
            false_pos[rank] = 1
            continue
        overlaps = iou(
            boxes[of_class][:, 1:5],
            box,
            coords="corners",
            mode="element-wise",
            border_pixels=border_pixels,
        )
        best = int(np.argmax(overlaps))
        if overlaps[best] < matching_iou_threshold:
            false_pos[rank] = 1
        elif neutral[of_class][best]:
            continue
        elif best in claimed.setdefault(image_id, set()):
            false_pos[rank] = 1
        else:
            claimed[image_id].add(best)
            true_pos[rank] = 1
    return true_pos, false_pos


def sample_average_precision(
    true_pos: np.ndarray, false_pos: np.ndarray, num_gt: int, num_recall_points: int = 11
) -> float:
    """VOC2007 k-point AP from ranked flags, one recall threshold at a time."""
    tp, fp = np.cumsum(true_pos), np.cumsum(false_pos)
    precision = np.where(tp + fp > 0, tp / np.maximum(tp + fp, 1), 0.0)
    recall = tp / num_gt if num_gt else np.zeros(len(tp))
    total = 0.0
    for t in np.linspace(0, 1, num_recall_points):
        reached = precision[recall >= t]
        total += float(np.amax(reached)) if reached.size else 0.0
    return total / num_recall_points


def evaluate(
    prediction_results: Sequence[Sequence[tuple]],
    labels: Sequence[Any],
    image_ids: Sequence[Any],
    n_classes: int,
    eval_neutral: Sequence[Any] | None = None,
    matching_iou_threshold: float = 0.5,
    border_pixels: str = "include",
    num_recall_points: int = 11,
) -> tuple[float, list[np.ndarray], list[np.ndarray]]:
    """Mean AP ('sample' mode) plus the per-class true/false positive flags (index 0 dummy).

    Labels are `(k, 5)` arrays in the default layout (class_id, xmin, ymin, xmax, ymax).
    """
    ground_truth = _ground_truth_by_image(labels, image_ids, eval_neutral)
    num_gt = np.zeros(n_classes + 1, dtype=np.int64)
    for boxes, neutral in ground_truth.values():
        for row, is_neutral in zip(boxes, neutral, strict=True):
            num_gt[int(row[0])] += 0 if is_neutral else 1
    true_positives, false_positives = [np.zeros(0)], [np.zeros(0)]
    average_precisions = []
    for class_id in range(1, n_classes + 1):
        tp, fp = match_one_class(
            prediction_results[class_id],
            class_id,
            ground_truth,
            matching_iou_threshold,
            border_pixels,
        )
        true_positives.append(tp)
        false_positives.append(fp)
        average_precisions.append(
            sample_average_precision(tp, fp, int(num_gt[class_id]), num_recall_points)
        )
    return float(np.mean(average_precisions)), true_positives, false_positives
