"""Turns ground-truth boxes into SSD training targets (`y_encoded`).

`SSDInputEncoder` builds the anchor boxes of every predictor layer once, at construction,
and then encodes batches of ground truth against them. Each ground-truth array holds one row per
object, `(class_id, xmin, ymin, xmax, ymax)` in absolute pixels (the column order is fixed; a
`labels_format` is not consulted). The result has shape
`(batch, n_anchors, n_classes + 1 + 12)`:

* `[..., :C]`: one-hot classes, column `background_id` for background (`C = n_classes + 1`);
* `[..., C:C+4]`: the ground truth encoded as offsets from the matched anchor (zeros elsewhere);
* `[..., C+4:C+8]`: the anchor box in the `coords` format;
* `[..., C+8:C+12]`: the four variances

(the slices `CLASS_SCORES`, `OFFSETS`, `ANCHORS`, `VARIANCES` of
`ssd_encoder_decoder.output_layout`).

Matching follows the original library: every ground-truth box first takes its best anchor in a
greedy bipartite matching; with `matching_type='multi'` every remaining anchor whose best IoU
reaches `pos_iou_threshold` is matched as well; unmatched anchors whose best IoU is at least
`neg_iou_limit` become neutral (all class columns zero). The whole batch is encoded with one IoU
computation; only the greedy matching iterates, once per ground-truth rank.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bounding_box_utils.bounding_box_utils import border_pixel_offset, convert_coordinates
from ssd_encoder_decoder.anchor_boxes import anchor_boxes_for_layer
from ssd_encoder_decoder.anchor_config import AnchorConfig
from ssd_encoder_decoder.output_layout import (
    ANCHORS,
    N_BOX_COLUMNS,
    OFFSETS,
    VARIANCES,
    model_n_classes,
)

# Columns of one ground-truth row (fixed order, whatever labels_format says elsewhere).
_GT_CLASS = 0
_GT_XMIN, _GT_YMIN, _GT_XMAX, _GT_YMAX = 1, 2, 3, 4
_GT_BOX = slice(_GT_XMIN, _GT_YMAX + 1)
_GT_COLUMNS = 5


# Positions inside a 4-vector for each box format.
_X_PAIR = {"corners": [0, 2], "minmax": [0, 1]}
_Y_PAIR = {"corners": [1, 3], "minmax": [2, 3]}

_BORDER_PIXELS = ("half", "include", "exclude")


class DegenerateBoxError(ValueError):
    """Raised when a ground-truth box has `xmax <= xmin` or `ymax <= ymin`.

    Such boxes would produce NaN or infinite targets. It subclasses `ValueError` so that
    generic bad-input handlers catch it too.
    """


class BoxOutsideImageError(ValueError):
    """Raised when a ground-truth box does not overlap the image at all.

    Such a box (`xmin >= img_width`, `xmax <= 0`, `ymin >= img_height` or `ymax <= 0`)
    still gets an anchor in the bipartite matching (the first anchor when it overlaps none) and
    teaches the model an object that is not there. It means a bad annotation, labels for another
    image size than the encoder's, or a transformation that moved the box out without a
    `BoxFilter` to drop it. It subclasses `ValueError`. See
    docs/differences.md#encoder-box-outside-image.
    """


class SSDInputEncoder:
    """Encodes ground-truth boxes into the target tensor an SSD model is trained against.

    The anchors of all predictor layers are computed once in the constructor and kept in
    `boxes_list` (one `(fh, fw, n_boxes, 4)` array per layer, in the `coords` format,
    relative to the image size when `normalize_coords` is set, else in pixels). Encoding reuses
    them (and a flat copy), so changing an anchor setting later means building a new encoder;
    the matching settings (thresholds, `matching_type`, `variances`...) are read per call.

    Args:
        img_height: Height of the input images in pixels.
        img_width: Width of the input images in pixels.
        n_classes: Number of positive classes (20 for Pascal VOC). Stored as `n_classes + 1`
            because of the background class.
        predictor_sizes: `(fh, fw)` of every predictor layer's feature map, in model order;
            a single pair may be given flat.
        min_scale: Smallest anchor scale (fraction of `min(img_height, img_width)`), used
            with `max_scale` when `scales` is None.
        max_scale: Largest anchor scale; the scales are interpolated linearly in between.
        scales: Explicit scales, one per predictor layer plus one more (the last is used for the
            extra aspect-ratio-1 box of the last layer). Overrides `min_scale`/`max_scale`.
        aspect_ratios_global: Aspect ratios (width / height) used by every layer.
        aspect_ratios_per_layer: One list of aspect ratios per layer; overrides the global one.
        two_boxes_for_ar1: Whether aspect ratio 1 also gets a box of scale
            `sqrt(this_scale * next_scale)`.
        steps: None, or one entry per layer: a number or a `(step_height, step_width)` pair,
            the distance in pixels between neighbouring anchor centres.
        offsets: None, or one entry per layer: a number or an `(offset_height, offset_width)`
            pair, the first anchor centre's distance from the top-left corner as a fraction of
            the step.
        clip_boxes: Whether anchor corners are clipped to the image.
        variances: Four positive numbers the encoded offsets are divided by.
        matching_type: `'multi'` adds threshold matching after the bipartite matching; any
            other value means bipartite matching only (docs/differences.md#encoder-matching-type).
        pos_iou_threshold: Minimum IoU (inclusive) for a `'multi'` match.
        neg_iou_limit: Unmatched anchors whose best IoU is at least this value are neutral.
        border_pixels: `'half'`, `'include'` or `'exclude'`: how box borders count in the
            ground truth's centroid sizes and in the IoU areas.
        coords: Box format of anchors and targets: `'centroids'` (cx, cy, w, h),
            `'corners'` (xmin, ymin, xmax, ymax) or `'minmax'` (xmin, xmax, ymin, ymax).
        normalize_coords: Whether anchors and targets are relative to the image size.
        background_id: Class column that marks background.

    Raises:
        ValueError: If an argument is out of range or inconsistent with `predictor_sizes`;
            the message names the argument and its value.
    """

    def __init__(
        self,
        img_height: int,
        img_width: int,
        n_classes: int,
        predictor_sizes: Sequence[Sequence[int]] | np.ndarray,
        min_scale: float | None = 0.1,
        max_scale: float | None = 0.9,
        scales: Sequence[float] | np.ndarray | None = None,
        aspect_ratios_global: Sequence[float] | None = (0.5, 1.0, 2.0),
        aspect_ratios_per_layer: Sequence[Sequence[float]] | None = None,
        two_boxes_for_ar1: bool = True,
        steps: Sequence[Any] | None = None,
        offsets: Sequence[Any] | None = None,
        clip_boxes: bool = False,
        variances: Sequence[float] | np.ndarray = (0.1, 0.1, 0.2, 0.2),
        matching_type: str = "multi",
        pos_iou_threshold: float = 0.5,
        neg_iou_limit: float = 0.3,
        border_pixels: str = "half",
        coords: str = "centroids",
        normalize_coords: bool = True,
        background_id: int = 0,
    ) -> None:
        predictor_sizes = _as_predictor_sizes(predictor_sizes)
        n_layers = predictor_sizes.shape[0]
        anchor_config = AnchorConfig.from_arguments(
            n_layers, img_height, img_width, min_scale, max_scale, scales,
            aspect_ratios_global, aspect_ratios_per_layer, two_boxes_for_ar1, steps, offsets,
            clip_boxes, variances, coords, normalize_coords,
        )  # fmt: skip
        variances = np.array(variances)
        _check_choice("border_pixels", border_pixels, _BORDER_PIXELS)

        self.img_height = img_height
        self.img_width = img_width
        self.n_classes = n_classes + 1
        self.predictor_sizes = predictor_sizes
        self.min_scale = min_scale
        self.max_scale = max_scale
        self.scales = np.array(anchor_config.scales)
        self.aspect_ratios = [list(ratios) for ratios in anchor_config.aspect_ratios]
        self.two_boxes_for_ar1 = two_boxes_for_ar1
        self.steps = steps if steps is not None else [None] * n_layers
        self.offsets = offsets if offsets is not None else [None] * n_layers
        self.clip_boxes = clip_boxes
        self.variances = variances
        self.matching_type = matching_type
        self.pos_iou_threshold = pos_iou_threshold
        self.neg_iou_limit = neg_iou_limit
        self.border_pixels = border_pixels
        self.coords = coords
        self.normalize_coords = normalize_coords
        self.background_id = background_id

        # One count for every layer when the aspect ratios are global, one per layer otherwise.
        per_layer = aspect_ratios_per_layer is not None and len(aspect_ratios_per_layer) > 0
        self.n_boxes = anchor_config.n_boxes if per_layer else anchor_config.n_boxes[0]
        self.anchor_config = anchor_config
        self._build_anchors()

    @classmethod
    def from_model(
        cls,
        model: Any,
        matching_type: str = "multi",
        pos_iou_threshold: float = 0.5,
        neg_iou_limit: float = 0.3,
        border_pixels: str = "half",
        background_id: int = 0,
    ) -> SSDInputEncoder:
        """An encoder whose anchors are read from a built model, so the two cannot disagree.

        The image size, predictor sizes, scales, aspect ratios, `two_boxes_for_ar1`, steps,
        offsets, `clip_boxes`, variances, `coords` and `normalize_coords` come from the model's
        `AnchorBoxes` layers (`AnchorConfig.from_model`), the class count from the width of its
        raw predictions. Only the matching settings are arguments.

        Args:
            model: A model built by `build_model`, `ssd_300` or `ssd_512` in any mode (also one
                loaded from a `.keras` or legacy `.h5` file).
            matching_type: As in the constructor.
            pos_iou_threshold: As in the constructor.
            neg_iou_limit: As in the constructor.
            border_pixels: As in the constructor.
            background_id: As in the constructor.

        Returns:
            The encoder.

        Raises:
            ValueError: If the model has no `AnchorBoxes` layers, its layers disagree on a
                shared setting, or its raw predictions cannot be found.

        Example:
            >>> from models.keras_ssd7 import build_model
            >>> model = build_model((300, 480, 3), n_classes=5, min_scale=0.08, max_scale=0.96)
            >>> encoder = SSDInputEncoder.from_model(model, neg_iou_limit=0.3)
            >>> encoder.predictor_sizes.tolist()
            [[37, 60], [18, 30], [9, 15], [4, 7]]
        """
        config, predictor_sizes = AnchorConfig.from_model(model)
        n_classes = model_n_classes(model)
        if n_classes is None:
            raise ValueError(
                f"Model {getattr(model, 'name', model)!r} has no raw SSD predictions "
                "(n_classes + 13 columns) to read its class count from."
            )
        return cls(
            img_height=config.img_height,
            img_width=config.img_width,
            n_classes=n_classes,
            predictor_sizes=predictor_sizes,
            **config.encoder_arguments(),
            matching_type=matching_type,
            pos_iou_threshold=pos_iou_threshold,
            neg_iou_limit=neg_iou_limit,
            border_pixels=border_pixels,
            background_id=background_id,
        )

    # ------------------------------------------------------------------------------------------
    # Anchors

    def _build_anchors(self) -> None:
        """Computes `boxes_list`, the diagnostics lists and the flat anchor cache."""
        self.boxes_list = []
        self.wh_list_diag = []
        self.steps_diag = []
        self.offsets_diag = []
        self.centers_diag = []
        for layer, feature_map_size in enumerate(self.predictor_sizes):
            boxes, centers, wh_list, step, offset = self.generate_anchor_boxes_for_layer(
                feature_map_size=feature_map_size,
                aspect_ratios=self.aspect_ratios[layer],
                this_scale=self.scales[layer],
                next_scale=self.scales[layer + 1],
                this_steps=self.steps[layer],
                this_offsets=self.offsets[layer],
                diagnostics=True,
            )
            self.boxes_list.append(boxes)
            self.wh_list_diag.append(wh_list)
            self.steps_diag.append(step)
            self.offsets_diag.append(offset)
            self.centers_diag.append(centers)
        self._anchors = np.concatenate([boxes.reshape(-1, 4) for boxes in self.boxes_list])
        self._anchor_table = _AnchorTable(self.boxes_list, _to_corners(self._anchors, self.coords))

    def generate_anchor_boxes_for_layer(
        self,
        feature_map_size: Sequence[int] | np.ndarray,
        aspect_ratios: Sequence[float],
        this_scale: float,
        next_scale: float,
        this_steps: Any = None,
        this_offsets: Any = None,
        diagnostics: bool = False,
    ) -> np.ndarray | tuple:
        """Anchor boxes of one predictor layer.

        Box sizes: with `size = min(img_height, img_width)`, aspect ratio 1 gives a square of
        side `this_scale * size` (plus one of side `sqrt(this_scale * next_scale) * size`
        right after it when `two_boxes_for_ar1`); any other ratio `ar` gives
        `(this_scale * size * sqrt(ar), this_scale * size / sqrt(ar))`. Centres lie on the
        grid `((offset + i) * step)`; the boxes are then clipped (if `clip_boxes`),
        normalised (if `normalize_coords`) and converted to `coords`.

        Args:
            feature_map_size: `(fh, fw)` of the layer's feature map.
            aspect_ratios: Aspect ratios (width / height) of the boxes of every cell, in order.
            this_scale: Scale of this layer, a fraction of the shorter image side.
            next_scale: Scale of the next layer (only used for the extra ratio-1 box).
            this_steps: None (`img_height / fh`, `img_width / fw`), a number, or a
                `(step_height, step_width)` pair, in pixels.
            this_offsets: None (0.5), a number, or an `(offset_height, offset_width)` pair,
                fractions of the step.
            diagnostics: Also return the grid and size information.

        Returns:
            The boxes, shape `(fh, fw, n_boxes, 4)` in the `coords` format (relative or
            pixels, see `normalize_coords`). With `diagnostics`: the tuple
            `(boxes, (cy, cx), wh_list, (step_height, step_width),
            (offset_height, offset_width))` where `cy` (fh,) and `cx` (fw,) are the centre
            coordinates in pixels and `wh_list` (n_boxes, 2) the box sizes in pixels.

        Raises:
            ValueError: If `this_steps` or `this_offsets` is neither None, a number nor a
                pair.
        """
        return anchor_boxes_for_layer(
            feature_map_size,
            self.img_height,
            self.img_width,
            this_scale,
            next_scale,
            aspect_ratios,
            self.two_boxes_for_ar1,
            this_steps,
            this_offsets,
            self.clip_boxes,
            self.coords,
            self.normalize_coords,
            diagnostics=diagnostics,
            steps_name="steps",
            offsets_name="offsets",
        )

    def generate_encoding_template(
        self, batch_size: int, diagnostics: bool = False
    ) -> np.ndarray | tuple:
        """The empty target tensor of a batch: no class set, anchors, anchors, variances.

        Args:
            batch_size: Number of images B.
            diagnostics: Also return the per-layer diagnostics lists.

        Returns:
            A float64 array of shape `(B, N, C + 12)` (N anchors, C = `self.n_classes`):
            zeros in `[..., :C]`, the anchors (`coords` format) in both `[..., C:C+4]` and
            `[..., C+4:C+8]`, the variances in `[..., C+8:]`. With `diagnostics`: the
            tuple `(template, centers_diag, wh_list_diag, steps_diag, offsets_diag)`.
        """
        row = np.concatenate(
            [
                np.zeros((len(self._anchors), self.n_classes)),
                self._anchors,
                self._anchors,
                np.broadcast_to(self.variances, self._anchors.shape),
            ],
            axis=1,
        )
        template = np.array(np.broadcast_to(row, (batch_size, *row.shape)))
        if diagnostics:
            return (
                template,
                self.centers_diag,
                self.wh_list_diag,
                self.steps_diag,
                self.offsets_diag,
            )
        return template

    # ------------------------------------------------------------------------------------------
    # Encoding

    def __call__(
        self, ground_truth_labels: Sequence[Any], diagnostics: bool = False
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Encodes one batch of ground truth.

        Args:
            ground_truth_labels: One array per image of shape `(k, 5)` with rows
                `(class_id, xmin, ymin, xmax, ymax)` in absolute pixels (`corners`);
                `class_id` is an integer in `1..n_classes` (any class other than
                `background_id`). An empty array (size 0) means no objects.
            diagnostics: Also return a copy whose offset columns are zero, i.e. showing the
                matched anchors instead of the targets.

        Returns:
            `y_encoded`, float64 of shape `(B, N, n_classes + 1 + 12)` (layout in the module
            docstring). With `diagnostics`: `(y_encoded, y_matched_anchors)`.

        Raises:
            ValueError: If an item is not of shape `(k, 5)`, holds a NaN or infinite value or
                a class id outside the positive classes; the message names the batch item, the
                box row and the value.
            DegenerateBoxError: If a box has `xmax <= xmin` or `ymax <= ymin`.
            BoxOutsideImageError: If a box lies entirely outside the `img_height x img_width`
                image (`xmin >= img_width`, `xmax <= 0`, `ymin >= img_height` or
                `ymax <= 0`); boxes partly outside the image are encoded as usual.
        """
        batch = _GroundTruthBatch(ground_truth_labels, self.n_classes, self.background_id)
        batch.check_inside_image(self.img_height, self.img_width)
        y_encoded = np.empty((batch.size, len(self._anchors), self.n_classes + N_BOX_COLUMNS))
        y_encoded[...] = self._background_row()
        if batch.n_rows:
            self._encode_matches(y_encoded, batch)
        if diagnostics:
            y_matched_anchors = y_encoded.copy()
            y_matched_anchors[..., OFFSETS] = 0
            return y_encoded, y_matched_anchors
        return y_encoded

    def _background_row(self) -> np.ndarray:
        """The target row of every anchor before matching, shape `(N, C + 12)` (read-only).

        Computed once per combination of the attributes it depends on and then reused.
        """
        key = (
            id(self._anchors),
            self.n_classes,
            self.background_id,
            self.coords,
            tuple(np.ravel(self.variances).tolist()),
        )
        cached = getattr(self, "_background_cache", None)
        if cached is None or cached[0] != key:
            row = self._compute_background_row()
            row.flags.writeable = False
            cached = self._background_cache = (key, row)
        return cached[1]

    def _compute_background_row(self) -> np.ndarray:
        row = np.zeros((len(self._anchors), self.n_classes + N_BOX_COLUMNS))
        row[:, self.background_id] = 1
        variances = np.broadcast_to(self.variances, self._anchors.shape)
        with np.errstate(divide="ignore", invalid="ignore"):  # zero-size clipped anchors
            row[:, OFFSETS] = _encode_offsets(self._anchors, self._anchors, variances, self.coords)
        row[:, ANCHORS] = self._anchors
        row[:, VARIANCES] = variances
        return row

    def _ground_truth_in_coords(self, boxes: np.ndarray) -> np.ndarray:
        """Corner boxes in pixels -> the encoder's coordinate format and scale."""
        boxes = np.array(boxes, dtype=float)
        if self.normalize_coords:
            boxes[:, _Y_PAIR["corners"]] /= self.img_height
            boxes[:, _X_PAIR["corners"]] /= self.img_width
        if self.coords == "centroids":
            return convert_coordinates(boxes, 0, "corners2centroids", self.border_pixels)
        if self.coords == "minmax":
            return convert_coordinates(boxes, 0, "corners2minmax")
        return boxes

    def _encode_matches(self, y_encoded: np.ndarray, batch: _GroundTruthBatch) -> None:
        """Matches the batch's boxes to the anchors and writes targets into `y_encoded`."""
        gt_boxes = self._ground_truth_in_coords(batch.labels[:, _GT_BOX])
        multi = self.matching_type == "multi"
        floor = min(self.neg_iou_limit, self.pos_iou_threshold) if multi else self.neg_iou_limit
        similarities = _Similarities(
            self._anchor_table, _to_corners(gt_boxes, self.coords), self.border_pixels, floor
        )
        bipartite = _match_bipartite_batch(similarities, batch)

        # gt_of_anchor[m, anchor]: stacked ground-truth row matched there, -1 if none. Repeated
        # bipartite anchors (docs/differences.md#encoder-rematch-anchor-0) keep the last row, as a
        # fancy assignment does.
        gt_of_anchor = np.full((len(batch.items), len(self._anchors)), -1)
        gt_of_anchor[batch.row_item, bipartite] = np.arange(batch.n_rows)
        best = _BestGroundTruth(*similarities.at_least(floor, batch, bipartite), batch)
        if multi:
            positive = best.iou >= self.pos_iou_threshold
            gt_of_anchor[best.item[positive], best.anchor[positive]] = best.row[positive]
        self._write_positives(y_encoded, batch, gt_boxes, gt_of_anchor)
        # Clearing the background bit of a matched anchor changes nothing (its one-hot class is
        # not the background), so the matched anchors need no exclusion here.
        neutral = best.iou >= self.neg_iou_limit
        y_encoded[batch.items[best.item[neutral]], best.anchor[neutral], self.background_id] = 0

    def _write_positives(
        self,
        y_encoded: np.ndarray,
        batch: _GroundTruthBatch,
        gt_boxes: np.ndarray,
        gt_of_anchor: np.ndarray,
    ) -> None:
        """Writes one-hot classes and encoded offsets of every matched anchor."""
        items, anchors = np.nonzero(gt_of_anchor >= 0)
        rows = gt_of_anchor[items, anchors]
        items = batch.items[items]
        class_ids = batch.labels[rows, _GT_CLASS].astype(int)
        y_encoded[items, anchors, : self.n_classes] = 0
        y_encoded[items, anchors, class_ids] = 1
        variances = np.broadcast_to(self.variances, (len(rows), 4))
        y_encoded[items, anchors, OFFSETS] = _encode_offsets(
            gt_boxes[rows], self._anchors[anchors], variances, self.coords
        )


# ----------------------------------------------------------------------------------------------
# Ground truth


class _GroundTruthBatch:
    """The non-empty items of a batch stacked into one array, with their bookkeeping.

    Attributes:
        size: Number of images B in the batch (empty ones included).
        labels: `(R, 5)` float64, every box of every non-empty item, item by item.
        items: `(M,)` batch index of each non-empty item.
        counts: `(M,)` number of boxes of each non-empty item.
        starts: `(M,)` first stacked row of each non-empty item.
        row_item: `(R,)` position in `items` of each row.
        row_rank: `(R,)` index of each row inside its own item.
    """

    def __init__(self, ground_truth_labels: Sequence[Any], n_classes: int, background_id: int):
        self.size = len(ground_truth_labels)
        arrays, items = [], []
        for index, labels in enumerate(ground_truth_labels):
            labels = _as_label_array(index, labels)
            if labels is not None:
                arrays.append(labels)
                items.append(index)
        self.items = np.array(items, dtype=int)
        self.counts = np.array([len(array) for array in arrays], dtype=int)
        self.starts = np.cumsum(self.counts) - self.counts
        self.labels = np.concatenate(arrays) if arrays else np.zeros((0, _GT_COLUMNS))
        self.n_rows = len(self.labels)
        self.row_item = np.repeat(np.arange(len(items)), self.counts)
        self.row_rank = np.arange(self.n_rows) - self.starts[self.row_item]
        self._check_values(n_classes, background_id)

    def _describe(self, row: int) -> str:
        """`ground_truth_labels[i] box j [values]` for a stacked row."""
        item = self.items[self.row_item[row]]
        values = self.labels[row].tolist()
        return f"ground_truth_labels[{item}] box {self.row_rank[row]} {values}"

    def _check_values(self, n_classes: int, background_id: int) -> None:
        """Raises for the first row with a non-finite value, a bad class id or no area."""
        self._check_finite()
        self._check_class_ids(n_classes, background_id)
        self._check_extents()

    def _check_finite(self) -> None:
        finite = np.isfinite(self.labels)
        row = _first_true(~finite.all(axis=1))
        if row is not None:
            value = self.labels[row][~finite[row]][0]
            raise ValueError(f"{self._describe(row)}: non-finite value {value}")

    def _check_class_ids(self, n_classes: int, background_id: int) -> None:
        class_ids = self.labels[:, _GT_CLASS]
        allowed = (
            (class_ids == np.floor(class_ids))
            & (class_ids >= 0)
            & (class_ids < n_classes)
            & (class_ids != background_id)
        )
        row = _first_true(~allowed)
        if row is not None:
            valid = (
                f"1..{n_classes - 1}"
                if background_id == 0
                else f"0..{n_classes - 1} except background_id={background_id}"
            )
            raise ValueError(
                f"{self._describe(row)}: class id {class_ids[row]} is not an integer in {valid}"
            )

    def _check_extents(self) -> None:
        widths = self.labels[:, _GT_XMAX] - self.labels[:, _GT_XMIN]
        heights = self.labels[:, _GT_YMAX] - self.labels[:, _GT_YMIN]
        row = _first_true((widths <= 0) | (heights <= 0))
        if row is not None:
            side, value = ("xmax - xmin", widths[row])
            if widths[row] > 0:
                side, value = ("ymax - ymin", heights[row])
            raise DegenerateBoxError(
                f"{self._describe(row)}: degenerate box, {side} = {value} <= 0; boxes with "
                "xmax <= xmin or ymax <= ymin would produce NaN targets"
            )

    def check_inside_image(self, img_height: float, img_width: float) -> None:
        """Raises for the first box that does not overlap the `img_height x img_width` image.

        A box is outside when `xmin >= img_width`, `xmax <= 0`, `ymin >= img_height` or
        `ymax <= 0` (pixels); a box that is only partly outside is fine.

        Raises:
            BoxOutsideImageError: Naming the batch item, the box and the image size.
        """
        boxes = self.labels
        outside = (
            (boxes[:, _GT_XMIN] >= img_width)
            | (boxes[:, _GT_XMAX] <= 0)
            | (boxes[:, _GT_YMIN] >= img_height)
            | (boxes[:, _GT_YMAX] <= 0)
        )
        row = _first_true(outside)
        if row is not None:
            raise BoxOutsideImageError(
                f"{self._describe(row)}: the box lies entirely outside the image of "
                f"img_height={img_height}, img_width={img_width} and would be matched to an "
                "anchor anyway; drop it (e.g. with a BoxFilter) or fix the labels or image size"
            )


def _as_label_array(index: int, labels: Any) -> np.ndarray | None:
    """Item `index` of a batch as a float `(k, 5)` array, or None if it is empty."""
    try:
        array = np.asarray(labels, dtype=float)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"ground_truth_labels[{index}] is not a numeric (k, {_GT_COLUMNS}) array: {error}"
        ) from error
    if array.size == 0:
        return None
    if array.ndim != 2 or array.shape[1] != _GT_COLUMNS:
        raise ValueError(
            f"ground_truth_labels[{index}] must have shape (k, {_GT_COLUMNS}) with rows "
            f"(class_id, xmin, ymin, xmax, ymax), got shape {array.shape}"
        )
    return array


