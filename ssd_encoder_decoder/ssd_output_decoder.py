"""Decoding raw SSD output into detections, and greedy non-maximum suppression, in NumPy.

The raw output of an SSD model (or the `y_encoded` of `SSDInputEncoder`) has shape
`(batch_size, #boxes, #classes + 12)`. Its last axis holds the slices that
`ssd_encoder_decoder.output_layout` names (counted from the end, so any class count fits):

* `CLASS_SCORES` (`[:-12]`): the `#classes` class scores, column `BACKGROUND_ID` (0) being the
  background;
* `OFFSETS` (`[-12:-8]`): the four predicted offsets of the box relative to its anchor;
* `ANCHORS` (`[-8:-4]`): the anchor box in the `input_coords` format;
* `VARIANCES` (`[-4:]`): the four variances the offsets were divided by.

Decoded detections are rows `[class_id, confidence, xmin, ymin, xmax, ymax]` (corners, in
pixels when `normalize_coords` is on), one float64 array per image.

Decoding works on the whole batch at once, and only the boxes that pass the confidence threshold
are decoded. Non-maximum suppression is vectorised as well: every (image, class) group of the
batch is handled by the same array operations. Only boxes that overlap substantially can
suppress each other, so the IoU is computed for those pairs alone (found by a sweep along x),
and the greedy selection then visits the boxes rank by rank for all groups together. Groups so
crowded that this would list too many pairs fall back to the classical loop, which touches only
the survivors; pairs are scored in chunks, so memory stays bounded.

With a numeric `top_k`, NMS only goes as far as the cut needs: a box's fate depends only on
the higher-scoring boxes of its group, so each image's best-scoring candidates go through NMS
first, and more of them only if fewer than `top_k` survive. An image whose `top_k`-th and
next survivors tie in confidence is redone with all its candidates, so that the rows kept are
still the ones `np.argpartition` picks from the complete list of survivors.

The result is exactly the one of the classical loop "take the highest score, drop every box
whose IoU with it exceeds the threshold, repeat": same IoU function (`bounding_box_utils.iou`
with `border_pixels`: intersection without the border correction, areas with it), a box whose
IoU equals the threshold survives, ties in confidence go to the box that comes first (the lower
anchor index, or the earlier row), and scores and IoUs are compared in the precision the original
used (float64, or the input's precision for `input_coords='corners'`).

Differences from the original library: an image without detections gives an empty `(0, 6)`
array (`(0, 7)` for `decode_detections_debug`, which no longer fails on it) instead of
an array of shape `(0,)`; when `top_k` cuts detections, the same rows are kept but they stay
in the documented order instead of `np.argpartition`'s arbitrary one; `top_k=0` returns no
rows; bad arguments, and a `y_pred` holding NaN or infinite values, raise `ValueError` up
front. See `docs/differences.md#decoder-empty-and-row-order` and
`docs/differences.md#decoder-non-finite-input`.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from bounding_box_utils.bounding_box_utils import border_pixel_offset, convert_coordinates, iou
from ssd_encoder_decoder.output_layout import (
    ANCHORS,
    BACKGROUND_ID,
    BOX,
    BOX_COLUMNS,
    CONFIDENCE,
    N_BOX_COLUMNS,
    OBJECT_CLASS_SCORES,
    OFFSETS,
    VARIANCES,
)

INPUT_COORDS = ("centroids", "minmax", "corners")

# Positions of (xmin, ymin, xmax, ymax) in a corners box.
_XMIN, _YMIN, _XMAX, _YMAX = 0, 1, 2, 3


# ----------------------------------------------------------------------------------------------
# Argument checks


def _check_y_pred(y_pred: np.ndarray, function: str, min_classes: int = 1) -> np.ndarray:
    y_pred = np.asarray(y_pred)
    if y_pred.ndim != 3 or y_pred.shape[-1] < N_BOX_COLUMNS + min_classes:
        raise ValueError(
            f"{function}: `y_pred` must have shape (batch_size, #boxes, #classes + 12) with at "
            f"least {min_classes} class column(s) (last axis of at least "
            f"{N_BOX_COLUMNS + min_classes}), but got shape {y_pred.shape}."
        )
    return y_pred


def _check_decoding_args(input_coords: str, normalize_coords: bool, img_height, img_width):
    if input_coords not in INPUT_COORDS:
        raise ValueError(
            f"`input_coords` must be one of {list(INPUT_COORDS)}, but got {input_coords!r}."
        )
    if normalize_coords and (img_height is None or img_width is None):
        raise ValueError(
            "`normalize_coords=True` converts relative coordinates to pixels and needs the image "
            f"size, but got img_height={img_height!r} and img_width={img_width!r}."
        )


def _check_top_k(top_k) -> None:
    if isinstance(top_k, str):
        if top_k != "all":
            raise ValueError(f"`top_k` must be 'all' or a non-negative int, but got {top_k!r}.")
        return
    if isinstance(top_k, bool) or not isinstance(top_k, (int, np.integer)) or top_k < 0:
        raise ValueError(f"`top_k` must be 'all' or a non-negative int, but got {top_k!r}.")


# ----------------------------------------------------------------------------------------------
# Box decoding


def decode_boxes(
    y_pred: np.ndarray,
    input_coords: str = "centroids",
    normalize_coords: bool = True,
    img_height: float | None = None,
    img_width: float | None = None,
    variance_encoded_in_target: bool = False,
) -> np.ndarray:
    """Turns the predicted offsets of every box into corner coordinates.

    The inverse of the encoding of `SSDInputEncoder`. With anchor `a` and variances `v`:

    * `'centroids'`: `cx = t_cx * (v_cx * w_a) + cx_a`, `cy` likewise with `h_a`,
      `w = exp(t_w * v_w) * w_a`, `h` likewise; then converted to corners;
    * `'corners'`: `x = t_x * v_x * w_a + x_a` for xmin and xmax, `y = t_y * v_y * h_a + y_a`
      for ymin and ymax (`w_a`, `h_a` the anchor's width and height);
    * `'minmax'`: the same in the `(xmin, xmax, ymin, ymax)` layout, then reordered.

    The arithmetic is the original library's, step for step and in `y_pred`'s floating point
    precision; boxes converted from centroids or minmax are returned as float64, corners keep
    `y_pred`'s precision (the original's thresholds and IoUs ran in that precision, so the
    same comparisons come out the same).

    Args:
        y_pred: `(..., #classes + 12)` raw output, e.g. `(batch_size, #boxes, C + 12)` or a
            `(k, 12)` selection of rows; only the last 12 columns are read.
        input_coords: format of the anchors and offsets: `'centroids'` (cx, cy, w, h),
            `'corners'` (xmin, ymin, xmax, ymax) or `'minmax'` (xmin, xmax, ymin, ymax).
        normalize_coords: if True the anchors are relative to the image size and the boxes are
            scaled to pixels (x by `img_width`, y by `img_height`).
        img_height: image height in pixels; required if `normalize_coords`.
        img_width: image width in pixels; required if `normalize_coords`.
        variance_encoded_in_target: centroids only: the offsets already include the variances,
            which are then not applied.

    Returns:
        `(..., 4)` corners `(xmin, ymin, xmax, ymax)` (the leading axes of `y_pred`), in
        pixels if `normalize_coords` else in the anchors' unit; dtype
        `decoded_dtype(y_pred.dtype, input_coords)`.

    Raises:
        ValueError: for an unknown `input_coords`, a missing image size or a `y_pred` with
            fewer than 12 columns.
    """
    y_pred = np.asarray(y_pred)
    if y_pred.ndim < 1 or y_pred.shape[-1] < N_BOX_COLUMNS:
        raise ValueError(
            f"`y_pred` needs at least {N_BOX_COLUMNS} columns on its last axis (offsets, anchors, "
            f"variances), but got shape {y_pred.shape}."
        )
    _check_decoding_args(input_coords, normalize_coords, img_height, img_width)
    y_pred = y_pred.astype(_working_dtype(y_pred.dtype), copy=False)
    offsets = y_pred[..., OFFSETS]
    anchors = y_pred[..., ANCHORS]
    variances = y_pred[..., VARIANCES]
    if input_coords == "centroids" and variance_encoded_in_target:
        variances = np.ones_like(variances)
    if input_coords == "centroids":
        boxes = _decode_centroids(offsets, anchors, variances)
    elif input_coords == "minmax":
        # Reorder to corners; variance i stays with offset i.
        to_corners = [0, 2, 1, 3]
        boxes = _decode_corners(
            offsets[..., to_corners], anchors[..., to_corners], variances[..., to_corners]
        ).astype(np.float64)
    else:
        boxes = _decode_corners(offsets, anchors, variances)
    if normalize_coords:
        boxes *= np.array([img_width, img_height, img_width, img_height], dtype=boxes.dtype)
    return boxes


def _working_dtype(dtype: np.dtype) -> np.dtype:
    return np.dtype(dtype) if np.issubdtype(dtype, np.floating) else np.dtype(np.float64)


def decoded_dtype(dtype: np.dtype, input_coords: str) -> np.dtype:
    """dtype of `decode_boxes`' result for a `y_pred` of `dtype`.

    float64 after a conversion from centroids or minmax, `dtype` itself (if floating) for
    corners. The decoders compare scores and IoUs in this precision, like the original.
    """
    return _working_dtype(dtype) if input_coords == "corners" else np.dtype(np.float64)


def _decode_centroids(offsets, anchors, variances):
    size = np.exp(offsets[..., 2:] * variances[..., 2:]) * anchors[..., 2:]
    center = offsets[..., :2] * (variances[..., :2] * anchors[..., 2:]) + anchors[..., :2]
    corners = np.concatenate([center - size / 2.0, center + size / 2.0], axis=-1)
    return corners.astype(np.float64)


def _decode_corners(offsets, anchors, variances):
    anchor_size = anchors[..., [_XMAX, _YMAX]] - anchors[..., [_XMIN, _YMIN]]
    return offsets * variances * np.concatenate([anchor_size, anchor_size], axis=-1) + anchors


# ----------------------------------------------------------------------------------------------
# Greedy non-maximum suppression for many independent groups at once


def _selection_order(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Order in which repeated `np.argmax` calls would pick the boxes of each group.

    Groups ascending; inside a group descending score with ties by position (`argmax` returns
    the first maximum) and NaN scores first (`argmax` returns a NaN before anything else).
    """
    keys = [-scores, groups]
    is_nan = np.isnan(scores)
    if is_nan.any():
        keys.insert(1, ~is_nan)
    return np.lexsort(keys)


