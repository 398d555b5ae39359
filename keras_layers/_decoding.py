"""Shared in-graph decoding core of ``DecodeDetections`` and ``DecodeDetectionsFast``.

Both decoding layers run the same pipeline on the raw model output of shape
``(batch, n_boxes, n_classes + 12)``:

1. turn the encoded offsets back into absolute ``corners`` boxes (:func:`decode_centroid_offsets`);
2. choose the candidates of each *group* (a group is one class for ``DecodeDetections`` and the
   whole image for ``DecodeDetectionsFast``) - this is the only step the two layers do differently;
3. run greedy non-maximum suppression inside every group (:func:`greedy_nms`);
4. keep the ``top_k`` most confident detections of every image, sorted by confidence and
   zero-padded (:func:`select_top_k`).

Everything is written with ``keras.ops`` and static shapes, so the layers run on every Keras
backend and compile with XLA. The non-maximum suppression reproduces the selection of
``tf.image.non_max_suppression``: candidates in descending score order (the lower box index first on
equal scores), a candidate is dropped when its IoU with an already selected box is greater than the
threshold, IoU without a ``+1`` pixel term, IoU 0 when a box has no area, at most
``max_output_size`` selected boxes per group.
"""

from __future__ import annotations

from numbers import Integral, Real

import keras
import numpy as np
from keras import ops

# Column layout of the last axis of the raw model output (counted from the end).
OFFSETS = slice(-12, -8)
ANCHORS = slice(-8, -4)
VARIANCES = slice(-4, None)
N_BOX_COLUMNS = 12

# Decoded detection rows are `[class_id, confidence, xmin, ymin, xmax, ymax]`.
CONFIDENCE = 1
ROW_WIDTH = 6

# Candidates are processed by greedy NMS in blocks of this many boxes (fewer if a group has fewer
# boxes). Larger blocks mean fewer loop iterations but larger pairwise IoU matrices.
NMS_BLOCK_SIZE = 64

# Number of best candidates per group that are sorted and scanned before falling back to all boxes
# (a multiple of NMS_BLOCK_SIZE, so the fallback can resume with the next block).
PRESELECTED_CANDIDATES = 4 * NMS_BLOCK_SIZE


# ----------------------------------------------------------------------------------------------
# Box decoding


def decode_centroid_offsets(
    y_pred, normalize_coords: bool, img_height: float | None, img_width: float | None
):
    """Decodes the centroid offsets of the raw model output into corner boxes.

    cx = t_cx * v_cx * w_a + cx_a, cy = t_cy * v_cy * h_a + cy_a, w = exp(t_w * v_w) * w_a,
    h = exp(t_h * v_h) * h_a, then converted to corners and, if ``normalize_coords``, scaled from
    relative to absolute pixel coordinates.

    Args:
        y_pred: Tensor `(batch, n_boxes, n_classes + 12)`; the last 12 columns hold the encoded
            offsets, the anchors in `centroids` format and the variances.
        normalize_coords: Whether anchors and offsets are relative to the image size.
        img_height: Image height in pixels, used if `normalize_coords`.
        img_width: Image width in pixels, used if `normalize_coords`.

    Returns:
        Tensor `(batch, n_boxes, 4)` of `corners` boxes `(xmin, ymin, xmax, ymax)`, in pixels if
        `normalize_coords`, otherwise in the units of the anchors.
    """
    offsets = y_pred[..., OFFSETS]
    anchors = y_pred[..., ANCHORS]
    variances = y_pred[..., VARIANCES]
    anchor_center, anchor_size = anchors[..., 0:2], anchors[..., 2:4]
    center = offsets[..., 0:2] * variances[..., 0:2] * anchor_size + anchor_center
    size = ops.exp(offsets[..., 2:4] * variances[..., 2:4]) * anchor_size
    corners = ops.concatenate([center - 0.5 * size, center + 0.5 * size], axis=-1)
    if normalize_coords:
        scale = ops.convert_to_tensor(
            [img_width, img_height, img_width, img_height], dtype=corners.dtype
        )
        corners = corners * scale
    return corners


# ----------------------------------------------------------------------------------------------
# Greedy non-maximum suppression