def _first_true(mask: np.ndarray) -> int | None:
    """Index of the first True in a 1-D mask, or None."""
    found = np.flatnonzero(mask)
    return int(found[0]) if found.size else None


# ----------------------------------------------------------------------------------------------
# Matching


def _match_bipartite_batch(similarities: _Similarities, batch: _GroundTruthBatch) -> np.ndarray:
    """Greedy bipartite matching of every item at once, as `match_bipartite_greedy` per item.

    Round t (one per ground-truth rank) gives every item with more than t boxes one match: among
    its rows, the first whose best remaining IoU is largest takes its first best anchor, then
    that row and that anchor column count as zero inside the item. Matched rows keep competing
    with value 0, so once nothing positive is left the item's row 0 is re-matched to anchor 0
    and rows never picked keep anchor 0, as in the original
    (docs/differences.md#encoder-rematch-anchor-0).

    Matched rows are tracked as (anchor 0, value 0), and only rows whose best anchor may have
    moved are rescanned, with their item's taken columns zeroed.

    Args:
        similarities: IoUs of the stacked ground truth with the anchors.
        batch: The stacked batch the rows belong to.

    Returns:
        `(R,)` int array, the anchor matched to every stacked row.
    """
    n_items, k_max = len(batch.counts), batch.counts.max()
    best_anchor, best_value = similarities.best_per_row()
    matched = np.zeros(batch.n_rows, dtype=bool)
    matches = np.zeros(batch.n_rows, dtype=int)
    taken = np.zeros((n_items, k_max), dtype=int)  # anchor picked by item m in round t
    # best_of_rank[m, j]: best remaining IoU of box j of item m (-inf past the item's boxes).
    best_of_rank = np.full((n_items, k_max), -np.inf)
    for rank in range(k_max):
        active = batch.counts > rank
        best_of_rank[batch.row_item, batch.row_rank] = best_value
        chosen = batch.starts[active] + best_of_rank[active].argmax(axis=1)
        taken[active, rank] = best_anchor[chosen]
        matches[chosen] = best_anchor[chosen]
        matched[chosen] = True
        best_anchor[chosen] = 0
        best_value[chosen] = 0
        rows = np.flatnonzero(active[batch.row_item] & ~matched)
        item_taken = taken[batch.row_item[rows], : rank + 1]
        _rescan_rows(similarities, rows, item_taken, best_anchor, best_value)
    return matches