def _regular_boxes(boxes: np.ndarray, d: int) -> np.ndarray:
    """Boxes whose IoU with a box they do not intersect is exactly 0.

    That holds for finite boxes with positive width, height and area (`border_pixels`
    included): the union of two of them is positive, so a zero intersection gives IoU 0.
    """
    width = boxes[:, _XMAX] - boxes[:, _XMIN]
    height = boxes[:, _YMAX] - boxes[:, _YMIN]
    area = (width + d) * (height + d)
    finite = np.isfinite(boxes).all(axis=1) & np.isfinite(area)
    return finite & (width > 0) & (height > 0) & (area > 0)


def _ranges_to_pairs(owners: np.ndarray, starts: np.ndarray, counts: np.ndarray):
    """Pairs `(owners[i], starts[i] + j)` for every `j < counts[i]`, as two flat arrays."""
    counts = np.maximum(counts, 0)
    first = np.repeat(owners, counts)
    offsets = np.repeat(starts - (np.cumsum(counts) - counts), counts)
    second = np.arange(len(first), dtype=offsets.dtype) + offsets
    return first, second


class _OverlapSweep:
    """Pairs of boxes of the same group that overlap by more than `share` of their sides.

    Two boxes are paired if their overlap along x exceeds `share` times the larger width and
    their overlap along y exceeds `share` times the larger height (`share = 0`: they
    intersect). The pairs are found by a sweep along x: the boxes are sorted by
    `(group, xmin)` and each is paired with the later boxes whose xmin is below its xmax minus
    `share` of its width; the y condition is then tested on those pairs. Groups are kept apart
    by shifting their x-coordinates by multiples of more than twice the coordinate span; a guard
    of a few units in the last place of the shifted values makes up for their rounding, so a few
    extra pairs may come along but none is missed.

    `counts[i]` is the number of x-candidates of the `i`-th box in sweep order (`members`
    in that order); setting it to 0 leaves that box's pairs out. `pairs` lists the pairs
    of a slice of the sweep order, so that they can be produced in chunks of bounded size.
    """

    def __init__(self, boxes, groups, members, share):
        self.share = share
        self.members = members
        self.counts = np.zeros(members.size, dtype=np.intp)
        if members.size < 2:
            return
        xmin, ymin, xmax, ymax = boxes[members].astype(np.float64).T
        low = xmin.min()
        shift = groups[members] * (2.0 * (xmax.max() - low) + 1.0)
        start_keys = shift + (xmin - low)
        guard = 64 * np.spacing(np.abs(start_keys).max() + np.abs(xmax - low).max())
        reach = xmax - np.maximum(share * (xmax - xmin) - guard, 0.0)
        by_start = np.argsort(start_keys, kind="stable")
        end_keys = (shift + (reach - low))[by_start]
        ends = np.searchsorted(start_keys[by_start], end_keys, side="right")
        self.members = members[by_start]
        self.groups = groups[self.members]
        self.counts = np.maximum(ends - np.arange(members.size) - 1, 0)
        self.ymin, self.ymax = ymin[by_start], ymax[by_start]
        self.height = self.ymax - self.ymin

    def pairs(self, begin: int, end: int):
        """Pairs whose first box is at sweep positions `begin` to `end - 1`."""
        counts = self.counts[begin:end]
        positions = np.arange(begin, end)
        first, second = _ranges_to_pairs(positions, positions + 1, counts)
        # The first box of each pair is a repetition, cheaper than a gather.
        top = np.minimum(np.repeat(self.ymax[begin:end], counts), self.ymax[second])
        bottom = np.maximum(np.repeat(self.ymin[begin:end], counts), self.ymin[second])
        height = np.maximum(np.repeat(self.height[begin:end], counts), self.height[second])
        keep = top - bottom > self.share * height
        first, second = first[keep], second[keep]
        same_group = self.groups[first] == self.groups[second]
        return self.members[first[same_group]], self.members[second[same_group]]