def nms_box_table(boxes):
    """Prepares boxes for overlap tests: coordinates ordered as TF's NMS orders them, plus area.

    Args:
        boxes: Tensor `(..., 4)` of `corners` boxes.

    Returns:
        Tensor `(..., 5)`: `(xmin, ymin, xmax, ymax, area)` with `xmin <= xmax`, `ymin <= ymax`.
    """
    low = ops.minimum(boxes[..., 0:2], boxes[..., 2:4])
    high = ops.maximum(boxes[..., 0:2], boxes[..., 2:4])
    area = (high[..., 1] - low[..., 1]) * (high[..., 0] - low[..., 0])
    return ops.concatenate([low, high, area[..., None]], axis=-1)


def overlap_exceeds(table1, table2, iou_threshold: float):
    """Whether the IoU of every box of ``table1`` with every box of ``table2`` exceeds a threshold.

    IoU = intersection / (area1 + area2 - intersection), without a `+1` pixel term. A box without
    area overlaps nothing (its IoU is 0 or undefined, and neither exceeds a threshold >= 0).

    Args:
        table1: Tensor `(..., m, 5)` from :func:`nms_box_table`.
        table2: Tensor `(..., n, 5)` from :func:`nms_box_table`.
        iou_threshold: Threshold in [0, 1].

    Returns:
        Bool tensor `(..., m, n)`.
    """
    a = table1[..., :, None, :]
    b = table2[..., None, :, :]
    overlap_x = ops.maximum(
        ops.minimum(a[..., 2], b[..., 2]) - ops.maximum(a[..., 0], b[..., 0]), 0.0
    )
    overlap_y = ops.maximum(
        ops.minimum(a[..., 3], b[..., 3]) - ops.maximum(a[..., 1], b[..., 1]), 0.0
    )
    intersection = overlap_y * overlap_x
    return intersection / (a[..., 4] + b[..., 4] - intersection) > iou_threshold


def gather_per_group(values, indices):
    """Gathers per-image rows for every group without broadcasting ``values`` over the groups.

    Args:
        values: Tensor `(batch, n, d)`.
        indices: Integer tensor `(batch, groups, length)` of positions into `n`.

    Returns:
        Tensor `(batch, groups, length, d)`.
    """
    n = ops.shape(values)[1]
    batch = ops.shape(values)[0]
    flat_values = ops.reshape(values, (-1, ops.shape(values)[2]))
    image_start = ops.reshape(ops.arange(batch, dtype="int32") * n, (-1, 1, 1))
    return ops.take(flat_values, indices + image_start, axis=0)


def _resolve_block(candidates, overlaps):
    """Greedy NMS inside one block of score-sorted candidates.

    Iterates ``keep_j = candidate_j and not any_i<j(keep_i and overlap_ij)`` to its fixed point,
    which is exactly the greedy selection (the status of box ``t`` is final after ``t + 1``
    rounds, and the fixed point is unique because the dependencies only point backwards).

    Args:
        candidates: Bool tensor `(batch, groups, block)`, boxes still eligible.
        overlaps: Float tensor `(batch, groups, block, block)`, 1.0 where box `i` comes before
            box `j` in score order and their IoU exceeds the threshold.

    Returns:
        Bool tensor `(batch, groups, block)` of the boxes greedy NMS keeps.
    """

    def suppress(keep):
        hits = ops.einsum("bgij,bgi->bgj", overlaps, ops.cast(keep, overlaps.dtype))
        return ops.logical_and(candidates, hits <= 0.0)

    def changed(keep, previous):
        return ops.any(ops.not_equal(keep, previous))

    def step(keep, _previous):
        return suppress(keep), keep

    first = suppress(candidates)
    keep, _ = ops.while_loop(changed, step, (first, candidates))
    return keep


def _append_kept(kept_index, n_kept, block_index, block_keep, max_output_size: int):
    """Appends the kept boxes of a block behind the ones already kept, in order, up to the cap."""
    slots = ops.arange(max_output_size, dtype="int32")
    slot_used = slots < n_kept[..., None]
    merged_index = ops.concatenate([kept_index, block_index], axis=-1)
    merged_used = ops.concatenate([slot_used, block_keep], axis=-1)
    # The first `max_output_size` used entries, in their current order.
    position = ops.arange(ops.shape(merged_used)[-1], dtype="int32")
    priority = ops.where(merged_used, -position, -(2**30))
    _, take = ops.top_k(priority, k=max_output_size)
    new_index = ops.take_along_axis(merged_index, take, axis=-1)
    added = ops.sum(ops.cast(block_keep, "int32"), axis=-1)
    return new_index, ops.minimum(n_kept + added, max_output_size)


