"""Matching ground-truth boxes to anchor boxes from a similarity (usually IoU) matrix.

Both functions take a `(m, n)` weight matrix whose rows are the `m` ground-truth boxes of one
image and whose columns are the `n` anchor boxes.
"""

from __future__ import annotations

import numpy as np


def match_bipartite_greedy(weight_matrix: np.ndarray) -> np.ndarray:
    """Greedy one-to-one matching: every ground-truth box gets its own anchor.

    Repeats `m` times: among all remaining (ground truth, anchor) pairs pick the one with the
    largest weight, record it, then remove its row and its column by zeroing them. Ties go to the
    lowest index (`np.argmax` order), first for the anchor of each row, then for the row.

    Once every remaining weight is zero, the pair picked is ground truth 0 with anchor 0, which
    overwrites ground truth 0's earlier match; rows that were never picked keep anchor 0. The
    original library behaved this way and training targets depend on it, so it is kept.

    Args:
        weight_matrix: `(m, n)` array of non-negative weights. Not modified.

    Returns:
        `(m,)` int array: the anchor index matched to each ground-truth row.
    """
    weights = np.array(weight_matrix, copy=True)
    num_gt = weights.shape[0]
    rows = np.arange(num_gt)
    matches = np.zeros(num_gt, dtype=int)
    for _ in range(num_gt):
        best_anchor = np.argmax(weights, axis=1)  # (m,)
        gt_index = np.argmax(weights[rows, best_anchor])
        anchor_index = best_anchor[gt_index]
        matches[gt_index] = anchor_index
        weights[gt_index] = 0
        weights[:, anchor_index] = 0
    return matches


def match_multi(weight_matrix: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Many-to-one matching: each anchor joins its best ground truth if the weight is high enough.

    For every anchor (column) take the ground-truth row with the largest weight (the lowest row
    index on ties) and keep the pair when that weight is `>= threshold`.

    Args:
        weight_matrix: `(m, n)` array of weights.
        threshold: Lower bound (inclusive) on the weight of a kept pair.

    Returns:
        `(gt_indices, anchor_indices)`: two int arrays of equal length `k` listing the kept
        pairs in increasing anchor order.
    """
    weights = np.asarray(weight_matrix)
    best_gt = np.argmax(weights, axis=0)  # (n,)
    best_weight = weights[best_gt, np.arange(weights.shape[1])]
    anchor_indices = np.nonzero(best_weight >= threshold)[0]
    return best_gt[anchor_indices], anchor_indices
