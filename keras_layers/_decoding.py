"""Shared in-graph decoding core of `DecodeDetections` and `DecodeDetectionsFast`.

Both decoding layers run the same pipeline on the raw model output of shape
`(batch, n_boxes, n_classes + 12)`:

1. turn the encoded offsets back into absolute `corners` boxes (`decode_centroid_offsets`);
2. choose the candidates of each *group* (a group is one class for `DecodeDetections` and the
   whole image for `DecodeDetectionsFast`) - this is the only step the two layers do differently;
3. greedy non-maximum suppression inside every group, fused with the choice of the `top_k`
   most confident survivors of every image (`select_detections`);
4. gather the zero-padded output rows, already sorted by confidence (`detection_rows`).

Everything is written with `keras.ops` and static shapes, so the layers run on every Keras
backend and compile with XLA. The non-maximum suppression reproduces the selection of
`tf.image.non_max_suppression`: candidates in descending score order (the lower box index first on
equal scores), a candidate is dropped when its IoU with an already selected box is greater than the
threshold, IoU without a `+1` pixel term, IoU 0 when a box has no area, at most
`max_output_size` selected boxes per group. Of all survivors, the `top_k` of highest score are
returned, the lower group first on equal scores, as `tf.nn.top_k` over the concatenated per-group
results orders them. One difference remains: the original pads every group with zero rows before
its top-k, so with a negative `confidence_thresh` (the only way to keep a score of 0 or less)
padding rows can precede such kept rows there, while here the kept rows always come first
(docs/differences.md#decode-layers-any-backend).
"""

from __future__ import annotations

from numbers import Integral, Real

import keras
import numpy as np
from keras import ops

from ssd_encoder_decoder.output_layout import (
    ANCHORS,
    CLASS_SCORES,
    N_BOX_COLUMNS,
    OFFSETS,
    ROW_WIDTH,
    VARIANCES,
)

# Candidates are scanned in blocks of this many (fewer if an image has fewer candidates). Larger
# blocks mean fewer loop iterations but larger pairwise IoU matrices.
SCAN_BLOCK_SIZE = 64

# Number of candidates per image taken from a partial sort at a time. Usually the first chunk
# already yields the `top_k` survivors; otherwise the next chunk is fetched.
PRESELECTED_CANDIDATES = 4 * SCAN_BLOCK_SIZE


# ----------------------------------------------------------------------------------------------
# Box decoding


