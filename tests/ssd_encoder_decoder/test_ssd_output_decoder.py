"""Tests for ssd_encoder_decoder.ssd_output_decoder.

The vectorised decoders are checked against the reference cases recorded from the original
library, against the straightforward per-image / per-class loop of
`tests/reference/reference_decoder.py` and against a pure-Python greedy NMS written from the
definition.
"""

import itertools
import math
import re

import golden_replay
import numpy as np
import pytest
from reference import reference_decoder
from reference.synthetic_predictions import decode_kwargs, make_predictions

from ssd_encoder_decoder import ssd_output_decoder as decoder
from ssd_encoder_decoder.ssd_output_decoder import (
    _greedy_nms,
    _greedy_nms2,
    _greedy_nms_debug,
    decode_boxes,
    decode_detections,
    decode_detections_debug,
    decode_detections_fast,
    get_num_boxes_per_pred_layer,
    get_pred_layers,
    greedy_nms,
)

BORDER_PIXELS = ("half", "include", "exclude")
BORDER_OFFSET = {"half": 0, "include": 1, "exclude": -1}

# ----------------------------------------------------------------------------------------------
# Reference cases of the original library


@pytest.mark.parametrize("case", golden_replay.cases("decoder."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


_BASELINE_CASES = [
    case
    for case in golden_replay.cases("decoder.")
    if case["callable"] in ("decode_detections", "decode_detections_fast", "greedy_nms")
    and not case.get("expect_exception")
]


@pytest.mark.parametrize("case", _BASELINE_CASES, ids=golden_replay.case_id)
def test_loop_baseline_reproduces_the_original(case):
    # The loop reference used below is itself checked against the original's recorded output.
    kwargs = golden_replay.decode(case["call_kwargs"], golden_replay.inputs(case))
    result = getattr(reference_decoder, case["callable"])(**kwargs)
    flat = {"out@len": len(result)} | {f"out.{i}": rows for i, rows in enumerate(result)}
    golden_replay.compare(case, flat)


# ----------------------------------------------------------------------------------------------
# Helpers: random raw predictions in every coordinate format


def _random_anchors(rng, n_boxes, input_coords):
    """Relative anchors in `input_coords` format (as the encoder would store them)."""
    center = rng.uniform(0.05, 0.95, size=(n_boxes, 2))
    size = rng.uniform(0.05, 0.5, size=(n_boxes, 2))
    return _anchors_in(center, size, input_coords)


def _anchors_in(center, size, input_coords):
    """`(n, 4)` anchors of the given centers and sizes in `input_coords` format."""
    corners = np.concatenate([center - size / 2, center + size / 2], axis=1)
    if input_coords == "centroids":
        return np.concatenate([center, size], axis=1)
    if input_coords == "minmax":
        return corners[:, [0, 2, 1, 3]]
    return corners


def _random_y_pred(
    rng,
    n_images=3,
    n_boxes=250,
    n_classes=6,
    input_coords="centroids",
    active=0.4,
    dtype=np.float32,
    round_scores=None,
):
    """Raw output: background rows plus `active` rows with softmax scores and offsets."""
    logits = np.zeros((n_images, n_boxes, n_classes))
    logits[:, :, 0] = 6.0
    is_active = rng.random((n_images, n_boxes)) < active
    logits[is_active] = rng.normal(0.0, 2.5, size=(int(is_active.sum()), n_classes))
    scores = np.exp(logits)
    scores /= scores.sum(axis=-1, keepdims=True)
    if round_scores:
        scores = np.round(scores, round_scores)
    offsets = rng.normal(0.0, 0.5, size=(n_images, n_boxes, 4))
    anchors = np.broadcast_to(_random_anchors(rng, n_boxes, input_coords), offsets.shape)
    variances = np.broadcast_to([0.1, 0.1, 0.2, 0.2], offsets.shape)
    return np.concatenate([scores, offsets, anchors, variances], axis=-1).astype(dtype)


def _sorted_rows(rows):
    return rows[np.lexsort(rows.T[::-1])] if len(rows) else rows


def _assert_same_detections(actual, expected, same_order=False):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        assert got.shape == want.shape
        assert got.dtype == np.float64
        if not same_order:
            got, want = _sorted_rows(got), _sorted_rows(want)
        np.testing.assert_array_equal(got, want)


# ----------------------------------------------------------------------------------------------
# Vectorised decoders against the loop baseline


@pytest.mark.parametrize("input_coords", ["centroids", "minmax", "corners"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("confidence_thresh", [0.01, 0.5])
def test_decode_detections_matches_loop(input_coords, seed, confidence_thresh):
    rng = np.random.default_rng(seed)
    y_pred = _random_y_pred(rng, input_coords=input_coords)
    for top_k, border_pixels, normalize in [("all", "half", True), (7, "include", False)]:
        kwargs = dict(
            confidence_thresh=confidence_thresh,
            iou_threshold=0.45,
            top_k=top_k,
            input_coords=input_coords,
            normalize_coords=normalize,
            img_height=120,
            img_width=200,
            border_pixels=border_pixels,
        )
        expected = reference_decoder.decode_detections(y_pred, **kwargs)
        actual = decode_detections(y_pred, **kwargs)
        # Without a top_k cut the rows come in the loop's order (class, then NMS order).
        _assert_same_detections(actual, expected, same_order=top_k == "all")


@pytest.mark.parametrize("input_coords", ["centroids", "minmax", "corners"])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("confidence_thresh", [0.01, 0.5])
def test_decode_detections_fast_matches_loop(input_coords, seed, confidence_thresh):
    rng = np.random.default_rng(100 + seed)
    y_pred = _random_y_pred(rng, input_coords=input_coords)
    for top_k, iou_threshold, normalize in [("all", 0.45, True), (5, 0.3, False), (9, None, True)]:
        kwargs = dict(
            confidence_thresh=confidence_thresh,
            iou_threshold=iou_threshold,
            top_k=top_k,
            input_coords=input_coords,
            normalize_coords=normalize,
            img_height=120,
            img_width=200,
        )
        expected = reference_decoder.decode_detections_fast(y_pred, **kwargs)
        actual = decode_detections_fast(y_pred, **kwargs)
        _assert_same_detections(actual, expected, same_order=top_k == "all")


@pytest.mark.parametrize("seed", range(3))
def test_top_k_cut_with_tied_scores_keeps_the_loops_rows(seed):
    # Scores rounded to two decimals: many ties, also at the top_k cut.
    rng = np.random.default_rng(200 + seed)
    y_pred = _random_y_pred(rng, n_boxes=300, round_scores=2, dtype=np.float64)
    for top_k in (1, 10, 25):
        kwargs = dict(confidence_thresh=0.05, top_k=top_k, img_height=100, img_width=100)
        _assert_same_detections(
            decode_detections(y_pred, **kwargs),
            reference_decoder.decode_detections(y_pred, **kwargs),
        )
        _assert_same_detections(
            decode_detections_fast(y_pred, **kwargs),
            reference_decoder.decode_detections_fast(y_pred, **kwargs),
        )


def test_decode_detections_row_order_and_top_k():
    rng = np.random.default_rng(7)
    y_pred = _random_y_pred(rng, n_images=2, n_boxes=400)
    everything = decode_detections(y_pred, 0.05, top_k="all", img_height=10, img_width=10)
    cut = decode_detections(y_pred, 0.05, top_k=12, img_height=10, img_width=10)
    for rows, top in zip(everything, cut, strict=True):
        assert len(rows) > 12
        # class ascending, inside a class descending confidence
        order = np.lexsort((-rows[:, 1], rows[:, 0]))
        np.testing.assert_array_equal(order, np.arange(len(rows)))
        # the cut keeps the 12 highest confidences and does not reorder them
        np.testing.assert_array_equal(np.sort(top[:, 1]), np.sort(rows[:, 1])[-12:])
        positions = [int(np.flatnonzero((rows == row).all(axis=1))[0]) for row in top]
        assert positions == sorted(positions)


def test_decode_detections_fast_rows_by_descending_confidence():
    rng = np.random.default_rng(8)
    y_pred = _random_y_pred(rng, n_images=2, n_boxes=400)
    for rows in decode_detections_fast(y_pred, 0.3, img_height=10, img_width=10):
        assert len(rows) > 3
        assert np.all(np.diff(rows[:, 1]) <= 0)


@pytest.mark.parametrize("seed", range(2))
def test_decode_detections_debug_matches_decode_detections(seed):
    rng = np.random.default_rng(300 + seed)
    y_pred = _random_y_pred(rng)
    kwargs = dict(confidence_thresh=0.1, top_k=15, img_height=50, img_width=80)
    debug = decode_detections_debug(y_pred, **kwargs)
    plain = decode_detections(y_pred, **kwargs)
    for rows_debug, rows, item in zip(debug, plain, y_pred, strict=True):
        np.testing.assert_array_equal(rows_debug[:, 1:], rows)
        # the box index points at the row of y_pred that produced the detection
        anchors = rows_debug[:, 0].astype(int)
        np.testing.assert_array_equal(item[anchors, rows[:, 0].astype(int)], rows[:, 1])


def test_variance_encoded_in_target():
    rng = np.random.default_rng(9)
    y_pred = _random_y_pred(rng, dtype=np.float64)
    unit_variances = y_pred.copy()
    unit_variances[..., -4:] = 1.0
    kwargs = dict(confidence_thresh=0.1, top_k=30, img_height=50, img_width=80)
    _assert_same_detections(
        decode_detections_debug(y_pred, variance_encoded_in_target=True, **kwargs),
        decode_detections_debug(unit_variances, **kwargs),
    )


# ----------------------------------------------------------------------------------------------
# NMS carried only as far as the top_k cut needs, against the loop baseline

# (_PREFIX_PER_ROW, _MIN_PREFIX, _PREFIX_GROWTH): the defaults, and tiny first passes that make
# almost every image grow its prefix several times.
_PREFIX_SETTINGS = {"default": (2, 64, 4), "tiny-prefix": (0, 1, 2), "one-row-per-cut": (1, 1, 3)}


@pytest.fixture(params=sorted(_PREFIX_SETTINGS))
def prefix_settings(request, monkeypatch):
    per_row, minimum, growth = _PREFIX_SETTINGS[request.param]
    monkeypatch.setattr(decoder, "_PREFIX_PER_ROW", per_row)
    monkeypatch.setattr(decoder, "_MIN_PREFIX", minimum)
    monkeypatch.setattr(decoder, "_PREFIX_GROWTH", growth)
    return request.param


@pytest.fixture
def nms_passes(monkeypatch):
    """Records the number of candidates of every NMS pass the decoders make."""
    passes = []
    grouped_greedy_nms = decoder._grouped_greedy_nms

    def recording(boxes, *args, **kwargs):
        passes.append(len(boxes))
        return grouped_greedy_nms(boxes, *args, **kwargs)

    monkeypatch.setattr(decoder, "_grouped_greedy_nms", recording)
    return passes


def _clustered_y_pred(
    rng, n_images=3, n_clusters=12, per_cluster=25, n_classes=4, input_coords="centroids"
):
    """Dense raw output: every cluster is `per_cluster` nearly identical boxes.

    NMS keeps about one box per cluster and class, so most candidates are suppressed and the
    best candidates of an image hold few survivors.
    """
    centers = np.repeat(rng.uniform(0.2, 0.8, size=(n_clusters, 2)), per_cluster, axis=0)
    sizes = np.repeat(rng.uniform(0.1, 0.3, size=(n_clusters, 2)), per_cluster, axis=0)
    n_boxes = n_clusters * per_cluster
    anchors = _anchors_in(centers + rng.normal(0, 0.01, centers.shape), sizes, input_coords)
    logits = rng.normal(0.0, 1.0, size=(n_images, n_boxes, n_classes))
    logits[:, :, 0] += 1.0
    scores = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    offsets = rng.normal(0.0, 0.05, size=(n_images, n_boxes, 4))
    return np.concatenate(
        [
            scores,
            offsets,
            np.broadcast_to(anchors, offsets.shape),
            np.broadcast_to([0.1, 0.1, 0.2, 0.2], offsets.shape),
        ],
        axis=-1,
    )


def _mixed_batch(rng, input_coords, dense):
    """Sparse or dense images, one of them without any candidate, one with every box active."""
    if dense:
        y_pred = _clustered_y_pred(rng, input_coords=input_coords)
    else:
        y_pred = _random_y_pred(rng, n_images=3, n_boxes=200, input_coords=input_coords)
        y_pred = np.concatenate(
            [y_pred, _random_y_pred(rng, 1, 200, input_coords=input_coords, active=1.0)]
        )
    y_pred[1, :, 1:-12] = 0.0  # an image without candidates
    return y_pred


@pytest.mark.parametrize("input_coords", ["centroids", "minmax", "corners"])
@pytest.mark.parametrize("dense", [False, True], ids=["sparse", "dense"])
@pytest.mark.parametrize("seed", range(2))
def test_top_k_cut_matches_loop_for_any_prefix(prefix_settings, input_coords, dense, seed):
    rng = np.random.default_rng(400 + seed)
    y_pred = _mixed_batch(rng, input_coords, dense)
    for confidence_thresh, top_k, normalize in itertools.product(
        [0.01, 0.2], [1, 7, 40, 10_000, "all"], [True, False]
    ):
        kwargs = dict(
            confidence_thresh=confidence_thresh,
            top_k=top_k,
            input_coords=input_coords,
            normalize_coords=normalize,
            img_height=120,
            img_width=200,
        )
        expected = reference_decoder.decode_detections(y_pred, **kwargs)
        actual = decode_detections(y_pred, **kwargs)
        _assert_same_detections(actual, expected, same_order=top_k in ("all", 10_000))
        assert actual[1].shape == (0, 6)
        debug = decode_detections_debug(y_pred, **kwargs)
        for rows_debug, rows in zip(debug, actual, strict=True):
            np.testing.assert_array_equal(rows_debug[:, 1:], rows)
        for iou_threshold in (0.45, None):
            fast_kwargs = kwargs | {"iou_threshold": iou_threshold}
            _assert_same_detections(
                decode_detections_fast(y_pred, **fast_kwargs),
                reference_decoder.decode_detections_fast(y_pred, **fast_kwargs),
                same_order=top_k in ("all", 10_000),
            )


def test_dense_images_grow_the_prefix(monkeypatch, nms_passes):
    monkeypatch.setattr(decoder, "_MIN_PREFIX", 8)
    y_pred = _clustered_y_pred(np.random.default_rng(7), 2, n_clusters=8, per_cluster=40)
    kwargs = dict(confidence_thresh=0.05, top_k=20, img_height=100, img_width=100)
    actual = decode_detections(y_pred, **kwargs)
    _assert_same_detections(actual, reference_decoder.decode_detections(y_pred, **kwargs))
    assert [len(rows) for rows in actual] == [20, 20]
    # First pass: the best 40 candidates of each image hold fewer than 20 survivors.
    assert len(nms_passes) > 1
    assert nms_passes[0] == 2 * 40


def test_sparse_images_need_only_their_best_candidates(nms_passes):
    y_pred = _random_y_pred(np.random.default_rng(8), n_images=2, n_boxes=1000, active=0.5)
    kwargs = dict(confidence_thresh=0.01, top_k=30, img_height=100, img_width=100)
    n_candidates = int((y_pred[:, :, 1:-12] > 0.01).sum())
    _assert_same_detections(
        decode_detections(y_pred, **kwargs), reference_decoder.decode_detections(y_pred, **kwargs)
    )
    assert nms_passes == [2 * 64] and n_candidates > 10 * 2 * 64


def _first_rows_in_score_order(rows, top_k):
    """The `top_k` best rows, ties going to the earlier row (what argpartition need not do)."""
    return rows[np.argsort(-rows[:, 1], kind="stable")[:top_k]]


@pytest.mark.parametrize("seed", range(3))
def test_ties_at_the_cut_keep_argpartitions_rows(nms_passes, seed):
    # Scores rounded to two decimals: the cut often falls inside a run of equal scores, and
    # np.argpartition then keeps other rows than "the first ones in score order".
    rng = np.random.default_rng(200 + seed)
    y_pred = _random_y_pred(rng, n_images=4, n_boxes=300, round_scores=2, dtype=np.float64)
    kwargs = dict(confidence_thresh=0.05, img_height=100, img_width=100)
    everything = reference_decoder.decode_detections(y_pred, top_k="all", **kwargs)
    differs = 0
    for top_k in (5, 10, 40):
        expected = reference_decoder.decode_detections(y_pred, top_k=top_k, **kwargs)
        actual = decode_detections(y_pred, top_k=top_k, **kwargs)
        _assert_same_detections(actual, expected)
        for rows, want in zip(everything, expected, strict=True):
            naive = _first_rows_in_score_order(rows, top_k)
            differs += not np.array_equal(_sorted_rows(naive), _sorted_rows(want))
    assert differs > 0, "no tie at a cut where argpartition's choice matters"
    # Images with a tie at the cut were redone with all their candidates.
    assert len(nms_passes) > 3


@pytest.mark.parametrize("template_name", ["SSD7", "SSD300"])
def test_benchmark_predictions_match_loop(template_name):
    encoder_kwargs = golden_replay.config(template_name)
    y_pred = make_predictions(encoder_kwargs, n_images=1, seed=3)
    kwargs = decode_kwargs(encoder_kwargs)
    _assert_same_detections(
        decode_detections(y_pred, **kwargs), reference_decoder.decode_detections(y_pred, **kwargs)
    )


@pytest.mark.parametrize(
    "function", [decode_detections, decode_detections_fast, decode_detections_debug]
)
@pytest.mark.parametrize(("value", "column"), [(np.nan, 2), (np.inf, -10), (-np.inf, -1)])
def test_non_finite_y_pred_is_refused(function, value, column):
    y_pred = _random_y_pred(np.random.default_rng(0), n_images=3)
    y_pred[2, 17, column] = value
    message = r"y_pred. holds NaN or infinite values at image 2 \(first at box 17, column "
    with pytest.raises(ValueError, match=message):
        function(y_pred, img_height=10, img_width=10)


# ----------------------------------------------------------------------------------------------
# Thresholds exactly on the boundary


def _one_anchor_y_pred(scores):
    """One image, one anchor at (0.5, 0.5, 0.2, 0.2) with zero offsets and the given scores."""
    row = [*scores, 0, 0, 0, 0, 0.5, 0.5, 0.2, 0.2, 0.1, 0.1, 0.2, 0.2]
    return np.array([[row]], dtype=np.float64)


def test_confidence_threshold_is_strict_in_decode_detections():
    y_pred = _one_anchor_y_pred([0.5, 0.5])
    assert decode_detections(y_pred, 0.5, img_height=10, img_width=10)[0].shape == (0, 6)
    rows = decode_detections(y_pred, 0.4999, img_height=10, img_width=10)[0]
    np.testing.assert_allclose(rows, [[1, 0.5, 4, 4, 6, 6]])


def test_confidence_threshold_is_inclusive_in_decode_detections_fast():
    y_pred = _one_anchor_y_pred([0.25, 0.5, 0.25])
    rows = decode_detections_fast(y_pred, 0.5, img_height=10, img_width=10)[0]
    np.testing.assert_allclose(rows, [[1, 0.5, 4, 4, 6, 6]])
    assert decode_detections_fast(y_pred, 0.5001, img_height=10, img_width=10)[0].shape == (0, 6)


def test_scores_are_compared_in_the_precision_of_the_decoded_boxes():
    # float32(0.3) is slightly above 0.3. The original compared float64 copies of the scores
    # after decoding centroids (kept), but float32 scores for corners input (equal, dropped).
    centroids = _one_anchor_y_pred([0.7, 0.3]).astype(np.float32)
    corners = centroids.copy()
    corners[..., -8:-4] = [0.4, 0.4, 0.6, 0.6]
    assert len(decode_detections(centroids, 0.3, img_height=10, img_width=10)[0]) == 1
    assert (
        len(decode_detections(corners, 0.3, input_coords="corners", img_height=10, img_width=10)[0])
        == 0
    )


def test_decode_detections_fast_tie_with_background_is_background():
    y_pred = _one_anchor_y_pred([0.5, 0.5])
    assert decode_detections_fast(y_pred, 0.1, img_height=10, img_width=10)[0].shape == (0, 6)


# ----------------------------------------------------------------------------------------------
# Greedy NMS against a pure-Python implementation of the definition


def _python_iou(a, b, d):
    """IoU as defined by the library: intersection without `d`, areas with it."""
    inter_w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    intersection = inter_w * inter_h
    union = (a[2] - a[0] + d) * (a[3] - a[1] + d) + (b[2] - b[0] + d) * (b[3] - b[1] + d)
    union -= intersection
    try:
        return intersection / union
    except ZeroDivisionError:
        return math.nan


def _python_greedy_nms(scores, boxes, threshold, border_pixels="half"):
    """Indices kept by greedy NMS, in the order they are kept (slow, from the definition).

    Repeatedly take the best remaining box (the first one on ties, a NaN score first, as
    `np.argmax` does) and remove every remaining box whose IoU with it is not `<=` the
    threshold.
    """
    d = BORDER_OFFSET[border_pixels]
    remaining = list(range(len(scores)))
    kept = []
    while remaining:
        nan_scores = [i for i in remaining if math.isnan(scores[i])]
        best = nan_scores[0] if nan_scores else max(remaining, key=lambda i: (scores[i], -i))
        kept.append(best)
        remaining = [
            i for i in remaining if i != best and _python_iou(boxes[i], boxes[best], d) <= threshold
        ]
    return kept


def _nms_rows(rng, n_boxes, grid):
    """`[class, score, xmin, ymin, xmax, ymax]` rows on an integer grid (many exact ties)."""
    xy = rng.integers(0, grid, size=(n_boxes, 2))
    wh = rng.integers(1, grid // 2, size=(n_boxes, 2))
    scores = rng.integers(1, 8, size=n_boxes) / 8
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(float)
    return np.column_stack([rng.integers(1, 4, size=n_boxes), scores, boxes])


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("threshold", [0.0, 0.25, 0.45, 0.5, 0.75, 1.0])
@pytest.mark.parametrize("border_pixels", BORDER_PIXELS)
def test_greedy_nms_matches_definition(seed, threshold, border_pixels):
    rng = np.random.default_rng(seed)
    items = [_nms_rows(rng, n, grid=12) for n in (60, 1, 0, 25)]
    result = greedy_nms(items, threshold, border_pixels=border_pixels)
    for rows, kept_rows in zip(items, result, strict=True):
        kept = _python_greedy_nms(
            rows[:, 1].tolist(), rows[:, 2:].tolist(), threshold, border_pixels
        )
        np.testing.assert_array_equal(kept_rows, rows[kept].reshape(-1, 6))


def _boxes_at_iou(threshold, perturbation):
    """A 10x10 box and a 10 x h box inside it whose IoU is `threshold` (+ perturbation)."""
    height = 10 * threshold + perturbation
    return [[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 10.0, height]]


@pytest.mark.parametrize("threshold", [0.1, 0.3, 0.45, 0.5, 0.7, 0.9])
def test_box_exactly_at_the_threshold_survives(threshold):
    scores = [0.9, 0.8]
    for perturbation, survives in [(0.0, True), (-1e-9, True), (1e-9, False)]:
        boxes = _boxes_at_iou(threshold, perturbation)
        rows = np.column_stack([scores, boxes])
        kept = _greedy_nms(rows, threshold)
        assert len(kept) == (2 if survives else 1), (threshold, perturbation)
        assert kept.tolist() == rows[_python_greedy_nms(scores, boxes, threshold)].tolist()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.45, 0.6])
def test_nms_near_threshold_matches_definition(seed, threshold):
    # Pairs of nested boxes whose IoU is the threshold up to a few units in the last place.
    rng = np.random.default_rng(seed)
    base = _boxes_at_iou(threshold, 0.0)
    boxes = [base[0]]
    height = base[1][3]
    for _ in range(30):
        steps = int(rng.integers(-3, 4))
        nudged = height
        for _ in range(abs(steps)):
            nudged = np.nextafter(nudged, np.inf if steps > 0 else -np.inf)
        boxes.append([0.0, 0.0, 10.0, float(nudged)])
    scores = [1.0, *rng.uniform(0, 0.9, size=30).tolist()]
    rows = np.column_stack([np.ones(len(scores)), scores, boxes])
    kept = _greedy_nms2(rows, threshold)
    np.testing.assert_array_equal(kept, rows[_python_greedy_nms(scores, boxes, threshold)])


@pytest.mark.parametrize("seed", range(3))
def test_nms_with_irregular_boxes_matches_definition(seed):
    # Zero-size, inverted, identical and NaN boxes: the pruning of far-apart pairs must not
    # change anything for them (a NaN IoU suppresses, as `IoU <= threshold` is then False).
    rng = np.random.default_rng(seed)
    rows = _nms_rows(rng, 40, grid=10)
    rows[:4, 2:] = [[2, 2, 2, 2], [5, 5, 3, 3], [2, 2, 2, 2], [1, 1, 1, 6]]
    rows[4, 2:] = [np.nan, 0, 1, 1]
    for threshold, border_pixels in itertools.product([0.0, 0.5, -0.5], BORDER_PIXELS):
        kept = _greedy_nms_debug(rows, threshold, border_pixels=border_pixels)
        expected = _python_greedy_nms(
            rows[:, 1].tolist(), rows[:, 2:].tolist(), threshold, border_pixels
        )
        np.testing.assert_array_equal(kept, rows[expected])


def test_nms_with_nan_scores_matches_definition():
    rng = np.random.default_rng(11)
    rows = _nms_rows(rng, 30, grid=8)
    rows[[3, 7, 20], 1] = np.nan
    for threshold in (0.2, 0.6):
        kept = _greedy_nms2(rows, threshold)
        expected = _python_greedy_nms(rows[:, 1].tolist(), rows[:, 2:].tolist(), threshold)
        np.testing.assert_array_equal(kept, rows[expected])


@pytest.mark.parametrize(
    ("chunk", "loop_pairs_per_box", "loop_min_pairs"),
    [(5, 128, 1 << 18), (1 << 20, 0, 0), (3, 4, 10)],
    ids=["tiny-chunks", "all-groups-crowded", "some-groups-crowded"],
)
def test_chunking_and_crowded_groups_match_definition(
    monkeypatch, chunk, loop_pairs_per_box, loop_min_pairs
):
    # Small bounds force the chunked scoring and the classical loop for crowded groups.
    monkeypatch.setattr(decoder, "_PAIRS_PER_CHUNK", chunk)
    monkeypatch.setattr(decoder, "_LOOP_PAIRS_PER_BOX", loop_pairs_per_box)
    monkeypatch.setattr(decoder, "_LOOP_MIN_PAIRS", loop_min_pairs)
    rng = np.random.default_rng(5)
    items = [_nms_rows(rng, n, grid=grid) for n, grid in [(80, 6), (30, 40), (0, 5), (60, 12)]]
    items[3][:3, 2:] = [[2, 2, 2, 2], [5, 5, 3, 3], [2, 2, 2, 2]]  # irregular boxes
    for threshold, border_pixels in [(0.45, "half"), (0.3, "include"), (0.0, "exclude")]:
        result = greedy_nms(items, threshold, border_pixels=border_pixels)
        for rows, kept_rows in zip(items, result, strict=True):
            kept = _python_greedy_nms(
                rows[:, 1].tolist(), rows[:, 2:].tolist(), threshold, border_pixels
            )
            np.testing.assert_array_equal(kept_rows, rows[kept].reshape(-1, 6))
    y_pred = _random_y_pred(rng, n_boxes=300, active=0.8)
    kwargs = dict(confidence_thresh=0.02, top_k=50, img_height=100, img_width=100)
    _assert_same_detections(
        decode_detections(y_pred, **kwargs), reference_decoder.decode_detections(y_pred, **kwargs)
    )


def test_nms_ties_go_to_the_first_row():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [0, 1, 10, 11]]
    rows = np.column_stack([[0.5, 0.5, 0.5], boxes]).astype(float)
    np.testing.assert_array_equal(_greedy_nms(rows, 0.45), rows[:1])
    np.testing.assert_array_equal(_greedy_nms(rows[::-1], 0.45), rows[2:])


def test_nms_coords_formats_agree():
    rng = np.random.default_rng(3)
    rows = _nms_rows(rng, 50, grid=20)
    corners = rows[:, 2:]
    as_minmax = rows.copy()
    as_minmax[:, 2:] = corners[:, [0, 2, 1, 3]]
    as_centroids = rows.copy()
    as_centroids[:, 2:] = np.column_stack(
        [
            (corners[:, 0] + corners[:, 2]) / 2,
            (corners[:, 1] + corners[:, 3]) / 2,
            corners[:, 2] - corners[:, 0],
            corners[:, 3] - corners[:, 1],
        ]
    )
    kept = greedy_nms([rows], 0.3)[0][:, 1]
    np.testing.assert_array_equal(greedy_nms([as_minmax], 0.3, coords="minmax")[0][:, 1], kept)
    np.testing.assert_array_equal(
        greedy_nms([as_centroids], 0.3, coords="centroids")[0][:, 1], kept
    )


def test_nms_bad_input():
    with pytest.raises(ValueError, match=r"y_pred_decoded\[1\]"):
        greedy_nms([np.zeros((2, 6)), np.zeros((2, 5))])
    with pytest.raises(ValueError, match="coords"):
        greedy_nms([np.ones((2, 6))], coords="xywh")
    with pytest.raises(ValueError, match="border_pixels"):
        _greedy_nms(np.ones((2, 5)), border_pixels="none")


# ----------------------------------------------------------------------------------------------
# Empty inputs and images without detections


def test_images_without_detections_give_empty_rows():
    y_pred = _random_y_pred(np.random.default_rng(0), n_images=2, active=0.0)
    kwargs = dict(img_height=100, img_width=100)
    for result in (decode_detections(y_pred, **kwargs), decode_detections_fast(y_pred, **kwargs)):
        assert [rows.shape for rows in result] == [(0, 6), (0, 6)]
    assert [rows.shape for rows in decode_detections_debug(y_pred, **kwargs)] == [(0, 7)] * 2
    assert get_pred_layers(decode_detections_debug(y_pred, **kwargs), [100, 150]) == [[], []]


def test_only_some_images_have_detections():
    rng = np.random.default_rng(1)
    y_pred = np.concatenate(
        [
            _random_y_pred(rng, 1, active=0.0),
            _random_y_pred(rng, 1),
            _random_y_pred(rng, 1, active=0.0),
        ]
    )
    result = decode_detections(y_pred, 0.2, img_height=100, img_width=100)
    assert result[0].shape == result[2].shape == (0, 6)
    assert len(result[1]) > 0


def test_empty_batches_and_empty_box_axes():
    kwargs = dict(img_height=100, img_width=100)
    assert decode_detections(np.zeros((0, 10, 16)), **kwargs) == []
    assert decode_detections_fast(np.zeros((0, 10, 16)), **kwargs) == []
    for function in (decode_detections, decode_detections_fast):
        assert [rows.shape for rows in function(np.zeros((2, 0, 16)), **kwargs)] == [(0, 6)] * 2
    assert greedy_nms([]) == []
    assert greedy_nms([np.zeros((0, 6))])[0].shape == (0, 6)
    assert _greedy_nms(np.zeros((0, 5))).shape == (0, 5)
    assert _greedy_nms2(np.array([])).shape == (0, 6)


def test_top_k_zero_keeps_nothing():
    y_pred = _random_y_pred(np.random.default_rng(2), n_images=1)
    assert decode_detections(y_pred, top_k=0, img_height=10, img_width=10)[0].shape == (0, 6)


# ----------------------------------------------------------------------------------------------
# Bad arguments


@pytest.mark.parametrize(
    ("function", "shape"),
    [
        (decode_detections, (1, 5, 12)),
        (decode_detections, (5, 13)),
        (decode_detections_debug, (1, 5, 7)),
        (decode_detections_fast, (1, 5, 13)),
    ],
)
def test_y_pred_layout_is_checked(function, shape):
    expected = r"y_pred.*#classes \+ 12.*got shape " + re.escape(str(shape))
    with pytest.raises(ValueError, match=expected):
        function(np.zeros(shape), img_height=1, img_width=1)


def test_a_single_background_class_decodes_to_nothing():
    rows = decode_detections(np.ones((1, 4, 13)), img_height=1, img_width=1)
    assert rows[0].shape == (0, 6)


@pytest.mark.parametrize(
    "function", [decode_detections, decode_detections_fast, decode_detections_debug]
)
def test_bad_arguments(function):
    y_pred = np.zeros((1, 3, 15))
    with pytest.raises(ValueError, match=r"input_coords.*'xywh'"):
        function(y_pred, input_coords="xywh", img_height=1, img_width=1)
    with pytest.raises(ValueError, match=r"img_height=None and img_width=300"):
        function(y_pred, img_width=300)
    with pytest.raises(ValueError, match="top_k"):
        function(y_pred, top_k="some", img_height=1, img_width=1)
    with pytest.raises(ValueError, match="top_k"):
        function(y_pred, top_k=-1, img_height=1, img_width=1)
    with pytest.raises(ValueError, match="border_pixels"):
        function(y_pred, border_pixels="outer", img_height=1, img_width=1)
    # without normalisation no image size is needed
    assert function(y_pred, normalize_coords=False)[0].shape[0] == 0


# ----------------------------------------------------------------------------------------------
# Box decoding by hand


@pytest.mark.parametrize(
    ("input_coords", "anchor", "offsets", "expected"),
    [
        # cx = 0.5 + 1 * 0.1 * 0.2 = 0.52, w = exp(0) * 0.2; cy = 0.4, h = exp(0.5 * 0.2) * 0.4
        (
            "centroids",
            [0.5, 0.4, 0.2, 0.4],
            [1.0, 0.0, 0.0, 0.5],
            [0.42, 0.4 - 0.2 * math.exp(0.1), 0.62, 0.4 + 0.2 * math.exp(0.1)],
        ),
        # xmin = 0.1 + 1 * 0.1 * 0.4 (anchor width), ymax = 0.6 + (-1) * 0.2 * 0.4 (height)
        ("corners", [0.1, 0.2, 0.5, 0.6], [1.0, 0.0, 0.0, -1.0], [0.14, 0.2, 0.5, 0.52]),
        ("minmax", [0.1, 0.5, 0.2, 0.6], [1.0, 0.0, 0.0, -1.0], [0.14, 0.2, 0.5, 0.52]),
    ],
)
def test_decode_boxes_by_hand(input_coords, anchor, offsets, expected):
    y_pred = np.array([[[0.2, 0.8, *offsets, *anchor, 0.1, 0.1, 0.2, 0.2]]])
    np.testing.assert_allclose(decode_boxes(y_pred, input_coords, False)[0, 0], expected)
    np.testing.assert_allclose(
        decode_boxes(y_pred, input_coords, True, 100, 200)[0, 0],
        np.multiply(expected, [200, 100, 200, 100]),
    )


def test_decode_boxes_keeps_leading_axes_and_precision():
    y_pred = _random_y_pred(np.random.default_rng(4), n_images=2, n_boxes=7)
    assert decode_boxes(y_pred, "centroids", False).shape == (2, 7, 4)
    assert decode_boxes(y_pred, "centroids", False).dtype == np.float64
    assert decode_boxes(y_pred[0, :3, -12:], "corners", False).dtype == np.float32


# ----------------------------------------------------------------------------------------------
# Predictor layers of debug detections


def test_get_num_boxes_per_pred_layer():
    sizes = [(3, 4), (2, 2), (1, 1)]
    ratios = [[1.0, 2.0, 0.5], [1.0, 2.0], [3.0]]
    assert get_num_boxes_per_pred_layer(sizes, ratios, True) == [48, 12, 2]
    assert get_num_boxes_per_pred_layer(sizes, ratios, False) == [36, 8, 1]


def test_get_pred_layers():
    rows = [
        np.array(
            [
                [0, 1, 0.9, 0, 0, 1, 1],
                [9, 1, 0.9, 0, 0, 1, 1],
                [10, 2, 0.5, 0, 0, 1, 1],
                [14, 1, 0.9, 0, 0, 1, 1],
                [15, 1, 0.9, 0, 0, 1, 1],
            ],
            dtype=float,
        ),
        np.zeros((0, 7)),
    ]
    assert get_pred_layers(rows, [10, 5, 1]) == [[0, 0, 1, 1, 2], []]
    with pytest.raises(ValueError, match=r"index 15 in row 4 of item 0.*\[0, 15\)"):
        get_pred_layers(rows, [10, 5])
    with pytest.raises(ValueError, match=r"index -1 in row 0 of item 0"):
        get_pred_layers([np.array([[-1, 1, 0.9, 0, 0, 1, 1]])], [10])


def test_get_pred_layers_of_decoded_ssd300_output():
    y_pred = golden_replay.inputs(
        golden_replay.cases("decoder.ssd300.decode_detections.defaults")[0]
    )
    y_pred = y_pred["ypred_ssd300"]
    case = golden_replay.cases("decoder.ssd300.get_num_boxes_per_pred_layer")[0]
    counts = get_num_boxes_per_pred_layer(**case["call_kwargs"])
    rows = decode_detections_debug(y_pred, 0.5, img_height=300, img_width=300)
    layers = get_pred_layers(rows, counts)
    bounds = np.cumsum([0, *counts])
    for item_rows, item_layers in zip(rows, layers, strict=True):
        assert len(item_layers) == len(item_rows) > 0
        for box_index, layer in zip(item_rows[:, 0], item_layers, strict=True):
            assert bounds[layer] <= box_index < bounds[layer + 1]


# ----------------------------------------------------------------------------------------------
# Encode, then decode


def _encoder(name, **overrides):
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    config = golden_replay.config(name)
    config.update(overrides)
    return SSDInputEncoder(**config)


def _as_prediction(y_encoded):
    """y_encoded as a model would ideally predict it: the one-hot classes are the scores."""
    return np.array(y_encoded, dtype=np.float64)


@pytest.mark.parametrize(
    ("name", "height", "width", "labels"),
    [
        ("SSD300", 300, 300, [[12, 146, 52, 386, 264], [15, 1, 1, 221, 235]]),
        (
            "SSD300",
            300,
            300,
            [[3, 10, 20, 60, 90], [3, 200, 150, 290, 280], [7, 100, 40, 180, 140]],
        ),
        ("SSD7", 300, 480, [[1, 20, 30, 120, 110], [2, 300, 150, 460, 290], [5, 200, 20, 260, 60]]),
    ],
)
def test_encode_then_decode_recovers_ground_truth(name, height, width, labels):
    labels = np.array(labels, dtype=float)
    encoder = _encoder(name)
    y_pred = _as_prediction(encoder([labels, labels[:1]]))
    for function in (decode_detections, decode_detections_fast):
        decoded = function(y_pred, 0.5, 0.45, 200, img_height=height, img_width=width)
        for rows, truth in zip(decoded, [labels, labels[:1]], strict=True):
            rows = rows[np.argsort(rows[:, 0], kind="stable")]
            truth = truth[np.argsort(truth[:, 0], kind="stable")]
            assert rows.shape == (len(truth), 6)
            np.testing.assert_array_equal(rows[:, 0], truth[:, 0])
            np.testing.assert_array_equal(rows[:, 1], 1.0)
            np.testing.assert_allclose(rows[:, 2:], truth[:, 1:], atol=1e-6)


def test_reference_vector_of_the_specification():
    # SSD300 VOC encoder with neg_iou_limit 0.5: both boxes come back with confidence 1.
    labels = np.array([[12, 146, 52, 386, 264], [15, 1, 1, 221, 235]], dtype=float)
    y_pred = _as_prediction(_encoder("SSD300", neg_iou_limit=0.5)([labels]))
    rows = decode_detections(
        y_pred, 0.5, 0.45, 200, normalize_coords=True, img_height=300, img_width=300
    )[0]
    np.testing.assert_array_equal(rows[:, :2], [[12, 1.0], [15, 1.0]])
    np.testing.assert_allclose(rows[:, 2:], labels[:, 1:], atol=1e-6)