def _overlap_share(iou_threshold, d) -> float:
    """The `share` for `_OverlapSweep` that no suppressing pair can fall below.

    If `IoU > t` then (exactly, for `d >= 0`) `I > t * union >= t * area_1 >= t * w_1 * h_1`
    and `I <= overlap_x * h_1`, hence `overlap_x > t * w_1`; the same holds for the other
    box and for y. The IoU as computed carries a relative rounding error far below 10 %, so
    `0.9 * t` is a safe share. For `d < 0` the areas can be smaller than the intersection
    and only `share = 0` (intersecting boxes) is safe.
    """
    if d < 0 or not iou_threshold > 0:
        return 0.0
    return 0.9 * min(float(iou_threshold), 1.0)


class _IrregularPairs:
    """Every pair of an irregular box with another box of its group, each pair once.

    `counts[i]` is the number of partners of `members[i]` (its group's size minus one);
    setting it to 0 leaves that box's pairs out.
    """

    def __init__(self, regular, group_start, group_size):
        self.regular = regular
        self.members = np.flatnonzero(~regular)
        self.starts = group_start[self.members]
        self.counts = group_size[self.members] - 1

    def pairs(self, begin: int, end: int):
        """Pairs of `members[begin:end]`."""
        first, second = _ranges_to_pairs(
            self.members[begin:end], self.starts[begin:end], self.counts[begin:end]
        )
        second = second + (second >= first)  # step over the box itself
        once = self.regular[second] | (second > first)
        return first[once], second[once]


def _chunk_bounds(counts: np.ndarray, max_pairs: int) -> list[tuple[int, int]]:
    """Consecutive slices of `counts` holding about `max_pairs` pairs each."""
    total = int(counts.sum())
    if total == 0:
        return []
    cuts = np.searchsorted(np.cumsum(counts), np.arange(max_pairs, total, max_pairs), "right")
    bounds = np.unique(np.r_[0, cuts, len(counts)])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True))


def _suppressing_pairs(sources, boxes, iou_threshold, border_pixels):
    """Scores the pairs of every source, chunk by chunk; returns those whose IoU is too high.

    A pair suppresses unless its IoU is `<=` the threshold (a NaN IoU suppresses, as in the
    classical loop). Returns `(higher, lower)` positions, `higher < lower`.
    """
    keepers, victims = [np.zeros(0, dtype=np.intp)], [np.zeros(0, dtype=np.intp)]
    for source in sources:
        for begin, end in _chunk_bounds(source.counts, _PAIRS_PER_CHUNK):
            first, second = source.pairs(begin, end)
            higher, lower = np.minimum(first, second), np.maximum(first, second)
            overlaps = iou(
                boxes[lower],
                boxes[higher],
                coords="corners",
                mode="element-wise",
                border_pixels=border_pixels,
            )
            suppressing = ~(overlaps <= iou_threshold)
            keepers.append(higher[suppressing])
            victims.append(lower[suppressing])
    return np.concatenate(keepers), np.concatenate(victims)


