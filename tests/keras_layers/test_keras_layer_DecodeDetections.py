"""Tests of DecodeDetections, DecodeDetectionsFast and their shared core (_decoding)."""

import doctest
import importlib
from pathlib import Path

import keras
import numpy as np
import pytest
from autodiff import gradients

from keras_layers import _decoding
from keras_layers.keras_layer_DecodeDetections import DecodeDetections
from keras_layers.keras_layer_DecodeDetectionsFast import DecodeDetectionsFast
from ssd_encoder_decoder.ssd_output_decoder import decode_detections, decode_detections_fast

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
GOLDEN_DECODE = {"iou_threshold": 0.45, "top_k": 200, "nms_max_output_size": 400}
SSD7_SIZE = {"img_height": 300, "img_width": 480}
DECODERS = [DecodeDetections, DecodeDetectionsFast]


# ----------------------------------------------------------------------------------------------
# Helpers


def row_set(rows: np.ndarray) -> np.ndarray:
    """Non-zero detection rows in a canonical order (class, then descending confidence)."""
    rows = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    rows = rows[np.any(rows != 0.0, axis=1)]
    return rows[np.lexsort((-rows[:, 1], rows[:, 0]))]


def assert_same_detections(actual, expected, atol=1e-4):
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected, strict=True):
        got, want = row_set(got), row_set(want)
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=atol)


def random_predictions(seed: int, batch=3, n_classes=5, grid=10, sharpness=3.0):
    """Raw model output of shape (batch, grid*grid*3, n_classes + 12), normalised centroids."""
    rng = np.random.default_rng(seed)
    centers = (np.arange(grid) + 0.5) / grid
    cy, cx = np.meshgrid(centers, centers, indexing="ij")
    sizes = np.array([[0.15, 0.15], [0.25, 0.12], [0.12, 0.25]])
    anchors = np.concatenate(
        [
            np.repeat(np.stack([cx.ravel(), cy.ravel()], axis=-1), len(sizes), axis=0),
            np.tile(sizes, (grid * grid, 1)),
        ],
        axis=-1,
    )
    n_boxes = len(anchors)
    logits = sharpness * rng.normal(size=(batch, n_boxes, n_classes))
    scores = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    offsets = rng.normal(scale=0.5, size=(batch, n_boxes, 4))
    variances = np.broadcast_to([0.1, 0.1, 0.2, 0.2], (batch, n_boxes, 4))
    anchors = np.broadcast_to(anchors, (batch, n_boxes, 4))
    return np.concatenate([scores, offsets, anchors, variances], axis=-1).astype(np.float32)


def iou_reference(box, others) -> np.ndarray:
    """IoU of one corner box with each of `others` as TF's NMS measures it (0 without area)."""
    others = np.asarray(others, dtype=np.float64).reshape(-1, 4)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    w = np.maximum(np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0]), 0.0)
    h = np.maximum(np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1]), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = w * h / (area + areas - w * h)
    return np.where((area > 0) & (areas > 0), iou, 0.0)


def nms_reference(boxes, scores, valid, iou_threshold, max_output_size) -> list[int]:
    """Plain greedy NMS, one box at a time."""
    order = sorted(np.flatnonzero(valid), key=lambda i: (-scores[i], i))
    kept: list[int] = []
    for i in order:
        if len(kept) == max_output_size:
            break
        if np.all(iou_reference(boxes[i], boxes[kept]) <= iou_threshold):
            kept.append(int(i))
    return kept


def run_nms(boxes, scores, valid, iou_threshold, max_output_size):
    """Separate greedy NMS in every (image, group) pair through the shared selection core.

    Every pair becomes an image of its own with a single group, and `top_k = max_output_size`.
    Returns the kept box indices and slot flags, both `(batch, groups, max_output_size)`.
    """
    batch, groups, n = scores.shape
    flat_index, kept = _decoding.select_detections(
        keras.ops.convert_to_tensor(np.repeat(boxes, groups, axis=0)),
        keras.ops.convert_to_tensor(scores.reshape(batch * groups, 1, n)),
        keras.ops.convert_to_tensor(valid.reshape(batch * groups, 1, n)),
        iou_threshold,
        max_output_size,
        max_output_size,
    )
    shape = (batch, groups, max_output_size)
    return np.asarray(flat_index).reshape(shape), np.asarray(kept).reshape(shape)


