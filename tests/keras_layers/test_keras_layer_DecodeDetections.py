"""Tests of DecodeDetections, DecodeDetectionsFast and their shared core (_decoding)."""

import doctest
import importlib
from pathlib import Path

import keras
import numpy as np
import pytest

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
    indices, kept = _decoding.greedy_nms(
        keras.ops.convert_to_tensor(boxes),
        keras.ops.convert_to_tensor(scores),
        keras.ops.convert_to_tensor(valid),
        iou_threshold,
        max_output_size,
    )
    return np.asarray(indices), np.asarray(kept)


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
    import tensorflow as tf

    y_pred = tf.constant(random_predictions(10, batch=1))
    layer = DecodeDetections(img_height=10, img_width=10)
    with tf.GradientTape() as tape:
        tape.watch(y_pred)
        total = tf.reduce_sum(layer(y_pred))
    assert tape.gradient(total, y_pred) is None


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