def _suppress_in_rank_order(n_boxes, keepers, victims, rank):
    """Applies the greedy rule given every (higher-ranked, lower-ranked) suppressing pair.

    `keepers[e]` removes `victims[e]` if it is itself kept. A box's fate depends only on the
    boxes ranked above it in its group, so the pairs are applied rank by rank for all groups at
    once: when rank `r` comes, the fate of every rank-`r` box is final. The loop runs once
    per distinct rank, at most the size of the largest group.
    """
    kept = np.ones(n_boxes, dtype=bool)
    if keepers.size == 0:
        return kept
    by_rank = np.argsort(rank[keepers], kind="stable")
    keepers, victims = keepers[by_rank], victims[by_rank]
    bounds = np.flatnonzero(np.diff(rank[keepers])) + 1
    for begin, end in zip(np.r_[0, bounds], np.r_[bounds, keepers.size], strict=True):
        active = kept[keepers[begin:end]]
        kept[victims[begin:end][active]] = False
    return kept


def _loop_nms(boxes, iou_threshold, border_pixels):
    """The classical greedy loop over boxes already in selection order; returns a kept mask.

    Used for groups so crowded that listing their overlapping pairs would cost more than
    touching only the survivors.
    """
    kept = np.zeros(len(boxes), dtype=bool)
    remaining = np.arange(len(boxes))
    while remaining.size:
        best, rest = remaining[0], remaining[1:]
        kept[best] = True
        overlaps = iou(
            boxes[rest],
            boxes[best],
            coords="corners",
            mode="element-wise",
            border_pixels=border_pixels,
        )
        remaining = rest[overlaps <= iou_threshold]
    return kept


# Pairs are listed and scored in chunks of about _PAIRS_PER_CHUNK. A group whose boxes have more
# than _LOOP_PAIRS_PER_BOX candidate partners each on average (and more than _LOOP_MIN_PAIRS in
# all) goes through the classical loop instead, which only touches the survivors.
_PAIRS_PER_CHUNK = 1 << 20
_LOOP_PAIRS_PER_BOX = 128
_LOOP_MIN_PAIRS = 1 << 18


def _grouped_greedy_nms(
    boxes: np.ndarray,
    scores: np.ndarray,
    groups: np.ndarray,
    iou_threshold: float,
    border_pixels: str = "half",
) -> np.ndarray:
    """Greedy NMS inside each group; returns the kept indices, by group, in selection order.

    Every pair of boxes of a group that may suppress one another is scored with `iou`: all
    pairs involving an irregular box (see `_regular_boxes`) and the pairs of regular
    boxes found by `_OverlapSweep` (with a non-negative threshold two regular boxes that
    do not intersect cannot suppress each other, and with a positive one they must overlap
    substantially, see `_overlap_share`). A negative or NaN threshold makes every box
    irregular. The greedy rule is then resolved by `_suppress_in_rank_order`; crowded
    groups use `_loop_nms` instead.

    Args:
        boxes: `(k, 4)` corners.
        scores: `(k,)` confidences.
        groups: `(k,)` non-negative int group ids (e.g. `image * classes + class`).
        iou_threshold: a box goes if its IoU with a kept box of its group is not `<=` this.
        border_pixels: `'half'`, `'include'` or `'exclude'`, passed to `iou`.

    Returns:
        int array of indices into `boxes`: groups ascending, inside a group the order in which
        the classical loop keeps them (descending score, ties by index).
    """
    d = border_pixel_offset(border_pixels)
    order = _selection_order(scores, groups)
    boxes, groups = boxes[order], groups[order]
    group_start = np.searchsorted(groups, groups, side="left")
    group_size = np.searchsorted(groups, groups, side="right") - group_start
    regular = _regular_boxes(boxes, d)
    if not iou_threshold >= 0:
        regular[:] = False
    sources = (
        _OverlapSweep(boxes, groups, np.flatnonzero(regular), _overlap_share(iou_threshold, d)),
        _IrregularPairs(regular, group_start, group_size),
    )
    crowded = _crowded_boxes(sources, groups, group_size)
    for source in sources:
        source.counts[crowded[source.members]] = 0
    keepers, victims = _suppressing_pairs(sources, boxes, iou_threshold, border_pixels)
    kept = _suppress_in_rank_order(
        len(order), keepers, victims, np.arange(len(order)) - group_start
    )
    for start in np.unique(group_start[crowded]).tolist():
        stop = start + int(group_size[start])
        kept[start:stop] = _loop_nms(boxes[start:stop], iou_threshold, border_pixels)
    return order[kept]


def _crowded_boxes(sources, groups, group_size):
    """Boxes of groups with too many candidate pairs for listing them (see the bounds above)."""
    if groups.size == 0:
        return np.zeros(0, dtype=bool)
    pairs_per_group = np.bincount(
        np.concatenate([groups[source.members] for source in sources]),
        weights=np.concatenate([source.counts for source in sources]),
        minlength=int(groups.max()) + 1,
    )[groups]
    return (pairs_per_group > _LOOP_PAIRS_PER_BOX * group_size) & (
        pairs_per_group > _LOOP_MIN_PAIRS
    )


# ----------------------------------------------------------------------------------------------
# Public NMS functions


def _corner_boxes(boxes: np.ndarray, coords: str) -> np.ndarray:
    """`(k, 4)` boxes in `coords` format as corners (how `iou` would see them)."""
    if coords == "corners":
        return boxes
    if coords == "minmax":
        return boxes[:, [0, 2, 1, 3]]
    if coords == "centroids":
        return convert_coordinates(boxes, start_index=0, conversion="centroids2corners")
    raise ValueError(
        f"`coords` must be one of ['centroids', 'corners', 'minmax'], but got {coords!r}."
    )


def _check_nms_rows(rows, score_column: int, name: str) -> np.ndarray:
    rows = np.asarray(rows)
    width = score_column + 5
    if rows.size == 0:
        return rows.reshape(0, width)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(
            f"{name} must be an array of shape (k, {width}) (score in column {score_column}, "
            f"box in columns {score_column + 1}-{score_column + 4}), but got shape {rows.shape}."
        )
    return rows


def _nms_rows(rows, score_column, iou_threshold, coords, border_pixels, name):
    """Greedy NMS of one array of rows `[..., score, 4 box coordinates]`."""
    rows = _check_nms_rows(rows, score_column, name)
    boxes = _corner_boxes(rows[:, score_column + 1 :], coords)
    kept = _grouped_greedy_nms(
        boxes, rows[:, score_column], np.zeros(len(rows), int), iou_threshold, border_pixels
    )
    return rows[kept]