def select_reference(boxes, scores, valid, iou_threshold, group_cap, top_k) -> list[int]:
    """Flat positions `group * n + box` chosen by per-group NMS, then the global top-k.

    This is the original layer's pipeline: greedy NMS per group capped at `group_cap`, the
    survivors of all groups concatenated group by group, the `top_k` best taken with ties
    resolved by that concatenation order.
    """
    groups, n = scores.shape
    survivors = []
    for g in range(groups):
        kept = nms_reference(boxes, scores[g], valid[g], iou_threshold, group_cap)
        survivors += [(-scores[g, i], g, rank, g * n + i) for rank, i in enumerate(kept)]
    return [flat for *_, flat in sorted(survivors)[:top_k]]


def run_selection(boxes, scores, valid, iou_threshold, group_cap, top_k):
    flat_index, kept = _decoding.select_detections(
        keras.ops.convert_to_tensor(boxes),
        keras.ops.convert_to_tensor(scores),
        keras.ops.convert_to_tensor(valid),
        iou_threshold,
        group_cap,
        top_k,
    )
    flat_index, kept = np.asarray(flat_index), np.asarray(kept)
    for image_kept in kept:  # the kept slots come first
        assert image_kept.tolist() == sorted(image_kept.tolist(), reverse=True)
    return [index[used].tolist() for index, used in zip(flat_index, kept, strict=True)]


def clustered_boxes(rng, batch, n, n_clusters, extent=200.0):
    """Corner boxes jittered around a few centres, so that NMS suppresses most of them."""
    centres = rng.uniform(0, extent, size=(batch, n_clusters, 2))
    which = rng.integers(0, n_clusters, size=(batch, n))
    centre = np.take_along_axis(centres, which[..., None], axis=1)
    centre = centre + rng.normal(scale=2.0, size=(batch, n, 2))
    half = rng.uniform(8, 15, size=(batch, n, 2))
    return np.concatenate([centre - half, centre + half], axis=-1).astype(np.float32)


# ----------------------------------------------------------------------------------------------
# Reference values recorded from the original layers


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN / "ssd7_full_tfkeras_outputs.npz") as data:
        return {key: data[key] for key in data.files}


@pytest.mark.parametrize("threshold", [0.5, 0.01], ids=["conf0p5", "conf0p01"])
@pytest.mark.parametrize("layer_class", DECODERS, ids=["per_class", "fast"])
def test_matches_original_layer_outputs(golden, layer_class, threshold):
    layer = layer_class(confidence_thresh=threshold, **GOLDEN_DECODE, **SSD7_SIZE)
    output = np.asarray(layer(golden["y_pred_after_step"]))
    fast = "_fast" if layer_class is DecodeDetectionsFast else ""
    expected = golden[f"trained_inference{fast}_conf{str(threshold).replace('.', 'p')}"]
    assert output.shape == expected.shape == (2, 200, 6)
    assert_same_detections(output, expected)
    np.testing.assert_array_equal(output[..., 1], expected[..., 1])  # same order, same padding


# ----------------------------------------------------------------------------------------------
# Agreement with the numpy decoders


@pytest.mark.parametrize(
    ("seed", "threshold", "iou_threshold", "top_k"),
    [(0, 0.01, 0.45, 200), (1, 0.3, 0.45, 1000), (2, 0.5, 0.2, 20), (3, 0.2, 0.7, 1)],
)
def test_per_class_matches_numpy_decode_detections(seed, threshold, iou_threshold, top_k):
    y_pred = random_predictions(seed)
    arguments = {"confidence_thresh": threshold, "iou_threshold": iou_threshold, "top_k": top_k}
    layer = DecodeDetections(**arguments, img_height=200, img_width=320)
    expected = decode_detections(
        y_pred, **arguments, img_height=200, img_width=320, border_pixels="half"
    )
    output = np.asarray(layer(y_pred))
    assert output.shape == (3, top_k, 6)
    assert_same_detections(output, expected)
    assert sum(len(item) for item in expected) > 0


