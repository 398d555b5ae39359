"""Reference encoder written the straightforward way: one image at a time.

`encode_per_image` produces the same `y_encoded` as `SSDInputEncoder.__call__` but takes
the direct route of the original library: the target template is tiled layer by layer for the
batch, then every image gets its own IoU matrix, its own greedy bipartite matching
(`match_bipartite_greedy`) and its own threshold matching (`match_multi`), and the offsets are
finally encoded over the whole tensor, unmatched anchors included. It serves two purposes:

* the speed baseline of `benchmarks/bench_encoder_decoder.py`;
* a slow but obviously correct reference for the encoder tests.

It reads the anchors and settings of an existing `SSDInputEncoder` and does no input checking
beyond the degenerate-box test the original had.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from bounding_box_utils.bounding_box_utils import convert_coordinates, iou
from ssd_encoder_decoder.matching_utils import match_bipartite_greedy, match_multi
from ssd_encoder_decoder.ssd_input_encoder import DegenerateBoxError, SSDInputEncoder


def tiled_template(encoder: SSDInputEncoder, batch_size: int) -> np.ndarray:
    """The `(B, N, C + 12)` template built like the original: tile every layer, concatenate."""
    layers = [
        np.tile(boxes[np.newaxis], (batch_size, 1, 1, 1, 1)).reshape(batch_size, -1, 4)
        for boxes in encoder.boxes_list
    ]
    anchors = np.concatenate(layers, axis=1)
    classes = np.zeros((batch_size, anchors.shape[1], encoder.n_classes))
    variances = np.zeros_like(anchors) + encoder.variances
    return np.concatenate((classes, anchors, anchors, variances), axis=2)


def _labels_in_coords(encoder: SSDInputEncoder, labels: np.ndarray) -> np.ndarray:
    """One image's `(k, 5)` labels with the box columns in the encoder's format and scale."""
    labels = labels.astype(float)
    if encoder.normalize_coords:
        labels[:, [2, 4]] /= encoder.img_height
        labels[:, [1, 3]] /= encoder.img_width
    if encoder.coords == "centroids":
        return convert_coordinates(labels, 1, "corners2centroids", encoder.border_pixels)
    if encoder.coords == "minmax":
        return convert_coordinates(labels, 1, "corners2minmax")
    return labels


def _match_one_image(encoder: SSDInputEncoder, y_item: np.ndarray, labels: np.ndarray) -> None:
    """Matches one image's boxes to the anchors and writes them into `y_item` (N, C + 12)."""
    if np.any(labels[:, 3] - labels[:, 1] <= 0) or np.any(labels[:, 4] - labels[:, 2] <= 0):
        raise DegenerateBoxError(f"degenerate ground-truth box in {labels.tolist()}")
    labels = _labels_in_coords(encoder, labels)
    one_hot = np.eye(encoder.n_classes)[labels[:, 0].astype(int)]
    targets = np.concatenate([one_hot, labels[:, 1:5]], axis=1)
    similarities = iou(
        labels[:, 1:5],
        y_item[:, -12:-8],
        coords=encoder.coords,
        mode="outer_product",
        border_pixels=encoder.border_pixels,
    )
    bipartite = match_bipartite_greedy(similarities)
    y_item[bipartite, :-8] = targets
    similarities[:, bipartite] = 0
    if encoder.matching_type == "multi":
        gt_rows, anchors = match_multi(similarities, encoder.pos_iou_threshold)
        y_item[anchors, :-8] = targets[gt_rows]
        similarities[:, anchors] = 0
    neutral = np.nonzero(np.amax(similarities, axis=0) >= encoder.neg_iou_limit)[0]
    y_item[neutral, encoder.background_id] = 0


def _encode_in_place(y: np.ndarray, coords: str) -> None:
    """Replaces the ground-truth columns `[..., -12:-8]` by offsets from the anchors."""
    if coords == "centroids":
        y[:, :, [-12, -11]] -= y[:, :, [-8, -7]]
        y[:, :, [-12, -11]] /= y[:, :, [-6, -5]] * y[:, :, [-4, -3]]
        y[:, :, [-10, -9]] /= y[:, :, [-6, -5]]
        y[:, :, [-10, -9]] = np.log(y[:, :, [-10, -9]]) / y[:, :, [-2, -1]]
        return
    if coords == "corners":
        x_columns, y_columns, x_size, y_size = [-12, -10], [-11, -9], (-6, -8), (-5, -7)
    else:
        x_columns, y_columns, x_size, y_size = [-12, -11], [-10, -9], (-7, -8), (-5, -6)
    y[:, :, -12:-8] -= y[:, :, -8:-4]
    y[:, :, x_columns] /= (y[:, :, x_size[0]] - y[:, :, x_size[1]])[..., np.newaxis]
    y[:, :, y_columns] /= (y[:, :, y_size[0]] - y[:, :, y_size[1]])[..., np.newaxis]
    y[:, :, -12:-8] /= y[:, :, -4:]


def encode_per_image(
    encoder: SSDInputEncoder, ground_truth_labels: Sequence[np.ndarray], diagnostics: bool = False
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Encodes a batch like `encoder(ground_truth_labels, diagnostics)`, image by image.

    Args:
        encoder: The encoder whose anchors and settings are used.
        ground_truth_labels: One `(k, 5)` array per image, rows
            `(class_id, xmin, ymin, xmax, ymax)` in pixels; size-0 arrays for no objects.
        diagnostics: Also return the copy with zeroed offset columns.

    Returns:
        `y_encoded` `(B, N, C + 12)` float64, or `(y_encoded, y_matched_anchors)`.
    """
    y = tiled_template(encoder, len(ground_truth_labels))
    y[:, :, encoder.background_id] = 1
    for item, labels in enumerate(ground_truth_labels):
        labels = np.asarray(labels)
        if labels.size:
            _match_one_image(encoder, y[item], labels.astype(float))
    with np.errstate(divide="ignore", invalid="ignore"):  # zero-size clipped anchors give NaN
        _encode_in_place(y, encoder.coords)
    if diagnostics:
        matched = np.copy(y)
        matched[:, :, -12:-8] = 0
        return y, matched
    return y