def _rescan_rows(
    similarities: _Similarities,
    rows: np.ndarray,
    taken: np.ndarray,
    best_anchor: np.ndarray,
    best_value: np.ndarray,
) -> None:
    """Updates the first argmax of `rows` once column `taken[i, -1]` of row `rows[i]` is
    zeroed (`taken[i]`: all columns zeroed so far for that row's item).

    Only rows whose first maximum can have moved are rescanned: the zeroed column was their
    maximum, or zero now ties with or beats a maximum that is not positive. (A NaN maximum only
    moves when its own column is zeroed.)"""
    zeroed = taken[:, -1]
    anchor, value = best_anchor[rows], best_value[rows]
    stale = (anchor == zeroed) | (value < 0) | ((value == 0) & (zeroed < anchor))
    rows, taken = rows[stale], taken[stale]
    if rows.size:
        weights = similarities.dense_rows(rows)
        weights[np.arange(len(rows))[:, np.newaxis], taken] = 0
        best_anchor[rows] = weights.argmax(axis=1)
        best_value[rows] = weights[np.arange(len(rows)), best_anchor[rows]]


class _BestGroundTruth:
    """For every (item, anchor) among given (row, anchor, IoU) pairs: the best IoU over the
    item's rows and the first stacked row reaching it (`np.argmax` order over the rows).

    Args:
        rows: `(P,)` stacked ground-truth rows.
        anchors: `(P,)` anchor indices.
        values: `(P,)` IoUs.
        batch: The stacked batch.

    Attributes:
        item: `(Q,)` position of the item in `batch.items`.
        anchor: `(Q,)` anchor index.
        iou: `(Q,)` largest IoU of the anchor over the given rows of the item.
        row: `(Q,)` first stacked ground-truth row with that IoU.
    """

    def __init__(
        self,
        rows: np.ndarray,
        anchors: np.ndarray,
        values: np.ndarray,
        batch: _GroundTruthBatch,
    ):
        items = batch.row_item[rows]
        order = np.lexsort((rows, -values, anchors, items))
        items, anchors = items[order], anchors[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (items[1:] != items[:-1]) | (anchors[1:] != anchors[:-1])
        self.item = items[first]
        self.anchor = anchors[first]
        self.iou = values[order][first]
        self.row = rows[order][first]


# ----------------------------------------------------------------------------------------------
# IoU of a stacked batch with the anchors


class _AnchorTable:
    """All anchors factored into (layer, box type) groups along the feature-map axes.

    Inside a layer an anchor's x extent depends only on its grid column and box type and its
    y extent only on its grid row and box type (the generator broadcasts centres and sizes), so
    the anchors are described by one x interval per (group, column) and one y interval per
    (group, row). The flat index of anchor (row i, column j, box b) of a layer starting at
    `start` is `start + (i * fw + j) * n_boxes + b` = `row_offset + column_offset`.

    Args:
        boxes_list: Per layer `(fh, fw, n_boxes, 4)` anchors (any format).
        corners: `(N, 4)` the same anchors as corners, in the flat order.

    Attributes:
        corners: `(N, 4)` anchor corners.
        column_min, column_max, column_group, column_offset: `(CX,)` per (group, column),
            grouped by group.
        row_min, row_max, row_group, row_offset: `(CY,)` per (group, row), likewise.
        anchor_group: `(N,)` group of every anchor.
        n_groups: Number of groups G.
    """

    def __init__(self, boxes_list: list[np.ndarray], corners: np.ndarray):
        self.corners = corners
        columns, rows, groups = [], [], []
        start = 0
        for boxes in boxes_list:
            fh, fw, n_boxes = boxes.shape[:3]
            grid = corners[start : start + fh * fw * n_boxes].reshape(fh, fw, n_boxes, 4)
            groups.append(np.tile(len(columns) + np.arange(n_boxes), fh * fw))
            for box in range(n_boxes):
                group = len(columns)
                columns.append(
                    (grid[0, :, box, 0], grid[0, :, box, 2], group, np.arange(fw) * n_boxes)
                )
                row_offset = start + np.arange(fh) * fw * n_boxes + box
                rows.append((grid[:, 0, box, 1], grid[:, 0, box, 3], group, row_offset))
            start += fh * fw * n_boxes
        self.n_groups = len(columns)
        self.anchor_group = np.concatenate(groups)
        self.column_min, self.column_max, self.column_group, self.column_offset = _stack_table(
            columns
        )
        self.row_min, self.row_max, self.row_group, self.row_offset = _stack_table(rows)
        self._column_group_starts = _run_starts(self.column_group)
        self._row_group_starts = _run_starts(self.row_group)
        self._area_cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def areas(self, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Anchor areas with border correction `d`: `(N,)` areas, `(G,)` minimum and
        `(G,)` maximum per group."""
        if d not in self._area_cache:
            areas = _corner_areas(self.corners, d)
            smallest = np.full(self.n_groups, np.inf)
            largest = np.full(self.n_groups, -np.inf)
            np.minimum.at(smallest, self.anchor_group, areas)
            np.maximum.at(largest, self.anchor_group, areas)
            self._area_cache[d] = (areas, smallest, largest)
        return self._area_cache[d]

    def overlaps(self, gt_corners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Overlap lengths `min(max) - max(min)` of `(R, 4)` corner boxes with every
        (group, column) x interval, `(R, CX)`, and every (group, row) y interval, `(R, CY)`.
        Not clipped at 0."""
        x_min, y_min, x_max, y_max = (gt_corners[:, [i]] for i in range(4))
        widths = np.minimum(x_max, self.column_max) - np.maximum(x_min, self.column_min)
        heights = np.minimum(y_max, self.row_max) - np.maximum(y_min, self.row_min)
        return widths, heights

    def block_bounds(
        self, widths: np.ndarray, heights: np.ndarray, gt_areas: np.ndarray, d: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Bounds on the IoUs of each ground-truth box with each group, both `(R, G)`.

        With `d >= 0` every box and anchor contains its intersection, so the union is at least
        `max(A_gt, A_anchor)` and no IoU of a group exceeds `upper = I_max /
        max(A_gt, min A_anchor)`, `I_max` being the largest overlap width times the largest
        overlap height. The anchor on that row and column has intersection `I_max` and an IoU
        of at least `lower = I_max / (A_gt + max A_anchor - I_max)`.
        """
        _, smallest, largest = self.areas(d)
        widest = np.maximum.reduceat(np.maximum(widths, 0), self._column_group_starts, axis=1)
        tallest = np.maximum.reduceat(np.maximum(heights, 0), self._row_group_starts, axis=1)
        largest_intersection = widest * tallest
        gt_areas = gt_areas[:, np.newaxis]
        upper = largest_intersection / np.maximum(gt_areas, smallest)
        lower = largest_intersection / (gt_areas + largest - largest_intersection)
        return upper, lower

    def intersections(
        self, widths: np.ndarray, heights: np.ndarray, blocks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (box, anchor) pair with a positive intersection area.

        The area is `max(0, width) * max(0, height)` of the overlaps, the same operations as
        `intersection_area_` (no border correction).

        Args:
            widths: `(R, CX)` x overlaps from `overlaps`.
            heights: `(R, CY)` y overlaps from `overlaps`.
            blocks: Optional `(R, G)` mask; only (box, group) blocks marked True are listed.

        Returns:
            `(rows, anchors, areas)`, `(E,)` each, ordered by row.
        """
        w_rows, w_columns = np.nonzero(widths > 0)
        h_rows, h_columns = np.nonzero(heights > 0)
        w_groups, h_groups = self.column_group[w_columns], self.row_group[h_columns]
        if blocks is not None:
            w_keep = blocks[w_rows, w_groups]
            w_rows, w_columns, w_groups = w_rows[w_keep], w_columns[w_keep], w_groups[w_keep]
            h_keep = blocks[h_rows, h_groups]
            h_rows, h_columns, h_groups = h_rows[h_keep], h_columns[h_keep], h_groups[h_keep]
        # Inside one ground-truth row and group, every positive height pairs with every positive
        # width. The (row, group) keys of the widths are sorted, so each key's widths are a run.
        w_per_key = np.bincount(w_rows * self.n_groups + w_groups, minlength=widths.size)
        w_run_start = np.cumsum(w_per_key) - w_per_key
        h_keys = h_rows * self.n_groups + h_groups
        pairs_per_height = w_per_key[h_keys]
        pair_start = np.cumsum(pairs_per_height) - pairs_per_height
        width_index = np.arange(pairs_per_height.sum()) + np.repeat(
            w_run_start[h_keys] - pair_start, pairs_per_height
        )
        rows = np.repeat(h_rows, pairs_per_height)
        anchors = np.repeat(self.row_offset[h_columns], pairs_per_height)
        anchors += self.column_offset[w_columns][width_index]
        areas = widths[w_rows, w_columns][width_index] * np.repeat(
            heights[h_rows, h_columns], pairs_per_height
        )
        return rows, anchors, areas


def _run_starts(values: np.ndarray) -> np.ndarray:
    """Start index of every run of equal values in a 1-D array."""
    return np.flatnonzero(np.r_[True, values[1:] != values[:-1]])


def _stack_table(parts: list[tuple]) -> tuple[np.ndarray, ...]:
    """Concatenates per-group `(min, max, group, offset)` tuples into four flat arrays."""
    minima, maxima, groups, offsets = zip(*parts, strict=True)
    return (
        np.concatenate(minima),
        np.concatenate(maxima),
        np.concatenate(
            [np.full(len(part), group) for part, group in zip(minima, groups, strict=True)]
        ),
        np.concatenate(offsets),
    )


# Relative slack on the pruning bounds, far above the rounding of the few operations involved.
_BOUND_SLACK = 1e-9


class _Similarities:
    """IoU of the stacked ground truth with every anchor, as the original's `iou` gives it.

    The values are those of `iou(gt, anchors, coords, 'outer_product', border_pixels)`:
    intersection without border correction, areas with `d`
    (docs/differences.md#iou-border-pixels). Non-intersecting pairs have IoU `0 / union`:
    exactly 0 unless the union is 0 (NaN).

    Two forms:

    * dense, the full `(R, N)` matrix, when non-intersecting pairs matter: a `floor` <= 0,
      or a zero union somewhere;
    * sparse otherwise: the intersecting pairs only, and for `border_pixels` other than
      `'exclude'` only those of (box, group) blocks that may hold an IoU >= `floor` or the
      box's largest IoU (see `_AnchorTable.block_bounds`). Full rows are recomputed on
      demand.

    Args:
        table: The anchors.
        gt_corners: `(R, 4)` ground-truth corners (as `iou` converts them).
        border_pixels: Border mode of the areas.
        floor: Smallest IoU `at_least` will be asked for.
    """

    def __init__(
        self, table: _AnchorTable, gt_corners: np.ndarray, border_pixels: str, floor: float
    ):
        d = border_pixel_offset(border_pixels)
        self._table = table
        self._gt_areas = _corner_areas(gt_corners, d)
        self._anchor_areas = table.areas(d)[0]
        self._widths, self._heights = table.overlaps(gt_corners)
        self.n_rows, self.n_anchors = len(gt_corners), len(table.corners)
        all_rows = np.arange(self.n_rows)
        zero_union = np.isin(-self._gt_areas, self._anchor_areas).any()
        self.matrix = self._dense(all_rows) if not floor > 0 or zero_union else None
        if self.matrix is not None:
            return
        blocks = None
        if d >= 0:
            upper, lower = table.block_bounds(self._widths, self._heights, self._gt_areas, d)
            needed = np.minimum(floor, lower.max(axis=1, keepdims=True) * (1 - _BOUND_SLACK))
            blocks = upper * (1 + _BOUND_SLACK) >= needed
        self.rows, self.anchors, self.values = self._pairs(all_rows, blocks)
        self.row_counts = np.bincount(self.rows, minlength=self.n_rows)
        self.row_starts = np.cumsum(self.row_counts) - self.row_counts

    def _pairs(
        self, rows: np.ndarray, blocks: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Intersecting pairs of `rows` (all of them, or those of `blocks`) with IoUs;
        the returned rows index into `rows`."""
        local, anchors, intersection = self._table.intersections(
            self._widths[rows], self._heights[rows], blocks
        )
        union = self._gt_areas[rows][local] + self._anchor_areas[anchors] - intersection
        with np.errstate(divide="ignore", invalid="ignore"):  # zero unions, as iou()
            return local, anchors, intersection / union

    def _dense(self, rows: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):  # 0 / 0 = NaN, as iou()
            out = 0.0 / np.add.outer(self._gt_areas[rows], self._anchor_areas)
        local, anchors, values = self._pairs(rows)
        out[local, anchors] = values
        return out

    def dense_rows(self, rows: np.ndarray) -> np.ndarray:
        """`(len(rows), N)` copy of the IoU matrix rows `rows`."""
        return self.matrix[rows] if self.matrix is not None else self._dense(rows)

    def best_per_row(self) -> tuple[np.ndarray, np.ndarray]:
        """First argmax anchor and maximum IoU of every row, as `argmax(axis=1)`."""
        if self.matrix is not None:
            best_anchor = self.matrix.argmax(axis=1)
            return best_anchor, self.matrix[np.arange(self.n_rows), best_anchor]
        best_value = np.zeros(self.n_rows)
        best_anchor = np.zeros(self.n_rows, dtype=int)
        filled = self.row_counts > 0
        best_value[filled] = np.maximum.reduceat(self.values, self.row_starts[filled])
        on_max = np.flatnonzero(self.values == np.repeat(best_value, self.row_counts))
        # The first anchor with the maximum: smallest anchor index among the row's maxima.
        best_anchor[filled] = self.n_anchors
        np.minimum.at(best_anchor, self.rows[on_max], self.anchors[on_max])
        # A row whose best listed IoU is not positive has its maximum among the zeros.
        unclear = np.flatnonzero(~(best_value > 0))
        if unclear.size:
            weights = self.dense_rows(unclear)
            best_anchor[unclear] = weights.argmax(axis=1)
            best_value[unclear] = weights[np.arange(unclear.size), best_anchor[unclear]]
        return best_anchor, best_value

    def at_least(
        self, floor: float, batch: _GroundTruthBatch, bipartite: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Pairs with IoU >= `floor` once the bipartite anchors of each item are zeroed.

        An (item, anchor) with a NaN IoU (zero union, dense form only) is left out: the
        original's `argmax` and `amax` over the item's rows return the NaN, which neither
        matches nor makes the anchor neutral.

        Args:
            floor: Lower bound (inclusive).
            batch: The stacked batch.
            bipartite: `(R,)` anchor matched to each row by the bipartite matching.

        Returns:
            `(rows, anchors, values)` of the kept pairs.
        """
        if self.matrix is None:
            keep = np.flatnonzero(self.values >= floor)
            rows, anchors, values = self.rows[keep], self.anchors[keep], self.values[keep]
            skipped = (batch.row_item, bipartite)  # zeroed, hence below the positive floor
        else:
            same_item = bipartite[_item_rows_padded(batch)]
            self.matrix[np.arange(self.n_rows)[:, np.newaxis], same_item] = 0
            rows, anchors = np.nonzero(self.matrix >= floor)
            values = self.matrix[rows, anchors]
            nan_rows, nan_anchors = np.nonzero(np.isnan(self.matrix))
            skipped = (batch.row_item[nan_rows], nan_anchors)
        excluded = np.zeros((len(batch.items), self.n_anchors), dtype=bool)
        excluded[skipped] = True
        keep = ~excluded[batch.row_item[rows], anchors]
        return rows[keep], anchors[keep], values[keep]


def _item_rows_padded(batch: _GroundTruthBatch) -> np.ndarray:
    """`(R, k_max)`: for every row, the stacked rows of its item (padded with the first)."""
    ranks = np.minimum(np.arange(batch.counts.max()), batch.counts[batch.row_item, np.newaxis] - 1)
    return batch.starts[batch.row_item, np.newaxis] + ranks


# ----------------------------------------------------------------------------------------------
# Box arithmetic


def _encode_offsets(
    gt_boxes: np.ndarray, anchors: np.ndarray, variances: np.ndarray, coords: str
) -> np.ndarray:
    """Targets of boxes relative to their anchors, divided by the variances.

    Args:
        gt_boxes: `(..., 4)` boxes in `coords` format.
        anchors: `(..., 4)` anchors in the same format and scale.
        variances: `(..., 4)` variances.
        coords: `'centroids'`: `((cx - cx_a) / (w_a * v0), (cy - cy_a) / (h_a * v1),
            ln(w / w_a) / v2, ln(h / h_a) / v3)`; `'corners'` / `'minmax'`: every coordinate
            `(g - a) / size_a / v` with the anchor's width for x and its height for y.

    Returns:
        `(..., 4)` float64 offsets.
    """
    if coords == "centroids":
        offsets = np.empty(np.broadcast_shapes(gt_boxes.shape, anchors.shape))
        centre, size = slice(0, 2), slice(2, 4)
        offsets[..., centre] = (gt_boxes[..., centre] - anchors[..., centre]) / (
            anchors[..., size] * variances[..., centre]
        )
        offsets[..., size] = np.log(gt_boxes[..., size] / anchors[..., size]) / variances[..., size]
        return offsets
    x_pair, y_pair = _X_PAIR[coords], _Y_PAIR[coords]
    offsets = gt_boxes - anchors
    widths = anchors[..., x_pair[1]] - anchors[..., x_pair[0]]
    heights = anchors[..., y_pair[1]] - anchors[..., y_pair[0]]
    offsets[..., x_pair] /= widths[..., np.newaxis]
    offsets[..., y_pair] /= heights[..., np.newaxis]
    return offsets / variances


def _to_corners(boxes: np.ndarray, coords: str) -> np.ndarray:
    """`(..., 4)` boxes in `coords` format -> corners, the way `iou` converts them."""
    if coords == "centroids":
        return convert_coordinates(boxes, 0, "centroids2corners")
    if coords == "minmax":
        return convert_coordinates(boxes, 0, "minmax2corners")
    return boxes


def _corner_areas(corners: np.ndarray, d: int) -> np.ndarray:
    """Areas `(xmax - xmin + d) * (ymax - ymin + d)` of `(..., 4)` corner boxes."""
    return (corners[..., 2] - corners[..., 0] + d) * (corners[..., 3] - corners[..., 1] + d)


def _as_predictor_sizes(predictor_sizes: Any) -> np.ndarray:
    sizes = np.array(predictor_sizes)
    if sizes.ndim == 1:
        sizes = sizes[np.newaxis]
    if sizes.ndim != 2 or sizes.shape[1] != 2 or sizes.shape[0] == 0:
        raise ValueError(
            f"predictor_sizes must be a list of (height, width) pairs, got {predictor_sizes!r}"
        )
    return sizes


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"Unexpected value {name}={value!r}; supported values are {allowed}")