@pytest.mark.parametrize("top_k", [200, 2000])
def test_per_class_matches_numpy_on_dense_scores_at_low_threshold(top_k):
    # Every box is a candidate of every class (1200 boxes, 7 object classes, conf 0.01).
    y_pred = random_predictions(14, batch=2, n_classes=8, grid=20, sharpness=0.5)
    assert (y_pred[..., 1:8] > 0.01).mean() > 0.99
    layer = DecodeDetections(top_k=top_k, nms_max_output_size=1200, img_height=300, img_width=300)
    expected = decode_detections(
        y_pred, top_k=top_k, img_height=300, img_width=300, border_pixels="half"
    )
    output = np.asarray(layer(y_pred))
    assert_same_detections(output, expected)
    for rows, want in zip(output, expected, strict=True):
        np.testing.assert_array_equal(rows[: len(want), 1], np.sort(want[:, 1])[::-1])


def deep_survivor_predictions():
    """Raw predictions whose survivors lie deep in scan order.

    Two images of 700 boxes and classes (background, 1, 2). Boxes 0-599 share one anchor and
    have the best class-1 scores, so NMS keeps only box 0 of them; boxes 600-699 sit apart on a
    10x10 grid with lower class-1 scores; all boxes have small class-2 scores.
    """
    rng = np.random.default_rng(15)
    y_pred = np.zeros((2, 700, 3 + 12), np.float32)
    y_pred[:, :600, 1] = 0.9 - 1e-4 * np.arange(600)
    y_pred[:, 600:, 1] = rng.uniform(0.2, 0.4, size=(2, 100))
    y_pred[:, :, 2] = rng.uniform(0.02, 0.05, size=(2, 700))
    y_pred[:, :, 0] = 1.0 - y_pred[:, :, 1] - y_pred[:, :, 2]
    grid = (np.stack(np.meshgrid(np.arange(10), np.arange(10)), -1).reshape(-1, 2) + 0.5) / 10
    y_pred[:, :600, -8:-4] = [0.5, 0.5, 0.1, 0.1]
    y_pred[:, 600:, -8:-6] = grid
    y_pred[:, 600:, -6:-4] = 0.08
    y_pred[:, :, -4:] = 1.0
    return y_pred