def decode_centroid_offsets(
    y_pred, normalize_coords: bool, img_height: float | None, img_width: float | None
):
    """Decodes the centroid offsets of the raw model output into corner boxes.

    cx = t_cx * v_cx * w_a + cx_a, cy = t_cy * v_cy * h_a + cy_a, w = exp(t_w * v_w) * w_a,
    h = exp(t_h * v_h) * h_a, then converted to corners and, if `normalize_coords`, scaled from
    relative to absolute pixel coordinates.

    Args:
        y_pred: Tensor or array `(batch, n_boxes, n_classes + 12)`; the last 12 columns hold the
            encoded offsets, the anchors in `centroids` format and the variances.
        normalize_coords: Whether anchors and offsets are relative to the image size.
        img_height: Image height in pixels, used if `normalize_coords`.
        img_width: Image width in pixels, used if `normalize_coords`.

    Returns:
        Tensor `(batch, n_boxes, 4)` of `corners` boxes `(xmin, ymin, xmax, ymax)`, in pixels if
        `normalize_coords`, otherwise in the units of the anchors.
    """
    y_pred = ops.convert_to_tensor(y_pred)
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
# Greedy non-maximum suppression fused with the top-k selection


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
    """Whether the IoU of every box of `table1` with every box of `table2` exceeds a threshold.

    IoU = intersection / (area1 + area2 - intersection), without a `+1` pixel term. A box without
    area overlaps nothing (its IoU is 0 or undefined, and neither exceeds a threshold >= 0).

    Args:
        table1: Tensor `(..., m, 5)` from `nms_box_table`.
        table2: Tensor `(..., n, 5)` from `nms_box_table`.
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


def gather_rows(values, indices):
    """Gathers rows of every image: `out[b, i] = values[b, indices[b, i]]`.

    Works on the flattened batch, which avoids the transposes a gather along axis 1 needs.

    Args:
        values: Tensor `(batch, n, d)` with static `n` and `d`.
        indices: Int32 tensor `(batch, length)` of positions into `n`.

    Returns:
        Tensor `(batch, length, d)`.
    """
    n, width = values.shape[1], values.shape[2]
    image_start = ops.arange(ops.shape(indices)[0], dtype="int32")[:, None] * n
    return ops.take(ops.reshape(values, (-1, width)), indices + image_start, axis=0)


class CandidateLayout:
    """Static facts about the flattened candidate axis and the limits of one selection.

    Candidate `f` of an image is box `f % n_boxes` competing in group `f // n_boxes`, so
    the flat order lists the groups one after the other, each in box order.
    """

    def __init__(
        self, n_groups: int, n_boxes: int, iou_threshold: float, group_cap: int, top_k: int
    ):
        self.n_boxes = n_boxes
        self.iou_threshold = iou_threshold
        self.group_cap = group_cap
        self.top_k = top_k
        # Fewer kept rows than `top_k` in total means no group can reach a larger cap.
        self.cap_binds = group_cap < top_k
        # An image is done when it holds this many rows: `top_k`, or fewer if all groups fill up.
        self.target = min(top_k, n_groups * group_cap)
        n_candidates = n_groups * n_boxes
        self.chunk = min(PRESELECTED_CANDIDATES, n_candidates)
        self.block = min(SCAN_BLOCK_SIZE, self.chunk)
        self.n_blocks = -(-self.chunk // self.block)
        # Bool (block, block): candidate i comes before candidate j inside a block.
        self.earlier = ops.convert_to_tensor(
            np.triu(np.ones((self.block, self.block), dtype=bool), k=1)
        )

    def group_of(self, flat_index):
        return flat_index // self.n_boxes

    def box_of(self, flat_index):
        return flat_index % self.n_boxes


def _resolve_block(candidates, overlaps, group_room=None, same_group=None):
    """Greedy selection inside one block of candidates in scan order.

    Iterates `keep_j = candidate_j and not any_i<j(keep_i and overlap_ij)` (and, with a cap,
    `sum_i<j(keep_i and same_group_ij) < group_room_j`) to its fixed point, which is exactly the
    greedy selection: the status of candidate `t` is final after `t + 1` rounds, and the fixed
    point is unique because every condition only looks at earlier candidates.

    Args:
        candidates: Bool tensor `(batch, block)`, candidates still eligible.
        overlaps: Float tensor `(batch, block, block)`, 1.0 where candidate `i` comes before
            candidate `j`, both are in the same group and their IoU exceeds the threshold.
        group_room: Optional int32 tensor `(batch, block)`, how many more boxes the group of
            each candidate may keep after the boxes kept before the block.
        same_group: Float tensor `(batch, block, block)`, 1.0 where candidate `i` comes before
            candidate `j` in the same group; needed with `group_room`.

    Returns:
        Bool tensor `(batch, block)` of the candidates the greedy selection keeps.
    """

    def select(keep):
        keep = ops.cast(keep, overlaps.dtype)
        free = ops.einsum("bij,bi->bj", overlaps, keep) <= 0.0
        selected = ops.logical_and(candidates, free)
        if group_room is not None:
            taken = ops.einsum("bij,bi->bj", same_group, keep)
            selected = ops.logical_and(selected, taken < ops.cast(group_room, taken.dtype))
        return selected

    def changed(keep, previous):
        return ops.any(ops.not_equal(keep, previous))

    def step(keep, _previous):
        return select(keep), keep

    keep, _ = ops.while_loop(changed, step, (select(candidates), candidates))
    return keep


def _append_kept(kept_index, n_kept, block_index, block_keep):
    """Writes the kept candidates of a block behind the ones kept before, up to the capacity.

    Args:
        kept_index: Int32 tensor `(batch, capacity)`; slots from `n_kept` on hold 0.
        n_kept: Int32 tensor `(batch,)`.
        block_index: Int32 tensor `(batch, block)` of flat candidate positions.
        block_keep: Bool tensor `(batch, block)`.

    Returns:
        The updated `(kept_index, n_kept)`.
    """
    capacity = kept_index.shape[-1]
    keep = ops.cast(block_keep, "int32")
    slot = n_kept[:, None] + ops.cumsum(keep, axis=-1) - 1
    goes_to = ops.logical_and(
        block_keep[..., None], slot[..., None] == ops.arange(capacity, dtype="int32")
    )
    written = ops.sum(ops.where(goes_to, block_index[..., None], 0), axis=1)
    return kept_index + written, ops.minimum(n_kept + ops.sum(keep, axis=-1), capacity)


def _scan_block(layout, table, block_index, block_valid, kept_index, n_kept):
    """Selects among one block of candidates in scan order and appends the kept ones."""
    block_group = layout.group_of(block_index)
    block_boxes = gather_rows(table, layout.box_of(block_index))
    kept_group = layout.group_of(kept_index)
    slot_used = ops.arange(layout.top_k, dtype="int32") < n_kept[:, None]
    # (batch, block, top_k): kept box of the same group as the block candidate.
    rival = ops.logical_and(block_group[:, :, None] == kept_group[:, None, :], slot_used[:, None])
    hits_kept = ops.logical_and(
        overlap_exceeds(
            block_boxes, gather_rows(table, layout.box_of(kept_index)), layout.iou_threshold
        ),
        rival,
    )
    candidates = ops.logical_and(block_valid, ops.logical_not(ops.any(hits_kept, axis=-1)))
    same_group = ops.logical_and(block_group[:, :, None] == block_group[:, None, :], layout.earlier)
    overlaps = ops.logical_and(
        overlap_exceeds(block_boxes, block_boxes, layout.iou_threshold), same_group
    )
    if layout.cap_binds:
        group_room = layout.group_cap - ops.sum(ops.cast(rival, "int32"), axis=-1)
        block_keep = _resolve_block(
            candidates,
            ops.cast(overlaps, "float32"),
            group_room,
            ops.cast(same_group, "float32"),
        )
    else:
        block_keep = _resolve_block(candidates, ops.cast(overlaps, "float32"))
    return _append_kept(kept_index, n_kept, block_index, block_keep)


def _next_chunk(layout, flat_scores, cursor_score, cursor_index):
    """The next `PRESELECTED_CANDIDATES` candidates after a cursor, in scan order.

    Scan order is descending score, then ascending flat position.

    Args:
        layout: The `CandidateLayout`.
        flat_scores: Tensor `(batch, groups * n_boxes)`, `-inf` for non-candidates.
        cursor_score: Tensor `(batch,)`, score of the last candidate of the previous chunk
            (`+inf` before the first chunk).
        cursor_index: Int32 tensor `(batch,)`, flat position of that candidate (`-1` before the
            first chunk).

    Returns:
        `(sorted_scores, order)`: tensors `(batch, chunk)`, `-inf` scores where no candidate is
        left, and the int32 flat positions.
    """
    position = ops.arange(ops.shape(flat_scores)[-1], dtype="int32")
    after = ops.logical_or(
        flat_scores < cursor_score[:, None],
        ops.logical_and(flat_scores == cursor_score[:, None], position > cursor_index[:, None]),
    )
    sorted_scores, order = top_k_lower_index_first(
        ops.where(after, flat_scores, -np.inf), layout.chunk
    )
    return sorted_scores, ops.cast(order, "int32")


def top_k_lower_index_first(x, k: int):
    """`keras.ops.top_k` along the last axis with ties broken by the lower index on every backend.

    TensorFlow's and JAX's top-k already return equal values in ascending index order and are
    used as they are. PyTorch's `topk` leaves that order unspecified, so there the positions come
    from `keras.ops.argsort` of the negated values instead, which Keras runs as a stable sort on
    PyTorch (a full sort rather than a partial one).

    Args:
        x: Float tensor `(..., n)`.
        k: Number of entries to return, at most `n`.

    Returns:
        `(values, indices)`: tensors `(..., k)`, the `k` largest values in descending order and
        their positions along the last axis.
    """
    if keras.backend.backend() != "torch":
        return ops.top_k(x, k=k)
    indices = ops.argsort(ops.negative(x), axis=-1)[..., :k]
    return ops.take_along_axis(x, indices, axis=-1), indices


def _scan_chunk(layout, table, order, sorted_valid, kept_index, n_kept):
    """Scans one chunk of candidates block by block until every image is full or out of them."""
    padding = layout.n_blocks * layout.block - layout.chunk
    if padding:
        order = ops.pad(order, [[0, 0], [0, padding]])
        sorted_valid = ops.pad(sorted_valid, [[0, 0], [0, padding]])
    order_blocks = ops.reshape(order, (-1, layout.n_blocks, layout.block))
    valid_blocks = ops.reshape(sorted_valid, (-1, layout.n_blocks, layout.block))

    def has_work(b, _kept_index, n_kept):
        first_valid = ops.take(valid_blocks, ops.minimum(b, layout.n_blocks - 1), axis=1)[:, 0]
        open_images = ops.logical_and(n_kept < layout.target, first_valid)
        return ops.logical_and(b < layout.n_blocks, ops.any(open_images))

    def next_block(b, kept_index, n_kept):
        kept_index, n_kept = _scan_block(
            layout,
            table,
            ops.take(order_blocks, b, axis=1),
            ops.take(valid_blocks, b, axis=1),
            kept_index,
            n_kept,
        )
        return b + 1, kept_index, n_kept

    start = ops.convert_to_tensor(0, dtype="int32")
    _, kept_index, n_kept = ops.while_loop(has_work, next_block, (start, kept_index, n_kept))
    return kept_index, n_kept


def select_detections(boxes, scores, valid, iou_threshold: float, group_cap: int, top_k: int):
    """Greedy NMS in every group fused with the choice of the `top_k` best survivors per image.

    The result equals running greedy NMS separately in every group (candidates in descending
    score order, the lower box index first on equal scores; a candidate is dropped when its IoU
    with a kept box of its group is greater than `iou_threshold`; at most `group_cap` boxes kept
    per group), then taking the `top_k` survivors of highest score over all groups (the lower
    group first on equal scores). Since a candidate's fate only depends on better candidates of
    its own group, all candidates of an image are scanned once in that global order, and the
    scan stops as soon as `top_k` are kept: only the candidates needed for the output are ever
    compared. They are fetched `PRESELECTED_CANDIDATES` at a time with a partial sort and
    processed in blocks of `SCAN_BLOCK_SIZE` (`_resolve_block`).

    Args:
        boxes: Tensor `(batch, n_boxes, 4)` of `corners` boxes shared by all groups of an image.
        scores: Tensor `(batch, groups, n_boxes)` of candidate scores.
        valid: Bool tensor `(batch, groups, n_boxes)`, which boxes are candidates of a group.
        iou_threshold: A candidate is suppressed if its IoU with a kept box is greater than this.
        group_cap: Maximum number of boxes kept per group.
        top_k: Number of survivors returned per image.

    Returns:
        A tuple `(flat_index, kept)`: int32 tensor `(batch, top_k)` of flat candidate positions
        `group * n_boxes + box` in scan order, and bool tensor `(batch, top_k)` marking the slots
        that hold a survivor (the first ones).
    """
    n_groups, n_boxes = scores.shape[1], scores.shape[2]
    layout = CandidateLayout(n_groups, n_boxes, iou_threshold, group_cap, top_k)
    table = nms_box_table(boxes)
    flat_scores = ops.reshape(ops.where(valid, scores, -np.inf), (-1, n_groups * n_boxes))
    one_chunk_holds_all = layout.chunk == n_groups * n_boxes

    def unfinished(_kept_index, n_kept, _cursor_score, _cursor_index, more):
        return ops.any(ops.logical_and(n_kept < layout.target, more))

    def next_round(kept_index, n_kept, cursor_score, cursor_index, _more):
        sorted_scores, order = _next_chunk(layout, flat_scores, cursor_score, cursor_index)
        sorted_valid = sorted_scores > -np.inf
        kept_index, n_kept = _scan_chunk(layout, table, order, sorted_valid, kept_index, n_kept)
        # The new cursor is the chunk's last candidate: the lowest score and, of the candidates
        # with that score, the highest position. Reductions rather than `[:, -1]`: XLA on CPU
        # only keeps its fast top-k when the sorted result is read through prefix slices.
        cursor_score = ops.min(sorted_scores, axis=-1)
        at_cursor = sorted_scores == cursor_score[:, None]
        cursor_index = ops.max(ops.where(at_cursor, order, -1), axis=-1)
        more = ops.logical_and(ops.all(sorted_valid, axis=-1), not one_chunk_holds_all)
        return kept_index, n_kept, cursor_score, cursor_index, more

    n_kept = ops.zeros_like(flat_scores[:, 0], dtype="int32")
    start = (
        ops.zeros((ops.shape(flat_scores)[0], top_k), dtype="int32"),
        n_kept,
        ops.full_like(flat_scores[:, 0], np.inf),
        n_kept - 1,
        n_kept == 0,
    )
    kept_index, n_kept, *_ = ops.while_loop(unfinished, next_round, start)
    return kept_index, ops.arange(top_k, dtype="int32") < n_kept[:, None]


# ----------------------------------------------------------------------------------------------
# Detection rows


def detection_rows(class_ids, scores, boxes, flat_index, kept):
    """Builds the zero-padded output rows from the selected candidates.

    Args:
        class_ids: Tensor `(batch, groups, n_boxes)` of class ids (float).
        scores: Tensor `(batch, groups, n_boxes)` of confidences.
        boxes: Tensor `(batch, n_boxes, 4)` of `corners` boxes in pixels.
        flat_index: Int32 tensor `(batch, top_k)` from `select_detections`.
        kept: Bool tensor `(batch, top_k)` from `select_detections`.

    Returns:
        Tensor `(batch, top_k, 6)` of rows `[class_id, confidence, xmin, ymin, xmax, ymax]`,
        all zeros where nothing was kept.
    """
    n_groups, n_boxes = scores.shape[1], scores.shape[2]

    def pick(values):
        return gather_rows(ops.reshape(values, (-1, n_groups * n_boxes, 1)), flat_index)

    chosen_box = gather_rows(boxes, flat_index % n_boxes)
    rows = ops.concatenate([pick(class_ids), pick(scores), chosen_box], axis=-1)
    return ops.where(kept[..., None], rows, 0.0)


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

    Subclasses implement `candidates`, which says which boxes compete in which NMS group,
    and set `decoding_mode` to the model mode that uses them.
    See `keras_layers.keras_layer_DecodeDetections.DecodeDetections` for the arguments.
    """

    decoding_mode = "inference"

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
        if keras.backend.backend() == "torch":
            # `torch.compile` (`jit_compile=True` on PyTorch) would unroll the decoding loops
            # into a graph that takes many minutes to build; the decoding runs eagerly instead,
            # after the compiled part of the model.
            import torch

            return torch.compiler.disable(self._decode)(y_pred)
        return self._decode(y_pred)

    def _decode(self, y_pred):
        y_pred = ops.stop_gradient(ops.cast(y_pred, "float32"))
        boxes = decode_centroid_offsets(
            y_pred, self.normalize_coords, self.img_height, self.img_width
        )
        class_ids, scores, valid = self.candidates(y_pred[..., CLASS_SCORES])
        flat_index, kept = select_detections(
            boxes,
            scores,
            valid,
            float(self.iou_threshold),
            int(self.nms_max_output_size),
            int(self.top_k),
        )
        return detection_rows(class_ids, scores, boxes, flat_index, kept)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(self.top_k), ROW_WIDTH)

    def decoding_parameters(self) -> dict:
        """The settings this layer decodes with, for code that must decode the same way.

        Returns:
            `confidence_thresh`, `iou_threshold`, `top_k`, `nms_max_output_size`, `coords`,
            `normalize_coords`, `img_height` and `img_width` as plain Python values, and
            `mode`: `'inference'` for `DecodeDetections`, `'inference_fast'` for
            `DecodeDetectionsFast`.
        """
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
        plain = {k: v.item() if isinstance(v, np.generic) else v for k, v in arguments.items()}
        plain["mode"] = self.decoding_mode
        return plain

    def get_config(self):
        config = super().get_config()
        parameters = self.decoding_parameters()
        del parameters["mode"]
        config.update(parameters)
        return config