def _empty_selection(batch, n_groups: int, capacity: int):
    """`(kept_index, n_kept)` of a scan that has not kept anything yet."""
    return (
        ops.zeros((batch, n_groups, capacity), dtype="int32"),
        ops.zeros((batch, n_groups), dtype="int32"),
    )


def _scan_sorted_candidates(
    table, order, sorted_valid, iou_threshold: float, max_output_size: int, start, selection
):
    """Greedy NMS over candidates that are already in descending score order.

    Args:
        table: Tensor `(batch, n_boxes, 5)` from :func:`nms_box_table`.
        order: Int32 tensor `(batch, groups, length)`, box positions in descending score order;
            `length` is a multiple of :data:`NMS_BLOCK_SIZE` or smaller than it.
        sorted_valid: Bool tensor `(batch, groups, length)`, false for the non-candidates, which
            all come after the candidates.
        iou_threshold: A candidate is suppressed if its IoU with a kept box is greater than this.
        max_output_size: Maximum number of boxes kept per group.
        start: Index of the first block to scan; the blocks before it were scanned already.
        selection: `(kept_index, n_kept)` after the blocks before `start`: int32 tensors
            `(batch, groups, capacity)` and `(batch, groups)`, with
            `capacity <= max_output_size` the most boxes this scan can keep.

    Returns:
        `(kept_index, n_kept)` of the same shapes; the first `n_kept` slots hold the kept boxes
        in order.
    """
    batch, n_groups, length = ops.shape(order)[0], order.shape[1], order.shape[2]
    block = min(NMS_BLOCK_SIZE, length)
    n_blocks = length // block
    capacity = selection[0].shape[-1]
    order_blocks = ops.reshape(order, (batch, n_groups, n_blocks, block))
    valid_blocks = ops.reshape(sorted_valid, (batch, n_groups, n_blocks, block))
    earlier = ops.convert_to_tensor(np.triu(np.ones((block, block), dtype=bool), k=1))
    slots = ops.arange(capacity, dtype="int32")

    def has_work(b, kept_index, n_kept):
        first_valid = ops.take(valid_blocks, ops.minimum(b, n_blocks - 1), axis=2)[..., 0]
        open_groups = ops.logical_and(n_kept < max_output_size, first_valid)
        return ops.logical_and(b < n_blocks, ops.any(open_groups))

    def process_block(b, kept_index, n_kept):
        block_index = ops.take(order_blocks, b, axis=2)
        block_boxes = gather_per_group(table, block_index)
        # Unused slots become empty boxes, which overlap nothing.
        slot_used = (slots < n_kept[..., None])[..., None]
        kept_boxes = ops.where(slot_used, gather_per_group(table, kept_index), 0.0)
        hit_kept = ops.any(overlap_exceeds(block_boxes, kept_boxes, iou_threshold), axis=-1)
        candidates = ops.logical_and(ops.take(valid_blocks, b, axis=2), ops.logical_not(hit_kept))
        overlaps = ops.logical_and(
            overlap_exceeds(block_boxes, block_boxes, iou_threshold), earlier
        )
        block_keep = _resolve_block(candidates, ops.cast(overlaps, "float32"))
        kept_index, n_kept = _append_kept(kept_index, n_kept, block_index, block_keep, capacity)
        return b + 1, kept_index, n_kept

    first = ops.convert_to_tensor(start, dtype="int32")
    _, kept_index, n_kept = ops.while_loop(has_work, process_block, (first, *selection))
    return kept_index, n_kept


def _top_candidates(masked_scores, k: int):
    """The `k` best candidates of every group in descending score order, padded to whole blocks.

    Returns:
        `(order, sorted_valid)` as expected by :func:`_scan_sorted_candidates`.
    """
    sorted_scores, order = ops.top_k(masked_scores, k=k)
    order = ops.cast(order, "int32")
    padding = -k % min(NMS_BLOCK_SIZE, k)
    if padding:
        pad = [[0, 0], [0, 0], [0, padding]]
        order = ops.pad(order, pad)
        sorted_scores = ops.pad(sorted_scores, pad, constant_values=-np.inf)
    return order, sorted_scores > -np.inf