def test_per_class_survivors_beyond_the_preselection_also_with_xla():
    y_pred = deep_survivor_predictions()
    assert 600 > 2 * _decoding.PRESELECTED_CANDIDATES
    arguments = {"confidence_thresh": 0.01, "top_k": 150, "img_height": 100, "img_width": 100}
    expected = decode_detections(y_pred, **arguments, border_pixels="half")
    assert [len(rows) for rows in expected] == [150, 150]
    assert all(np.sum(rows[:, 0] == 1) == 101 for rows in expected)
    layer = DecodeDetections(**arguments)
    eager = np.asarray(layer(y_pred))
    assert_same_detections(eager, expected)
    inputs = keras.Input(y_pred.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model.compile(jit_compile=True)
    np.testing.assert_array_equal(model.predict(y_pred, verbose=0)[..., :2], eager[..., :2])


@pytest.mark.parametrize(("seed", "threshold", "top_k"), [(4, 0.5, 200), (5, 0.3, 15)])
def test_fast_matches_numpy_decode_detections_fast(seed, threshold, top_k):
    y_pred = random_predictions(seed)
    layer = DecodeDetectionsFast(
        confidence_thresh=threshold, top_k=top_k, img_height=90, img_width=90
    )
    expected = decode_detections_fast(
        y_pred, confidence_thresh=threshold, top_k=top_k, img_height=90, img_width=90
    )
    assert_same_detections(np.asarray(layer(y_pred)), expected)


def test_absolute_coordinates_without_normalization():
    y_pred = random_predictions(6)
    y_pred[..., -8:-4] *= 100.0  # anchors in pixels of a 100x100 image
    layer = DecodeDetections(confidence_thresh=0.3, normalize_coords=False)
    expected = decode_detections(y_pred, confidence_thresh=0.3, normalize_coords=False)
    assert_same_detections(np.asarray(layer(y_pred)), expected)


# ----------------------------------------------------------------------------------------------
# The NMS core


@pytest.mark.parametrize("iou_threshold", [0.1, 0.45, 0.8])
@pytest.mark.parametrize("max_output_size", [3, 40, 400])
def test_greedy_nms_matches_slow_reference(iou_threshold, max_output_size):
    # More candidates than one block and than the preselection, so with a large
    # max_output_size the scan falls back to sorting all boxes.
    assert _decoding.PRESELECTED_CANDIDATES < 400
    rng = np.random.default_rng(7)
    batch, groups, n = 2, 3, 500
    corner = rng.uniform(0, 80, size=(batch, n, 2))
    size = rng.uniform(5, 40, size=(batch, n, 2))
    boxes = np.concatenate([corner, corner + size], axis=-1).astype(np.float32)
    scores = rng.uniform(size=(batch, groups, n)).astype(np.float32)
    valid = scores > 0.1
    indices, kept = run_nms(boxes, scores, valid, iou_threshold, max_output_size)
    for b in range(batch):
        for g in range(groups):
            expected = nms_reference(
                boxes[b], scores[b, g], valid[b, g], iou_threshold, max_output_size
            )
            assert indices[b, g][kept[b, g]].tolist() == expected
            assert kept[b, g].tolist() == [True] * len(expected) + [False] * (
                max_output_size - len(expected)
            )


def scan_depth(scores, valid, chosen, target) -> int:
    """How many candidates of an image a scan in global order visits to find `chosen`.

    The scan ends when `target` rows are kept, otherwise when the candidates run out.
    """
    if len(chosen) < target:
        return int(valid.sum())
    flat = np.where(valid, scores, -np.inf).ravel()
    order = np.lexsort((np.arange(flat.size), -flat))
    return int(np.flatnonzero(np.isin(order, chosen)).max()) + 1


@pytest.mark.parametrize(
    ("group_cap", "top_k", "iou_threshold", "score_step"),
    [(400, 200, 0.45, 0.0), (120, 300, 0.45, 0.0), (1000, 1000, 0.45, 0.0), (900, 700, 1.0, 0.01)],
    ids=["usual", "cap", "all", "ties_without_suppression"],
)
def test_selection_beyond_the_preselection_matches_reference(
    group_cap, top_k, iou_threshold, score_step
):
    # Clustered boxes: most candidates are suppressed, so the survivors lie deeper in scan
    # order than the first preselected chunk and further chunks must be fetched. With scores
    # rounded to `score_step` most scores are tied, also across the chunk boundaries, and
    # with `iou_threshold=1` every candidate survives (a candidate scanned twice would show).
    rng = np.random.default_rng(12)
    batch, groups, n = 3, 2, 900
    boxes = clustered_boxes(rng, batch, n, n_clusters=100)
    scores = rng.uniform(size=(batch, groups, n)).astype(np.float32)
    if score_step:
        scores = (np.round(scores / score_step) * score_step).astype(np.float32)
    valid = scores > 0.05
    valid[2] = False  # an image without candidates finishes at once
    valid[1, :, : n // 2] = False  # fewer candidates than the others
    selected = run_selection(boxes, scores, valid, iou_threshold, group_cap, top_k)
    depths = []
    for b in range(batch):
        expected = select_reference(boxes[b], scores[b], valid[b], iou_threshold, group_cap, top_k)
        assert selected[b] == expected
        depths.append(scan_depth(scores[b], valid[b], expected, min(top_k, groups * group_cap)))
    assert max(depths) > 2 * _decoding.PRESELECTED_CANDIDATES
    assert selected[2] == []


def test_selection_with_all_scores_equal_follows_flat_order_across_chunks():
    # Nothing overlaps by more than IoU 1 and all scores tie: the scan visits the candidates in
    # flat order, and every chunk must resume right after the previous one.
    rng = np.random.default_rng(16)
    boxes = clustered_boxes(rng, 1, 400, n_clusters=3)
    scores = np.full((1, 2, 400), 0.5, dtype=np.float32)
    selected = run_selection(boxes, scores, np.ones_like(scores, dtype=bool), 1.0, 350, 700)
    assert selected == [list(range(350)) + list(range(400, 750))]


def test_selection_caps_every_group_when_top_k_is_larger():
    rng = np.random.default_rng(13)
    batch, groups, n = 2, 4, 300
    corner = rng.uniform(0, 300, size=(batch, n, 2))
    boxes = np.concatenate([corner, corner + 10.0], axis=-1).astype(np.float32)
    # Group 0 has the best scores everywhere; without the cap it would fill the output alone.
    scores = rng.uniform(size=(batch, groups, n)).astype(np.float32) * [
        [[1.0], [0.5], [0.4], [0.3]]
    ]
    valid = scores > 0.01
    selected = run_selection(boxes, scores, valid, 0.45, 7, 100)
    for b in range(batch):
        expected = select_reference(boxes[b], scores[b], valid[b], 0.45, 7, 100)
        assert selected[b] == expected
        assert np.bincount(np.asarray(expected) // n, minlength=groups).tolist() == [7] * groups


def test_selection_equal_scores_lower_group_then_lower_box_first():
    # Four far-apart boxes; every score is 0.5 except one better box in group 1.
    boxes = np.array([[[0, 0, 1, 1], [5, 5, 6, 6], [10, 10, 11, 11], [20, 20, 21, 21]]], np.float32)
    scores = np.full((1, 3, 4), 0.5, dtype=np.float32)
    scores[0, 1, 3] = 0.75
    valid = np.ones_like(scores, dtype=bool)
    valid[0, 0, 1] = False
    selected = run_selection(boxes, scores, valid, 0.45, 2, 5)
    # Group 1 box 3 first. Then the ties in flat order: group 0 boxes 0 and 2 (box 1 is no
    # candidate, box 3 exceeds the cap of 2), group 1 box 0 (its second and last), group 2 box 0,
    # where top_k = 5 ends the list.
    assert selected == [[7, 0, 2, 4, 8]]
    assert select_reference(boxes[0], scores[0], valid[0], 0.45, 2, 5) == selected[0]


def test_selection_with_fewer_candidates_than_top_k():
    boxes = np.array([[[0, 0, 4, 4], [1, 0, 5, 4], [9, 9, 12, 12]]], np.float32)
    scores = np.array([[[0.9, 0.8, 0.7], [0.1, 0.2, 0.3]]], np.float32)
    valid = np.ones_like(scores, dtype=bool)
    # IoU of boxes 0 and 1 is 12 / 20 = 0.6: box 1 is suppressed in group 0, box 0 in group 1.
    assert run_selection(boxes, scores, valid, 0.45, 400, 200) == [[0, 2, 5, 4]]


def test_nms_iou_exactly_at_threshold_is_kept():
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 5], [0, 0, 10, 6]]], dtype=np.float32)
    scores = np.array([[[0.9, 0.8, 0.7]]], dtype=np.float32)  # IoUs with box 0: 0.5 and 0.6
    valid = np.ones_like(scores, dtype=bool)
    indices, kept = run_nms(boxes, scores, valid, 0.5, 10)
    assert indices[0, 0][kept[0, 0]].tolist() == [0, 1]
    indices, kept = run_nms(boxes, scores, valid, 0.49, 10)
    assert indices[0, 0][kept[0, 0]].tolist() == [0]


