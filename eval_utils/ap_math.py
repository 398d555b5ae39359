"""Array maths of the Pascal VOC style evaluation: matching, precision/recall and AP.

Everything here works on plain NumPy arrays, independent of any model or data generator:

* `GroundTruthIndex` stacks the ground truth boxes of a whole dataset (one array per
  image) into flat arrays and hands out the boxes of one class grouped by image.
* `match_class_predictions` decides, for all predictions of one class at once, which are
  true positives, false positives or ignored (matched to an evaluation-neutral box).
* `precision_recall` and the `average_precision_*` functions turn the matching result
  into precision/recall curves and average precisions.

Boxes are in `corners` format (xmin, ymin, xmax, ymax), absolute pixel coordinates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bounding_box_utils.bounding_box_utils import iou

AP_MODES = ("sample", "integrate", "voc2010")
"""Supported `average_precision_mode` values."""

_BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def as_rows(array: Any, width: int, what: str) -> np.ndarray:
    """`array` as an `(n, >= width)` matrix; any empty input becomes `(0, width)`."""
    rows = np.asarray(array)
    if rows.size == 0:
        return np.zeros((0, width), dtype=rows.dtype if rows.dtype.kind in "iuf" else float)
    if rows.ndim != 2 or rows.shape[1] < width:
        raise ValueError(
            f"{what} must be a 2-D array with at least {width} columns, got shape {rows.shape}."
        )
    return rows


def checked_class_ids(class_column: np.ndarray, n_classes: int, what: str) -> np.ndarray:
    """Integer class ids of a column, raising if one is not an integer in `[0, n_classes]`."""
    as_float = class_column.astype(float)
    bad = (as_float != np.round(as_float)) | (as_float < 0) | (as_float > n_classes)
    if np.any(bad):
        raise ValueError(
            f"{what} contains class id {class_column[np.argmax(bad)]!r}; class ids must be "
            f"integers in [0, n_classes={n_classes}]."
        )
    return as_float.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class ClassGroundTruth:
    """Ground truth boxes of one class, grouped by image.

    Attributes:
        boxes: `(g, 4)` corners boxes, the boxes of image `i` in rows
            `starts[i]:starts[i] + counts[i]` in their original order.
        neutral: `(g,)` bool, True for evaluation-neutral boxes.
        starts: `(n_images,)` first row of each image.
        counts: `(n_images,)` number of boxes of each image.
    """

    boxes: np.ndarray
    neutral: np.ndarray
    starts: np.ndarray
    counts: np.ndarray


@dataclasses.dataclass(frozen=True)
class GroundTruthIndex:
    """The ground truth of a dataset as flat arrays.

    Attributes:
        image_lookup: `str(image_id)` -> image position.
        image_positions: `(G,)` image position of every box.
        class_ids: `(G,)` class id of every box.
        boxes: `(G, 4)` corners boxes, absolute pixels, in the labels' own dtype.
        neutral: `(G,)` bool, True where a box is evaluation-neutral (all False when neutral
            flags are not used).
    """

    image_lookup: dict[str, int]
    image_positions: np.ndarray
    class_ids: np.ndarray
    boxes: np.ndarray
    neutral: np.ndarray

    @property
    def n_images(self) -> int:
        """Number of images in the dataset."""
        return len(self.image_lookup)

    @classmethod
    def build(
        cls,
        labels: Sequence[Any],
        n_classes: int,
        gt_format: Mapping[str, int],
        image_ids: Sequence[Any] | None = None,
        eval_neutral: Sequence[Any] | None = None,
    ) -> GroundTruthIndex:
        """Stacks per-image label arrays.

        Args:
            labels: One `(k, >= 5)` array (or nested list) per image, columns given by
                `gt_format`; images without boxes may give any empty array.
            n_classes: Number of positive classes; class ids must lie in `[0, n_classes]`.
            gt_format: Maps `'class_id', 'xmin', 'ymin', 'xmax', 'ymax'` to label columns.
            image_ids: One id per image (compared as `str`); positions `0..n-1` if None.
            eval_neutral: None, or one sequence of `k` booleans per image.

        Returns:
            The index.

        Raises:
            ValueError: For label arrays of the wrong shape, out-of-range class ids, or id and
                neutral-flag lists whose lengths do not match `labels`.
        """
        n_images = len(labels)
        if image_ids is None:
            image_ids = range(n_images)
        if len(image_ids) != n_images:
            raise ValueError(f"There are {n_images} label arrays but {len(image_ids)} image ids.")
        if eval_neutral is not None and len(eval_neutral) != n_images:
            raise ValueError(
                f"There are {n_images} label arrays but {len(eval_neutral)} `eval_neutral` entries."
            )
        columns = [gt_format[key] for key in ("class_id", *_BOX_KEYS)]
        width = max(columns) + 1
        blocks, flags = [], []
        for position, image_labels in enumerate(labels):
            rows = as_rows(image_labels, width, f"labels of image {position}")
            blocks.append(rows[:, columns])
            flags.append(_neutral_flags(eval_neutral, position, len(rows)))
        counts = [len(block) for block in blocks]
        filled = [block for block in blocks if len(block)]
        stacked = np.concatenate(filled) if filled else np.zeros((0, 5), dtype=np.int64)
        return cls(
            image_lookup={str(image_id): pos for pos, image_id in enumerate(image_ids)},
            image_positions=np.repeat(np.arange(n_images), counts),
            class_ids=checked_class_ids(stacked[:, 0], n_classes, "`labels`"),
            boxes=stacked[:, 1:],
            neutral=np.concatenate(flags) if flags else np.zeros(0, dtype=bool),
        )

    def num_per_class(self, n_classes: int, ignore_neutral: bool = True) -> np.ndarray:
        """Box count per class id `0..n_classes`, without neutral boxes if `ignore_neutral`."""
        keep = ~self.neutral if ignore_neutral else np.ones(len(self.class_ids), dtype=bool)
        return np.bincount(self.class_ids[keep], minlength=n_classes + 1).astype(np.int64)

    def for_class(self, class_id: int) -> ClassGroundTruth:
        """The boxes of one class grouped by image (see `ClassGroundTruth`)."""
        rows = np.flatnonzero(self.class_ids == class_id)  # already in image order
        counts = np.bincount(self.image_positions[rows], minlength=self.n_images)
        return ClassGroundTruth(
            boxes=self.boxes[rows],
            neutral=self.neutral[rows],
            starts=np.cumsum(counts) - counts,
            counts=counts,
        )

    def positions_of(self, image_ids: Sequence[Any], what: str) -> np.ndarray:
        """Image positions of `image_ids` (compared as `str`); ValueError for unknown ids."""
        lookup = self.image_lookup
        positions = np.fromiter(
            (lookup.get(str(image_id), -1) for image_id in image_ids), dtype=np.int64
        )
        if np.any(positions < 0):
            unknown = sorted({str(image_ids[k]) for k in np.flatnonzero(positions < 0)})
            raise ValueError(
                f"{what} refer to image ids without ground truth entry: {unknown[:5]}"
                + (" ..." if len(unknown) > 5 else "")
            )
        return positions


def _neutral_flags(eval_neutral: Sequence[Any] | None, position: int, n_boxes: int) -> np.ndarray:
    if eval_neutral is None:
        return np.zeros(n_boxes, dtype=bool)
    flags = np.asarray(eval_neutral[position], dtype=bool).reshape(-1)
    if len(flags) != n_boxes:
        raise ValueError(
            f"`eval_neutral` of image {position} has {len(flags)} flags for {n_boxes} boxes."
        )
    return flags


@dataclasses.dataclass(frozen=True)
class _Pairs:
    """All (prediction, ground truth box) pairs of the same image, grouped by prediction."""

    prediction: np.ndarray  # prediction of each pair
    local: np.ndarray  # position of the box among its image's boxes of the class
    first_pair: np.ndarray  # first pair of each prediction (meaningful where it has boxes)


def _pair_up(counts: np.ndarray) -> _Pairs:
    first_pair = np.cumsum(counts) - counts
    prediction = np.repeat(np.arange(len(counts)), counts)
    return _Pairs(prediction, np.arange(len(prediction)) - first_pair[prediction], first_pair)


def _best_match(ious: np.ndarray, pairs: _Pairs, owners: np.ndarray, counts: np.ndarray):
    """First box of maximal IoU per prediction in `owners` (predictions with boxes).

    NaN IoUs (zero unions) rank highest, as `np.argmax` would pick them.
    """
    key = np.where(np.isnan(ious), np.inf, ious)
    segments = pairs.first_pair[owners]
    best = np.maximum.reduceat(key, segments)
    is_best = key == np.repeat(best, counts[owners])
    no_pick = np.iinfo(np.int64).max
    local = np.minimum.reduceat(np.where(is_best, pairs.local, no_pick), segments)
    return local, ious[segments + local]


def match_class_predictions(
    image_positions: np.ndarray,
    confidences: np.ndarray,
    boxes: np.ndarray,
    class_gt: ClassGroundTruth,
    matching_iou_threshold: float = 0.5,
    border_pixels: str = "include",
    sorting_algorithm: str = "quicksort",
    ignore_neutral_boxes: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores the predictions of one class against that class's ground truth.

    Predictions are ranked by descending confidence (`np.argsort(-confidences,
    kind=sorting_algorithm)`). Each prediction is compared with the boxes of its own image (IoU
    in `corners` format with `border_pixels`); its best box is the first one of maximal IoU.
    It is a false positive if the image has no box of the class or the best IoU is below
    `matching_iou_threshold`; it is ignored (neither) if the best box is neutral and
    `ignore_neutral_boxes`; otherwise it is a true positive if no higher-ranked prediction
    already claimed that box, else a false positive. Since the best box never depends on which
    boxes are already claimed, "first claim wins" is computed for all predictions at once.

    Args:
        image_positions: `(n,)` image position of each prediction.
        confidences: `(n,)` confidences (the original ranks them as float32).
        boxes: `(n, 4)` corners boxes, absolute pixels.
        class_gt: The class's ground truth from `GroundTruthIndex.for_class`.
        matching_iou_threshold: Minimum IoU of a match.
        border_pixels: `'include'`, `'exclude'` or `'half'`, used for the box areas.
        sorting_algorithm: `kind` of `np.argsort`.
        ignore_neutral_boxes: Whether matches with neutral boxes are ignored.

    Returns:
        `(true_positives, false_positives)`: two `(n,)` int64 arrays of 0/1 in ranked order.
    """
    order = np.argsort(-confidences, kind=sorting_algorithm)
    positions = image_positions[order]
    counts = class_gt.counts[positions]
    n = len(order)
    true_pos = np.zeros(n, dtype=np.int64)
    ignored = np.zeros(n, dtype=np.int64)
    owners = np.flatnonzero(counts > 0)
    if len(owners):
        pairs = _pair_up(counts)
        gt_rows = class_gt.starts[positions][pairs.prediction] + pairs.local
        ious = iou(
            class_gt.boxes[gt_rows],
            boxes[order][pairs.prediction],
            coords="corners",
            mode="element-wise",
            border_pixels=border_pixels,
        )
        local, overlap = _best_match(ious, pairs, owners, counts)
        target = class_gt.starts[positions[owners]] + local
        matched = ~(overlap < matching_iou_threshold)
        neutral = matched & class_gt.neutral[target]
        if not ignore_neutral_boxes:
            neutral[:] = False
        claims = matched & ~neutral
        _, first_claims = np.unique(target[claims], return_index=True)
        true_pos[owners[claims][first_claims]] = 1
        ignored[owners[neutral]] = 1
    return true_pos, 1 - true_pos - ignored