def greedy_nms(boxes, scores, valid, iou_threshold: float, max_output_size: int):
    """Greedy non-maximum suppression for every (image, group) pair, with static shapes.

    Candidates are visited in descending score order in blocks of :data:`NMS_BLOCK_SIZE`. Each
    block is first checked against the boxes kept so far, then resolved internally
    (:func:`_resolve_block`); the scan stops as soon as every group has ``max_output_size`` boxes
    or no candidates left. Sorting every box is the expensive part when few boxes are
    candidates, so only the best :data:`PRESELECTED_CANDIDATES` of each group are sorted and
    scanned first. Only if a group could not be finished from them (not yet full and more
    candidates than were preselected) are all boxes sorted, and the scan resumes after the
    preselected ones (they are the same boxes in the same order).

    Args:
        boxes: Tensor `(batch, n_boxes, 4)` of `corners` boxes shared by all groups of an image.
        scores: Tensor `(batch, groups, n_boxes)` of candidate scores.
        valid: Bool tensor `(batch, groups, n_boxes)`, which boxes are candidates of a group.
        iou_threshold: A candidate is suppressed if its IoU with a kept box is greater than this.
        max_output_size: Maximum number of boxes kept per group.

    Returns:
        A tuple `(indices, kept)`: int32 tensor `(batch, groups, max_output_size)` of positions
        into `n_boxes` in descending score order, and bool tensor of the same shape marking the
        slots that hold a kept box.
    """
    batch, n_groups, n_boxes = ops.shape(scores)[0], scores.shape[1], scores.shape[2]
    table = nms_box_table(boxes)
    masked_scores = ops.where(valid, scores, -np.inf)

    def scan(k, start, selection):
        order, sorted_valid = _top_candidates(masked_scores, k)
        return _scan_sorted_candidates(
            table, order, sorted_valid, iou_threshold, max_output_size, start, selection
        )

    preselected = min(PRESELECTED_CANDIDATES, n_boxes)
    capacity = min(max_output_size, preselected)
    kept_index, n_kept = scan(preselected, 0, _empty_selection(batch, n_groups, capacity))
    kept_index = ops.pad(kept_index, [[0, 0], [0, 0], [0, max_output_size - capacity]])
    if preselected < n_boxes:
        n_candidates = ops.sum(ops.cast(valid, "int32"), axis=-1)
        unfinished = ops.logical_and(n_kept < max_output_size, n_candidates > preselected)
        resume_at = preselected // NMS_BLOCK_SIZE
        kept_index, n_kept = ops.cond(
            ops.any(unfinished),
            lambda: scan(n_boxes, resume_at, (kept_index, n_kept)),
            lambda: (kept_index, n_kept),
        )
    kept = ops.arange(max_output_size, dtype="int32") < n_kept[..., None]
    return kept_index, kept


# ----------------------------------------------------------------------------------------------
# Detection rows and top-k


def detection_rows(class_ids, scores, boxes, indices, kept):
    """Builds zero-padded detection rows from the NMS selection.

    Args:
        class_ids: Tensor `(batch, groups, n_boxes)` of class ids (float).
        scores: Tensor `(batch, groups, n_boxes)` of confidences.
        boxes: Tensor `(batch, n_boxes, 4)` of `corners` boxes in pixels.
        indices: Int tensor `(batch, groups, max_output_size)` from :func:`greedy_nms`.
        kept: Bool tensor `(batch, groups, max_output_size)` from :func:`greedy_nms`.

    Returns:
        Tensor `(batch, groups * max_output_size, 6)` of rows
        `[class_id, confidence, xmin, ymin, xmax, ymax]`, all zeros where nothing was kept.
    """
    chosen_class = ops.take_along_axis(class_ids, indices, axis=-1)[..., None]
    chosen_score = ops.take_along_axis(scores, indices, axis=-1)[..., None]
    chosen_box = gather_per_group(boxes, indices)
    rows = ops.concatenate([chosen_class, chosen_score, chosen_box], axis=-1)
    rows = ops.where(kept[..., None], rows, 0.0)
    n_rows = indices.shape[1] * indices.shape[2]  # static, also when the batch size is not
    return ops.reshape(rows, (ops.shape(rows)[0], n_rows, ROW_WIDTH))