def greedy_nms(
    y_pred_decoded: Sequence[np.ndarray],
    iou_threshold: float = 0.45,
    coords: str = "corners",
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """Class-agnostic greedy non-maximum suppression of already decoded detections.

    For each image: keep the box with the highest confidence, drop every remaining box whose IoU
    with it is greater than `iou_threshold` (a box exactly at the threshold stays), repeat with
    what is left. Ties in confidence go to the earlier row. All images are processed together.

    Args:
        y_pred_decoded: one `(k, 6)` array per image, rows
            `[class_id, confidence, 4 box coordinates]`.
        iou_threshold: the IoU above which the lower-scoring box is removed.
        coords: format of the box columns: `'corners'` (xmin, ymin, xmax, ymax),
            `'centroids'` (cx, cy, w, h) or `'minmax'` (xmin, xmax, ymin, ymax).
        border_pixels: `'half'`, `'include'` or `'exclude'`, for the IoU's box areas.

    Returns:
        One array per image with the kept rows, unchanged, in the order they were kept
        (descending confidence). An image without rows gives a `(0, 6)` array.

    Raises:
        ValueError: for an item that is not `(k, 6)`, or an unknown `coords` or
            `border_pixels`.
    """
    items = [
        _check_nms_rows(rows, 1, f"`y_pred_decoded[{index}]`")
        for index, rows in enumerate(y_pred_decoded)
    ]
    if not items:
        return []
    rows = np.concatenate(items, axis=0)
    counts = [len(item) for item in items]
    groups = np.repeat(np.arange(len(items)), counts)
    kept = _grouped_greedy_nms(
        _corner_boxes(rows[:, BOX], coords),
        rows[:, CONFIDENCE],
        groups,
        iou_threshold,
        border_pixels,
    )
    kept_per_item = np.bincount(groups[kept], minlength=len(items))
    return np.split(rows[kept], np.cumsum(kept_per_item)[:-1])


def _greedy_nms(
    predictions: np.ndarray,
    iou_threshold: float = 0.45,
    coords: str = "corners",
    border_pixels: str = "half",
) -> np.ndarray:
    """Greedy NMS of one `(k, 5)` array of rows `[confidence, 4 box coordinates]`.

    Same rule as `greedy_nms`; returns the kept rows in the order they were kept.
    """
    return _nms_rows(predictions, 0, iou_threshold, coords, border_pixels, "`predictions`")


def _greedy_nms2(
    predictions: np.ndarray,
    iou_threshold: float = 0.45,
    coords: str = "corners",
    border_pixels: str = "half",
) -> np.ndarray:
    """Greedy NMS of one `(k, 6)` array of rows `[class_id, confidence, 4 box coordinates]`.

    Same rule as `greedy_nms`; returns the kept rows in the order they were kept.
    """
    return _nms_rows(predictions, 1, iou_threshold, coords, border_pixels, "`predictions`")


def _greedy_nms_debug(
    predictions: np.ndarray,
    iou_threshold: float = 0.45,
    coords: str = "corners",
    border_pixels: str = "half",
) -> np.ndarray:
    """Greedy NMS of one `(k, 6)` array of rows `[box_index, confidence, 4 box coordinates]`.

    Same rule as `greedy_nms`; returns the kept rows in the order they were kept.
    """
    return _nms_rows(predictions, 1, iou_threshold, coords, border_pixels, "`predictions`")


# ----------------------------------------------------------------------------------------------
# Decoders


def _keep_top_k(rows: np.ndarray, top_k, score_column: int) -> np.ndarray:
    """The `top_k` highest-scoring rows, in their current order.

    The rows are chosen with `np.argpartition` on the same array as the original library, so
    when several rows tie at the cut the same ones are kept.
    """
    if top_k == "all" or len(rows) <= top_k:
        return rows
    cut = len(rows) - top_k
    if top_k == 0:
        return rows[:0]
    chosen = np.argpartition(rows[:, score_column], kth=cut)[cut:]
    return rows[np.sort(chosen)]


def _split_by_image(rows: np.ndarray, images: np.ndarray, n_images: int, top_k, score_column):
    counts = np.bincount(images, minlength=n_images)
    per_image = np.split(rows, np.cumsum(counts)[:-1]) if n_images else []
    return [_keep_top_k(item, top_k, score_column) for item in per_image]


def _check_finite(y_pred: np.ndarray, function: str) -> None:
    """Refuses a `y_pred` holding NaN or infinite values, naming the first one
    (`docs/differences.md#decoder-non-finite-input`)."""
    if not np.issubdtype(y_pred.dtype, np.inexact):
        return
    finite = np.isfinite(y_pred)
    if finite.all():
        return
    bad = np.argwhere(~finite)
    image, box, column = (int(value) for value in bad[0])
    raise ValueError(
        f"{function}: `y_pred` holds NaN or infinite values at image {image} (first at box "
        f"{box}, column {column}; {len(bad)} in the batch); a model or encoder output "
        "must be finite everywhere."
    )


def _prepare(
    function,
    y_pred,
    top_k,
    border_pixels,
    input_coords,
    normalize_coords,
    img_height,
    img_width,
    min_classes=1,
    variance_encoded_in_target=False,
):
    """Checks the decoders' arguments.

    Returns `y_pred` as an array, a function decoding selected `(k, C + 12)` rows of it into
    `(k, 4)` corners, and the dtype the scores are compared in (see `decoded_dtype`).
    """
    y_pred = _check_y_pred(y_pred, function, min_classes)
    _check_top_k(top_k)
    border_pixel_offset(border_pixels)
    _check_decoding_args(input_coords, normalize_coords, img_height, img_width)
    _check_finite(y_pred, function)
    decode = functools.partial(
        decode_boxes,
        input_coords=input_coords,
        normalize_coords=normalize_coords,
        img_height=img_height,
        img_width=img_width,
        variance_encoded_in_target=variance_encoded_in_target,
    )
    return y_pred, decode, decoded_dtype(y_pred.dtype, input_coords)


# The first pass of `_nms_for_top_k` looks at an image's best `_PREFIX_PER_ROW * top_k`
# candidates (at least `_MIN_PREFIX`); an image that needs more looks at `_PREFIX_GROWTH`
# times as many in the next pass.
_PREFIX_PER_ROW = 2
_MIN_PREFIX = 64
_PREFIX_GROWTH = 4


def _best_candidates(scores: np.ndarray, start: int, count: int, reach: int) -> np.ndarray:
    """Positions of the candidates `start:start + count` scoring at least the `reach`-th best.

    All of them if `reach >= count`. Ties with the `reach`-th best score all come along, so
    every candidate left out scores lower than every candidate returned.
    """
    if reach >= count:
        return np.arange(start, start + count)
    segment = scores[start : start + count]
    cut = count - reach
    return start + np.flatnonzero(segment >= np.partition(segment, cut)[cut])


def _top_k_scores(kept: np.ndarray, images: np.ndarray, scores: np.ndarray, n_images, top_k):
    """Per image: the `top_k`-th and `(top_k + 1)`-th best scores of `kept` (NaN if none)."""
    by_score = np.lexsort((-scores[kept].astype(np.float64), images[kept]))
    ranked_images = images[kept][by_score]
    rank = np.arange(len(by_score)) - np.searchsorted(ranked_images, ranked_images, side="left")
    result = []
    for wanted in (top_k - 1, top_k):
        value = np.full(n_images, np.nan)
        at = rank == wanted
        value[ranked_images[at]] = scores[kept[by_score[at]]]
        result.append(value)
    return result


def _nms_for_top_k(
    images: np.ndarray,
    groups: np.ndarray,
    scores: np.ndarray,
    boxes_of,
    n_images: int,
    top_k,
    iou_threshold: float,
    border_pixels: str,
) -> np.ndarray:
    """Greedy NMS inside every group, carried only as far as each image's `top_k` cut needs.

    A box's fate in greedy NMS depends only on the boxes ranked above it in its group, so NMS
    run on an image's best candidates (all those scoring at least some value `w`) keeps
    exactly the survivors of full NMS that score `w` or more. If at least `top_k` of them
    survive and the `top_k`-th best survivor scores higher than the next one, these
    `top_k` rows are the ones the cut keeps, whatever lies below `w`. If fewer survive, the
    image is tried again with more candidates. If the two scores tie, which of the tied rows
    the cut keeps (`np.argpartition`, like the original) depends on every survivor, so the
    image is redone with all its candidates, as is an image with `top_k` candidates or
    fewer from the start.

    Args:
        images: `(k,)` int image of each candidate, ascending.
        groups: `(k,)` int NMS group of each candidate (e.g. `image * #classes + class`);
            the candidates of a group belong to one image.
        scores: `(k,)` confidences.
        boxes_of: maps an int array of candidate positions to their `(len, 4)` corners.
        n_images: batch size.
        top_k: rows kept per image, or `'all'`.
        iou_threshold: as for `_grouped_greedy_nms`.
        border_pixels: as for `_grouped_greedy_nms`.

    Returns:
        Positions of the kept candidates: groups ascending, inside a group in the order NMS
        keeps them. An image gets either all its NMS survivors, to be cut by
        `_keep_top_k`, or exactly the `top_k` rows that cut would keep.
    """
    counts = np.bincount(images, minlength=n_images)
    starts = np.cumsum(counts) - counts
    if top_k == "all":
        reach = counts.copy()
    else:
        first_reach = max(_PREFIX_PER_ROW * int(top_k), _MIN_PREFIX)
        reach = np.where(counts > top_k, np.minimum(counts, first_reach), counts)
    pending = np.flatnonzero(counts) if top_k != 0 else np.zeros(0, dtype=np.intp)
    finished = [np.zeros(0, dtype=np.intp)]
    while pending.size:
        members = np.concatenate(
            [_best_candidates(scores, starts[i], counts[i], reach[i]) for i in pending.tolist()]
        )
        kept = members[
            _grouped_greedy_nms(
                boxes_of(members), scores[members], groups[members], iou_threshold, border_pixels
            )
        ]
        # Ties with the prefix's lowest score can bring in every candidate of an image.
        complete = np.bincount(images[members], minlength=n_images) == counts
        if top_k == "all":
            finished.append(kept)
            break
        n_kept = np.bincount(images[kept], minlength=n_images)
        last, after = _top_k_scores(kept, images, scores, n_images, top_k)
        enough = n_kept >= top_k
        clear = enough & ~(after == last)  # a NaN `after`: exactly top_k survivors
        done = complete | clear
        kept_images = images[kept]
        final = complete[kept_images] | (scores[kept] >= last[kept_images])
        finished.append(kept[done[kept_images] & final])
        pending = pending[~done[pending]]
        grown = np.minimum(counts, reach * _PREFIX_GROWTH)
        reach[pending] = np.where(enough[pending], counts[pending], grown[pending])
    kept = np.concatenate(finished)
    return kept[np.argsort(images[kept], kind="stable")]


def _per_class_detections(
    y_pred, decode, compare_dtype, confidence_thresh, iou_threshold, border_pixels, top_k
):
    """Thresholds (`>`) and suppresses every (image, class) group of the batch at once.

    Only the boxes NMS looks at are decoded (by `decode`, see `_prepare`), and NMS only
    goes as far as the `top_k` cut needs (see `_nms_for_top_k`). Returns
    `(image, box_index, class_id, confidence, box)` of the kept detections, ordered by image,
    then class, then the order NMS kept them (descending confidence); per image either all NMS
    survivors or exactly the `top_k` rows the cut keeps.
    """
    n_images, n_boxes, n_columns = y_pred.shape
    n_classes = n_columns - N_BOX_COLUMNS
    scores = y_pred[..., OBJECT_CLASS_SCORES]
    above = scores > compare_dtype.type(confidence_thresh)
    # (image, box, class) order: a group's candidates come in box order.
    positions, classes = np.divmod(np.flatnonzero(above), n_classes - 1)
    # A gather from the flat array is several times faster than boolean indexing of `scores`.
    first_object_column = OBJECT_CLASS_SCORES.start
    confidences = y_pred.reshape(-1)[positions * n_columns + classes + first_object_column]
    images, anchors = np.divmod(positions, n_boxes)

    def boxes_of(selected):
        return decode(y_pred[images[selected], anchors[selected], BOX_COLUMNS])

    groups = images * (n_classes - 1) + classes
    kept = _nms_for_top_k(
        images, groups, confidences, boxes_of, n_images, top_k, iou_threshold, border_pixels
    )
    class_ids = classes[kept] + first_object_column
    return images[kept], anchors[kept], class_ids, confidences[kept], boxes_of(kept)


def _stack_rows(columns, boxes) -> np.ndarray:
    rows = np.empty((len(boxes), len(columns) + 4))
    for position, column in enumerate(columns):
        rows[:, position] = column
    rows[:, len(columns) :] = boxes
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
    """Decodes raw SSD output into detections, class by class (the original Caffe SSD procedure).

    For every image and every positive class: keep the boxes whose score for that class is
    strictly greater than `confidence_thresh`, run greedy NMS on them (IoU with
    `border_pixels`; a box is dropped if its IoU with a kept box is greater than
    `iou_threshold`); then keep the `top_k` highest-confidence detections of the image over
    all classes.

    Row order: by class id ascending, inside a class by descending confidence (the order NMS
    keeps them). This is exactly the original's order whenever no more than `top_k` detections
    are left. When there are more, the same rows as the original are kept (the choice is made by
    `np.argpartition` on the same array, so ties at the cut are resolved identically), but
    they stay in the order above instead of the original's arbitrary partition order
    (`docs/differences.md#decoder-empty-and-row-order`).

    Args:
        y_pred: `(batch_size, #boxes, #classes + 12)` raw output: class scores (background in
            column 0), 4 offsets, 4 anchor coordinates, 4 variances.
        confidence_thresh: minimum score (exclusive) for a box to be considered for a class.
        iou_threshold: IoU above which NMS removes the lower-scoring box of a class.
        top_k: number of detections kept per image, or `'all'`.
        input_coords: format of the anchors: `'centroids'`, `'minmax'` or `'corners'`.
        normalize_coords: whether the anchors are relative and must be scaled to pixels.
        img_height: image height in pixels (needed if `normalize_coords`).
        img_width: image width in pixels (needed if `normalize_coords`).
        border_pixels: `'half'`, `'include'` or `'exclude'`, for the IoU's box areas.

    Returns:
        A list of `batch_size` float64 arrays of shape `(k, 6)`, rows
        `[class_id, confidence, xmin, ymin, xmax, ymax]` (corners, pixels if
        `normalize_coords`). An image without detections gives a `(0, 6)` array.

    Raises:
        ValueError: for a `y_pred` that is not `(batch, #boxes, #classes + 12)` or holds NaN
            or infinite values, an unknown `input_coords` or `border_pixels`, a bad
            `top_k`, or `normalize_coords` without the image size.
    """
    y_pred, decode, compare_dtype = _prepare(
        "decode_detections",
        y_pred,
        top_k,
        border_pixels,
        input_coords,
        normalize_coords,
        img_height,
        img_width,
    )
    images, _, classes, confidences, boxes = _per_class_detections(
        y_pred, decode, compare_dtype, confidence_thresh, iou_threshold, border_pixels, top_k
    )
    rows = _stack_rows([classes, confidences], boxes)
    return _split_by_image(rows, images, len(y_pred), top_k, CONFIDENCE)


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
    """Decodes raw SSD output with one class per box and class-agnostic NMS.

    Every box gets the class of its highest score (background included) and that score as its
    confidence. Boxes whose class is the background are dropped, then those whose confidence is
    below `confidence_thresh` (a confidence equal to it is kept,
    `docs/differences.md#decoder-thresholds`). If `iou_threshold` is set,
    greedy NMS runs over the remaining boxes of each image regardless of their class. Finally
    the `top_k` highest-confidence boxes are kept. This is faster than
    `decode_detections` but not equivalent to it.

    Row order: by descending confidence (the order NMS keeps them; ties by anchor index), or by
    anchor index if NMS is off. This is the original's order as long as no `top_k` cut is
    made; a cut keeps the same rows as the original (`np.argpartition` on the same array)
    and leaves them in this order.

    Args:
        y_pred: `(batch_size, #boxes, #classes + 12)` raw output with at least two classes
            (background and one object class).
        confidence_thresh: minimum confidence (inclusive).
        iou_threshold: IoU above which NMS removes the lower-scoring box; `None` or 0
            disables NMS.
        top_k: number of detections kept per image, or `'all'`.
        input_coords: format of the anchors: `'centroids'`, `'minmax'` or `'corners'`.
        normalize_coords: whether the anchors are relative and must be scaled to pixels.
        img_height: image height in pixels (needed if `normalize_coords`).
        img_width: image width in pixels (needed if `normalize_coords`).
        border_pixels: `'half'`, `'include'` or `'exclude'`, for the IoU's box areas.

    Returns:
        A list of `batch_size` float64 arrays of shape `(k, 6)`, rows
        `[class_id, confidence, xmin, ymin, xmax, ymax]` (corners, pixels if
        `normalize_coords`). An image without detections gives a `(0, 6)` array.

    Raises:
        ValueError: for a `y_pred` that is not `(batch, #boxes, #classes + 12)` with
            `#classes >= 2` or holds NaN or infinite values, an unknown `input_coords` or
            `border_pixels`, a bad `top_k`, or `normalize_coords` without the image size.
    """
    y_pred, decode, compare_dtype = _prepare(
        "decode_detections_fast",
        y_pred,
        top_k,
        border_pixels,
        input_coords,
        normalize_coords,
        img_height,
        img_width,
        min_classes=2,
    )
    background = y_pred[..., BACKGROUND_ID]
    object_scores = y_pred[..., OBJECT_CLASS_SCORES]
    # The argmax class is an object class exactly when the best object score beats the
    # background score (a tie goes to the background, the first index); NaNs never pass.
    confidences = np.max(object_scores, axis=-1)
    positive = (confidences > background) & (
        confidences.astype(compare_dtype) >= compare_dtype.type(confidence_thresh)
    )
    images, anchors = np.nonzero(positive)
    class_ids = np.argmax(object_scores[images, anchors], axis=-1) + 1
    confidences = confidences[images, anchors].astype(compare_dtype)

    def boxes_of(selected):
        return decode(y_pred[images[selected], anchors[selected], BOX_COLUMNS])

    if iou_threshold:
        kept = _nms_for_top_k(
            images, images, confidences, boxes_of, len(y_pred), top_k, iou_threshold, border_pixels
        )
    else:
        kept = np.arange(len(images))
    rows = _stack_rows([class_ids[kept], confidences[kept]], boxes_of(kept))
    return _split_by_image(rows, images[kept], len(y_pred), top_k, CONFIDENCE)


def decode_detections_debug(
    y_pred: np.ndarray,
    confidence_thresh: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int | str = 200,
    input_coords: str = "centroids",
    normalize_coords: bool = True,
    img_height: float | None = None,
    img_width: float | None = None,
    variance_encoded_in_target: bool = False,
    border_pixels: str = "half",
) -> list[np.ndarray]:
    """`decode_detections` that also reports which anchor box made each detection.

    Same procedure and row order as `decode_detections`, with the anchor's index along
    `y_pred`'s box axis prepended to each row; `get_pred_layers` maps it to the predictor
    layer. `top_k='all'` is accepted as well.

    Args:
        y_pred: `(batch_size, #boxes, #classes + 12)` raw output.
        confidence_thresh: minimum score (exclusive) for a box to be considered for a class.
        iou_threshold: IoU above which NMS removes the lower-scoring box of a class.
        top_k: number of detections kept per image, or `'all'`.
        input_coords: format of the anchors: `'centroids'`, `'minmax'` or `'corners'`.
        normalize_coords: whether the anchors are relative and must be scaled to pixels.
        img_height: image height in pixels (needed if `normalize_coords`).
        img_width: image width in pixels (needed if `normalize_coords`).
        variance_encoded_in_target: centroids only: the offsets already include the variances,
            which are then not applied.
        border_pixels: `'half'`, `'include'` or `'exclude'`, for the IoU's box areas.

    Returns:
        A list of `batch_size` float64 arrays of shape `(k, 7)`, rows
        `[box_index, class_id, confidence, xmin, ymin, xmax, ymax]`. An image without
        detections gives a `(0, 7)` array.

    Raises:
        ValueError: as `decode_detections`.
    """
    y_pred, decode, compare_dtype = _prepare(
        "decode_detections_debug",
        y_pred,
        top_k,
        border_pixels,
        input_coords,
        normalize_coords,
        img_height,
        img_width,
        variance_encoded_in_target=variance_encoded_in_target,
    )
    images, anchors, classes, confidences, boxes = _per_class_detections(
        y_pred, decode, compare_dtype, confidence_thresh, iou_threshold, border_pixels, top_k
    )
    rows = _stack_rows([anchors, classes, confidences], boxes)
    return _split_by_image(rows, images, len(y_pred), top_k, CONFIDENCE + 1)


# ----------------------------------------------------------------------------------------------
# Debugging helpers


def get_num_boxes_per_pred_layer(
    predictor_sizes: Sequence[Sequence[int]],
    aspect_ratios: Sequence[Sequence[float]],
    two_boxes_for_ar1: bool,
) -> list[int]:
    """Number of boxes each predictor layer contributes to `y_pred`.

    `height * width * n` per layer, with `n = len(aspect_ratios[i]) + 1` if
    `two_boxes_for_ar1` else `len(aspect_ratios[i])` (like the original, the extra box is
    counted whether or not the layer has aspect ratio 1,
    `docs/differences.md#debug-boxes-per-layer`).

    Args:
        predictor_sizes: `(height, width)` of each predictor layer's feature map.
        aspect_ratios: one list of aspect ratios per predictor layer.
        two_boxes_for_ar1: whether each layer has a second aspect-ratio-1 box.

    Returns:
        One int per predictor layer.
    """
    extra = 1 if two_boxes_for_ar1 else 0
    return [
        int(size[0]) * int(size[1]) * (len(ratios) + extra)
        for size, ratios in zip(predictor_sizes, aspect_ratios, strict=False)
    ]


def get_pred_layers(
    y_pred_decoded: Sequence[np.ndarray], num_boxes_per_pred_layer: Sequence[int]
) -> list[list[int]]:
    """Predictor layer of each detection decoded by `decode_detections_debug`.

    Args:
        y_pred_decoded: one `(k, 7)` array per image whose column 0 is the box index.
        num_boxes_per_pred_layer: boxes per predictor layer, in `y_pred` order (see
            `get_num_boxes_per_pred_layer`).

    Returns:
        One list per image with the 0-based predictor layer index of each row.

    Raises:
        ValueError: if a box index is negative or not below the total number of boxes.
    """
    layer_ends = np.cumsum(num_boxes_per_pred_layer)
    total = int(layer_ends[-1]) if len(layer_ends) else 0
    layers = []
    for item_index, rows in enumerate(y_pred_decoded):
        rows = np.asarray(rows)
        box_indices = rows[:, 0] if rows.size else np.empty(0)
        outside = (box_indices < 0) | (box_indices >= total)
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise ValueError(
                f"Box index {float(box_indices[row]):g} in row {row} of item {item_index} is "
                f"outside [0, {total}), the range given by `num_boxes_per_pred_layer`."
            )
        layers.append(np.searchsorted(layer_ends, box_indices, side="right").tolist())
    return layers