def test_nms_equal_scores_prefer_lower_index_and_empty_boxes_never_overlap():
    boxes = np.array([[[0, 0, 10, 10], [0, 0, 10, 10], [5, 5, 5, 5], [5, 5, 5, 5]]], np.float32)
    scores = np.full((1, 1, 4), 0.5, dtype=np.float32)
    indices, kept = run_nms(boxes, scores, np.ones_like(scores, dtype=bool), 0.3, 4)
    assert indices[0, 0][kept[0, 0]].tolist() == [0, 2, 3]


def test_nms_without_candidates():
    boxes = np.zeros((2, 5, 4), np.float32)
    scores = np.ones((2, 2, 5), np.float32)
    _, kept = run_nms(boxes, scores, np.zeros_like(scores, dtype=bool), 0.45, 3)
    assert not kept.any()


def test_decode_centroid_offsets_by_hand():
    row = np.zeros((1, 1, 14), np.float32)
    row[0, 0, -12:] = [1.0, -2.0, np.log(2.0), 0.0, 0.5, 0.5, 0.2, 0.4, 0.1, 0.1, 1.0, 1.0]
    corners = np.asarray(_decoding.decode_centroid_offsets(row, True, 100, 200))
    # cx = 0.1*0.2 + 0.5 = 0.52, cy = -0.2*0.4 + 0.5 = 0.42, w = 0.4, h = 0.4 (relative)
    np.testing.assert_allclose(corners[0, 0], [64.0, 22.0, 144.0, 62.0], rtol=1e-5)