def select_top_k(rows, top_k: int):
    """The ``top_k`` rows of highest confidence of every image, in descending confidence order.

    Args:
        rows: Tensor `(batch, n_rows, 6)` of detection rows, zeros for empty rows.
        top_k: Number of rows to return; zero rows are appended if `n_rows < top_k`.

    Returns:
        Tensor `(batch, top_k, 6)`.
    """
    n_rows = rows.shape[1]
    if n_rows < top_k:
        rows = ops.pad(rows, [[0, 0], [0, top_k - n_rows], [0, 0]])
    _, best = ops.top_k(rows[..., CONFIDENCE], k=top_k)
    return ops.take_along_axis(rows, best[..., None], axis=1)


# ----------------------------------------------------------------------------------------------
# The common layer


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer, but received {name}={value!r}.")


def _check_number(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ValueError(f"`{name}` must be a number, but received {name}={value!r}.")


class DetectionDecoder(keras.layers.Layer):
    """Base class of the two decoding layers: arguments, validation, shapes and the pipeline.

    Subclasses implement :meth:`candidates`, which says which boxes compete in which NMS group.
    See :class:`~keras_layers.keras_layer_DecodeDetections.DecodeDetections` for the arguments.
    """

    def __init__(
        self,
        confidence_thresh: float = 0.01,
        iou_threshold: float = 0.45,
        top_k: int = 200,
        nms_max_output_size: int = 400,
        coords: str = "centroids",
        normalize_coords: bool = True,
        img_height: int | None = None,
        img_width: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if normalize_coords and (img_height is None or img_width is None):
            raise ValueError(
                "`normalize_coords=True` needs the image size to turn relative coordinates into "
                f"pixels, but received img_height={img_height!r} and img_width={img_width!r}."
            )
        if coords != "centroids":
            raise ValueError(
                f"`coords` must be 'centroids' (the only format this layer decodes), but "
                f"received coords={coords!r}."
            )
        _check_number("confidence_thresh", confidence_thresh)
        _check_number("iou_threshold", iou_threshold)
        if not 0.0 <= iou_threshold <= 1.0:
            raise ValueError(
                f"`iou_threshold` must lie in [0, 1], but received iou_threshold={iou_threshold!r}."
            )
        _check_positive_int("top_k", top_k)
        _check_positive_int("nms_max_output_size", nms_max_output_size)
        self.confidence_thresh = confidence_thresh
        self.iou_threshold = iou_threshold
        self.top_k = top_k
        self.nms_max_output_size = nms_max_output_size
        self.coords = coords
        self.normalize_coords = normalize_coords
        self.img_height = img_height
        self.img_width = img_width

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                f"{type(self).__name__} expects an input of shape (batch, n_boxes, n_classes + 12) "
                f"with known n_boxes and n_classes, but received input_shape={input_shape}."
            )
        if input_shape[2] < N_BOX_COLUMNS + 2:
            raise ValueError(
                f"The last axis of the input must hold n_classes + 12 values with at least the "
                f"background and one object class (>= 14), but received input_shape={input_shape}."
            )

    def candidates(self, class_scores):
        """Which boxes compete in which NMS group.

        Args:
            class_scores: Tensor `(batch, n_boxes, n_classes)`, background in column 0.

        Returns:
            A tuple `(class_ids, scores, valid)` of tensors `(batch, groups, n_boxes)`.
        """
        raise NotImplementedError

    def call(self, y_pred):
        y_pred = ops.stop_gradient(ops.cast(y_pred, "float32"))
        boxes = decode_centroid_offsets(
            y_pred, self.normalize_coords, self.img_height, self.img_width
        )
        class_ids, scores, valid = self.candidates(y_pred[..., :-N_BOX_COLUMNS])
        indices, kept = greedy_nms(
            boxes, scores, valid, float(self.iou_threshold), int(self.nms_max_output_size)
        )
        rows = detection_rows(class_ids, scores, boxes, indices, kept)
        return select_top_k(rows, int(self.top_k))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(self.top_k), ROW_WIDTH)

    def get_config(self):
        arguments = {
            "confidence_thresh": self.confidence_thresh,
            "iou_threshold": self.iou_threshold,
            "top_k": self.top_k,
            "nms_max_output_size": self.nms_max_output_size,
            "coords": self.coords,
            "normalize_coords": self.normalize_coords,
            "img_height": self.img_height,
            "img_width": self.img_width,
        }
        config = super().get_config()
        config.update(
            {
                name: value.item() if isinstance(value, np.generic) else value
                for name, value in arguments.items()
            }
        )
        return config