def precision_recall(
    cumulative_true_positives: np.ndarray,
    cumulative_false_positives: np.ndarray,
    num_gt: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative precision and recall along the ranked predictions.

    Args:
        cumulative_true_positives: `(n,)` running count of true positives.
        cumulative_false_positives: `(n,)` running count of false positives.
        num_gt: Number of (non-neutral) ground truth boxes of the class.

    Returns:
        `(precision, recall)`, two `(n,)` float64 arrays. Precision is 0 where nothing has
        been counted yet; recall is all zeros when the class has no ground truth box.
    """
    tp = np.asarray(cumulative_true_positives)
    counted = tp + np.asarray(cumulative_false_positives)
    precision = np.zeros(len(tp))
    np.divide(tp, counted, out=precision, where=counted > 0)
    recall = tp / num_gt if num_gt > 0 else np.zeros(len(tp))
    return precision, recall


def average_precision_sample(
    precision: np.ndarray, recall: np.ndarray, num_recall_points: int = 11
) -> float:
    """Pre-2010 VOC AP: mean over `t` in `linspace(0, 1, num_recall_points)` of the highest
    precision at a recall `>= t` (0 where no recall reaches `t`).

    Args:
        precision: `(n,)` cumulative precision.
        recall: `(n,)` cumulative recall, non-decreasing.
        num_recall_points: Number of sampled recall values (11 in VOC2007).

    Returns:
        The average precision.
    """
    thresholds = np.linspace(0, 1, num=num_recall_points, endpoint=True)
    if len(recall) == 0:
        return 0.0
    best_from = np.maximum.accumulate(np.asarray(precision)[::-1])[::-1]
    first = np.searchsorted(recall, thresholds, side="left")
    reached = first < len(recall)
    sampled = np.zeros(num_recall_points)
    sampled[reached] = best_from[first[reached]]
    return sum(sampled.tolist()) / num_recall_points  # sequential sum, as the original


def average_precision_integrate(precision: np.ndarray, recall: np.ndarray) -> float:
    """The original library's 'integrate' AP, kept to reproduce published figures.

    See docs/differences.md#evaluator-integrate-ap.

    With the unique recalls `u_0 < ... < u_{K-1}`, AP = sum over `i < K-1` of
    `(u_{i+1} - u_i)` times the highest precision among predictions whose recall lies in
    `[u_i, u_{K-2}]`. Unlike VOC2010 there is no strip from recall 0 to `u_0` and the
    precisions reached at the final recall are ignored.

    Args:
        precision: `(n,)` cumulative precision.
        recall: `(n,)` cumulative recall, non-decreasing.

    Returns:
        The average precision.
    """
    unique_recalls, first_index = np.unique(recall, return_index=True)
    maxima = np.zeros_like(unique_recalls)
    deltas = np.zeros_like(unique_recalls)
    if len(unique_recalls) > 1:
        segment_max = np.maximum.reduceat(np.asarray(precision), first_index)[:-1]
        maxima[:-1] = np.maximum.accumulate(segment_max[::-1])[::-1]
        deltas[:-1] = np.diff(unique_recalls)
    return float(np.sum(maxima * deltas))


def average_precision_voc2010(precision: np.ndarray, recall: np.ndarray) -> float:
    """VOC2010+ all-point AP: area under the precision envelope, recall from 0 to 1.

    The curve is extended with (recall 0, precision 0) and (recall 1, precision 0); precision is
    replaced by its running maximum from the right; AP sums precision times recall steps.

    Args:
        precision: `(n,)` cumulative precision.
        recall: `(n,)` cumulative recall, non-decreasing.

    Returns:
        The average precision.
    """
    recalls = np.concatenate(([0.0], recall, [1.0]))
    envelope = np.concatenate(([0.0], precision, [0.0]))
    envelope = np.maximum.accumulate(envelope[::-1])[::-1]
    steps = np.flatnonzero(recalls[1:] != recalls[:-1])
    return float(np.sum((recalls[steps + 1] - recalls[steps]) * envelope[steps + 1]))


def average_precision(
    precision: np.ndarray, recall: np.ndarray, mode: str = "sample", num_recall_points: int = 11
) -> float:
    """Average precision of one class in one of `AP_MODES`.

    Args:
        precision: `(n,)` cumulative precision.
        recall: `(n,)` cumulative recall.
        mode: `'sample'` (VOC2007 k-point), `'integrate'` (the original's variant) or
            `'voc2010'` (all-point, VOC2010 and later).
        num_recall_points: Only for `'sample'`.

    Returns:
        The average precision.

    Raises:
        ValueError: For an unknown mode or a `num_recall_points` below 1.
    """
    if mode == "sample":
        if not isinstance(num_recall_points, (int, np.integer)) or num_recall_points < 1:
            raise ValueError(
                f"`num_recall_points` must be a positive integer, got {num_recall_points!r}."
            )
        return average_precision_sample(precision, recall, int(num_recall_points))
    if mode == "integrate":
        return average_precision_integrate(precision, recall)
    if mode == "voc2010":
        return average_precision_voc2010(precision, recall)
    raise ValueError(f"`mode` must be one of {list(AP_MODES)}, but received {mode!r}.")