# ----------------------------------------------------------------------------------------------
# Output layout


@pytest.mark.parametrize("layer_class", DECODERS)
def test_output_sorted_zero_padded_and_static_shape(layer_class):
    y_pred = random_predictions(8, batch=2, n_classes=3)
    layer = layer_class(
        confidence_thresh=0.9, top_k=50, nms_max_output_size=4, img_height=10, img_width=10
    )
    output = np.asarray(layer(y_pred))
    assert output.shape == (2, 50, 6) and output.dtype == np.float32
    confidence = output[..., 1]
    assert np.all(np.diff(confidence, axis=1) <= 0)
    empty = confidence == 0
    assert empty.any() and np.all(output[empty] == 0)
    assert np.all(confidence[~empty] > 0.9)
    assert layer.compute_output_shape((None, 300, 15)) == (None, 50, 6)
    symbolic = layer(keras.Input((300, 15)))
    assert tuple(symbolic.shape) == (None, 50, 6)


def test_per_class_caps_each_class_and_fast_uses_one_group():
    # Three far-apart boxes; each class is confident on all of them.
    y_pred = np.zeros((1, 3, 3 + 12), np.float32)
    y_pred[0, :, :3] = [[0.0, 0.55, 0.45], [0.0, 0.6, 0.4], [0.0, 0.7, 0.3]]
    y_pred[0, :, -8:-4] = [[0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]]
    y_pred[0, :, -4:] = 1.0
    per_class = DecodeDetections(nms_max_output_size=2, top_k=10, img_height=1, img_width=1)
    rows = np.asarray(per_class(y_pred))[0]
    np.testing.assert_allclose(rows[:5, :2], [[1, 0.7], [1, 0.6], [2, 0.45], [2, 0.4], [0, 0]])
    fast = DecodeDetectionsFast(nms_max_output_size=2, top_k=10, img_height=1, img_width=1)
    rows = np.asarray(fast(y_pred))[0]
    np.testing.assert_allclose(rows[:3, :2], [[1, 0.7], [1, 0.6], [0, 0]])


def test_fast_drops_background_winners_and_uses_strict_threshold():
    y_pred = np.zeros((1, 3, 3 + 12), np.float32)
    y_pred[0, :, :3] = [[0.8, 0.1, 0.1], [0.2, 0.5, 0.3], [0.25, 0.25, 0.5]]
    y_pred[0, :, -8:-4] = [[0.1, 0.1, 0.1, 0.1], [0.5, 0.5, 0.1, 0.1], [0.9, 0.9, 0.1, 0.1]]
    y_pred[0, :, -4:] = 1.0
    fast = DecodeDetectionsFast(confidence_thresh=0.5, top_k=3, img_height=1, img_width=1)
    rows = np.asarray(fast(y_pred))[0]
    assert rows[:, :2].tolist() == [[0.0, 0.0]] * 3  # 0.5 is not > 0.5; box 0 is background
    fast = DecodeDetectionsFast(confidence_thresh=0.4, top_k=3, img_height=1, img_width=1)
    rows = np.asarray(fast(y_pred))[0]
    assert rows[:, :2].tolist() == [[1.0, 0.5], [2.0, 0.5], [0.0, 0.0]]  # equal: earlier box first


# ----------------------------------------------------------------------------------------------
# Graph modes, serialization


@pytest.mark.parametrize("layer_class", DECODERS)
def test_same_result_in_compiled_model_with_xla(layer_class):
    y_pred = random_predictions(11, grid=12)  # 432 boxes: more than the preselection
    layer = layer_class(confidence_thresh=0.01, **GOLDEN_DECODE, **SSD7_SIZE)
    inputs = keras.Input(y_pred.shape[1:])
    model = keras.Model(inputs, layer(inputs))
    model.compile(jit_compile=True)
    compiled = model.predict(y_pred, batch_size=2, verbose=0)
    eager = np.asarray(layer(y_pred))
    np.testing.assert_array_equal(compiled[..., :2], eager[..., :2])  # XLA may round boxes apart
    np.testing.assert_allclose(compiled, eager, rtol=1e-5, atol=1e-4)
    single = model.predict(y_pred[:1], batch_size=1, verbose=0)  # re-traced for another batch
    np.testing.assert_array_equal(single, compiled[:1])
    assert_same_detections(compiled, eager)


@pytest.mark.parametrize("layer_class", DECODERS)
def test_serialization_round_trip_with_non_default_arguments(layer_class, tmp_path):
    arguments = {
        "confidence_thresh": 0.35,
        "iou_threshold": 0.3,
        "top_k": 17,
        "nms_max_output_size": 5,
        "coords": "centroids",
        "normalize_coords": True,
        "img_height": 120,
        "img_width": 250,
    }
    inputs = keras.Input((300, 17))
    model = keras.Model(inputs, layer_class(**arguments, name="decoded_predictions")(inputs))
    path = tmp_path / "decoder.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    y_pred = random_predictions(9, batch=2)
    np.testing.assert_array_equal(
        loaded.predict(y_pred, verbose=0), model.predict(y_pred, verbose=0)
    )
    config = loaded.get_layer("decoded_predictions").get_config()
    assert {key: config[key] for key in arguments} == arguments
    assert type(loaded.get_layer("decoded_predictions")) is layer_class


def test_no_gradient_flows_back():
    layer = DecodeDetections(img_height=10, img_width=10)
    _, (gradient,), _ = gradients(
        lambda y_pred: (keras.ops.sum(layer(y_pred)), ()), [random_predictions(10, batch=1)]
    )
    # No gradient at all on TensorFlow and PyTorch; JAX reports zeros for a stopped gradient.
    assert gradient is None or not np.any(gradient)


# ----------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("layer_class", DECODERS)
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"coords": "corners", "img_height": 1, "img_width": 1}, "coords='corners'"),
        ({"img_width": 300}, "img_height=None"),
        ({"img_height": 300}, "img_width=None"),
        ({"normalize_coords": False, "top_k": 0}, "top_k=0"),
        ({"normalize_coords": False, "nms_max_output_size": 2.5}, "nms_max_output_size=2.5"),
        ({"normalize_coords": False, "iou_threshold": 1.5}, "iou_threshold=1.5"),
        ({"normalize_coords": False, "confidence_thresh": "high"}, "confidence_thresh='high'"),
    ],
)
def test_invalid_arguments(layer_class, arguments, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        layer_class(**arguments)


@pytest.mark.parametrize("layer_class", DECODERS)
@pytest.mark.parametrize("shape", [(10, 13), (10, 12), (None, 16), (10,)])
def test_input_without_classes_or_static_shape(layer_class, shape):
    layer = layer_class(normalize_coords=False)
    with pytest.raises(ValueError, match="input_shape"):
        layer(keras.Input(shape))


@pytest.mark.parametrize(
    "module", ["keras_layer_DecodeDetections", "keras_layer_DecodeDetectionsFast"]
)
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(f"keras_layers.{module}"))
    assert result.attempted > 0 and result.failed == 0
