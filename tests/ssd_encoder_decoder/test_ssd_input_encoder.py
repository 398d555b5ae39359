"""Tests for ssd_encoder_decoder.ssd_input_encoder."""

import math

import golden_replay
import numpy as np
import pytest
from reference.reference_encoder import encode_per_image, tiled_template

from bounding_box_utils.bounding_box_utils import iou
from ssd_encoder_decoder.matching_utils import match_bipartite_greedy
from ssd_encoder_decoder.ssd_input_encoder import (
    BoxOutsideImageError,
    DegenerateBoxError,
    SSDInputEncoder,
    _GroundTruthBatch,
    _match_bipartite_batch,
)

SQRT2 = math.sqrt(2.0)


@pytest.mark.parametrize("case", golden_replay.cases("encoder."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


def _one_layer_encoder(**overrides):
    """A 100 x 200 (height x width) image with one 1x1 predictor layer."""
    kwargs = dict(
        img_height=100,
        img_width=200,
        n_classes=2,
        predictor_sizes=[[1, 1]],
        scales=[0.5, 0.8],
        aspect_ratios_global=[1.0, 2.0],
        two_boxes_for_ar1=True,
        normalize_coords=False,
        coords="corners",
    )
    kwargs.update(overrides)
    return SSDInputEncoder(**kwargs)


def _class_ids(y, n_classes):
    """Class index of every anchor, -1 for neutral (no class column set)."""
    classes = y[..., :n_classes]
    return np.where(classes.any(axis=-1), classes.argmax(axis=-1), -1)


# ------------------------------------------------------------------------------------------------
# Anchors computed by hand from the anchor rules (ssd_encoder_decoder/anchor_boxes.py)

# 1x1 map on 100 x 200: size = min(100, 200) = 100, centre (cx, cy) = (200 / 2, 100 / 2) =
# (100, 50). Boxes: ratio 1 -> 50 x 50; extra ratio-1 box -> sqrt(0.5 * 0.8) * 100 =
# 63.2455532 square; ratio 2 -> 50 * sqrt(2) x 50 / sqrt(2) = 70.7106781 x 35.3553391.
HALF_EXTRA = 31.622776601683793  # sqrt(0.4) * 100 / 2
ONE_BY_ONE_CORNERS = np.array(
    [
        [75.0, 25.0, 125.0, 75.0],
        [100 - HALF_EXTRA, 50 - HALF_EXTRA, 100 + HALF_EXTRA, 50 + HALF_EXTRA],
        [64.64466094067262, 32.32233047033631, 135.35533905932738, 67.67766952966369],
    ]
)


def test_one_by_one_corners_in_pixels():
    encoder = _one_layer_encoder()
    boxes, (cy, cx), wh_list, steps, offsets = encoder.generate_anchor_boxes_for_layer(
        [1, 1], [1.0, 2.0], 0.5, 0.8, diagnostics=True
    )
    assert boxes.shape == (1, 1, 3, 4)
    np.testing.assert_allclose(boxes[0, 0], ONE_BY_ONE_CORNERS, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cy, [50.0])
    np.testing.assert_allclose(cx, [100.0])
    np.testing.assert_allclose(
        wh_list, [[50, 50], [2 * HALF_EXTRA, 2 * HALF_EXTRA], [50 * SQRT2, 50 / SQRT2]]
    )
    assert steps == (100.0, 200.0)
    assert offsets == (0.5, 0.5)
    np.testing.assert_allclose(encoder.boxes_list[0], boxes, rtol=0, atol=0)
    assert encoder.n_boxes == 3
    plain = encoder.generate_anchor_boxes_for_layer([1, 1], [1.0, 2.0], 0.5, 0.8)
    np.testing.assert_array_equal(plain, boxes)


def test_one_by_one_normalized_corners():
    encoder = _one_layer_encoder(normalize_coords=True)
    expected = ONE_BY_ONE_CORNERS / [200.0, 100.0, 200.0, 100.0]
    np.testing.assert_allclose(encoder.boxes_list[0][0, 0, 0], [0.375, 0.25, 0.625, 0.75])
    np.testing.assert_allclose(encoder.boxes_list[0][0, 0], expected, rtol=0, atol=1e-15)


def test_one_by_one_centroids_and_minmax():
    centroids = _one_layer_encoder(coords="centroids").boxes_list[0][0, 0]
    np.testing.assert_allclose(
        centroids,
        [
            [100, 50, 50, 50],
            [100, 50, 2 * HALF_EXTRA, 2 * HALF_EXTRA],
            [100, 50, 50 * SQRT2, 50 / SQRT2],
        ],
        rtol=0,
        atol=1e-12,
    )
    normalized = _one_layer_encoder(coords="centroids", normalize_coords=True).boxes_list[0]
    np.testing.assert_allclose(normalized[0, 0, 0], [0.5, 0.5, 0.25, 0.5])
    minmax = _one_layer_encoder(coords="minmax").boxes_list[0][0, 0]
    np.testing.assert_allclose(minmax, ONE_BY_ONE_CORNERS[:, [0, 2, 1, 3]], rtol=0, atol=1e-12)


def test_one_box_for_ratio_one_without_two_boxes():
    encoder = _one_layer_encoder(two_boxes_for_ar1=False)
    assert encoder.n_boxes == 2
    np.testing.assert_allclose(encoder.boxes_list[0][0, 0], ONE_BY_ONE_CORNERS[[0, 2]])


def _two_by_two(**overrides):
    """100 x 100 image, one 2x2 layer, a single 40 x 40 box per cell."""
    kwargs = dict(
        img_height=100,
        img_width=100,
        n_classes=3,
        predictor_sizes=[[2, 2]],
        scales=[0.4, 0.9],
        aspect_ratios_global=[1.0],
        two_boxes_for_ar1=False,
        normalize_coords=False,
        coords="corners",
    )
    kwargs.update(overrides)
    return SSDInputEncoder(**kwargs)


def test_two_by_two_default_grid():
    # steps 100 / 2 = 50, offsets 0.5 -> centres 25 and 75 on both axes; cells in row order.
    boxes = _two_by_two().boxes_list[0]
    assert boxes.shape == (2, 2, 1, 4)
    np.testing.assert_array_equal(
        boxes[:, :, 0].reshape(4, 4),
        [[5, 5, 45, 45], [55, 5, 95, 45], [5, 55, 45, 95], [55, 55, 95, 95]],
    )
    assert _two_by_two().steps_diag == [(50.0, 50.0)]
    normalized = _two_by_two(coords="centroids", normalize_coords=True).boxes_list[0]
    np.testing.assert_allclose(normalized[1, 0, 0], [0.25, 0.75, 0.4, 0.4])


def test_two_by_two_step_and_offset_pairs():
    # steps (40, 30), offsets (0.25, 0.5): cy = 10, 50; cx = 15, 45.
    encoder = _two_by_two(steps=[(40, 30)], offsets=[(0.25, 0.5)])
    np.testing.assert_array_equal(
        encoder.boxes_list[0][:, :, 0].reshape(4, 4),
        [[-5, -10, 35, 30], [25, -10, 65, 30], [-5, 30, 35, 70], [25, 30, 65, 70]],
    )
    np.testing.assert_array_equal(encoder.centers_diag[0][0], [10, 50])
    np.testing.assert_array_equal(encoder.centers_diag[0][1], [15, 45])
    assert encoder.steps_diag == [(40, 30)]
    assert encoder.offsets_diag == [(0.25, 0.5)]


def test_two_by_two_clip_below_zero():
    encoder = _two_by_two(steps=[(40, 30)], offsets=[(0.25, 0.5)], clip_boxes=True)
    np.testing.assert_array_equal(
        encoder.boxes_list[0][:, :, 0].reshape(4, 4),
        [[0, 0, 35, 30], [25, 0, 65, 30], [0, 30, 35, 70], [25, 30, 65, 70]],
    )


def test_two_by_two_clip_past_the_image():
    # steps 60 (one number for both axes), offset 0.5: centres 30 and 90; 90 + 20 = 110 -> 99.
    encoder = _two_by_two(steps=[60], offsets=[0.5], clip_boxes=True)
    np.testing.assert_array_equal(
        encoder.boxes_list[0][:, :, 0].reshape(4, 4),
        [[10, 10, 50, 50], [70, 10, 99, 50], [10, 70, 50, 99], [70, 70, 99, 99]],
    )
    unclipped = _two_by_two(steps=[60], offsets=[0.5]).boxes_list[0]
    np.testing.assert_array_equal(unclipped[1, 1, 0], [70, 70, 110, 110])


def test_bad_step_type_names_the_argument():
    with pytest.raises(ValueError, match="steps.*'8'"):
        _two_by_two(steps=["8"])
    with pytest.raises(ValueError, match="offsets"):
        _two_by_two(offsets=[(0.5, 0.5, 0.5)])


# ------------------------------------------------------------------------------------------------
# Reference anchors of the original library and the two tutorial configurations


@pytest.fixture(scope="module")
def ssd300():
    return SSDInputEncoder(**golden_replay.config("SSD300"))


@pytest.fixture(scope="module")
def ssd7():
    return SSDInputEncoder(**golden_replay.config("SSD7"))


def test_anchor_counts(ssd7, ssd300):
    assert ssd7.generate_encoding_template(1).shape == (1, 11692, 6 + 12)
    assert ssd300.generate_encoding_template(2).shape == (2, 8732, 21 + 12)
    assert ssd7.n_boxes == 4
    assert ssd300.n_boxes == [4, 6, 6, 6, 4, 4]


def test_ssd300_reference_anchors(ssd300):
    first = ssd300.boxes_list[0][0, 0]
    np.testing.assert_allclose(first[:, :2], 0.013333, atol=1e-5)
    np.testing.assert_allclose(
        first[:, 2:],
        [[0.1, 0.1], [0.14142, 0.14142], [0.14142, 0.07071], [0.07071, 0.14142]],
        atol=1e-5,
    )
    last = ssd300.generate_encoding_template(1)[0, -1, -8:-4]
    np.testing.assert_allclose(last, [0.5, 0.5, 0.62225, 1.24451], atol=1e-5)


def test_ssd7_reference_anchors(ssd7):
    boxes, (cy, cx), wh_list, (step_h, step_w), _ = ssd7.generate_anchor_boxes_for_layer(
        [37, 60], [0.5, 1.0, 2.0], 0.08, 0.16, diagnostics=True
    )
    assert step_h == pytest.approx(8.1081, abs=1e-4)
    assert step_w == 8.0
    assert cx[0] == 4.0
    assert cy[0] == pytest.approx(4.054, abs=1e-3)
    np.testing.assert_allclose(
        wh_list, [[16.97, 33.94], [24, 24], [33.94, 33.94], [33.94, 16.97]], atol=5e-3
    )
    assert boxes.shape == (37, 60, 4, 4)


def test_ssd300_voc_test_vector(ssd300):
    labels = np.array([[12, 146, 52, 386, 264], [15, 1, 1, 221, 235]])
    y = ssd300([labels])
    classes = _class_ids(y, ssd300.n_classes)[0]
    assert np.count_nonzero(classes > 0) == 16
    assert np.count_nonzero(classes == -1) == 0
    assert set(classes[classes > 0].tolist()) == {12, 15}


# ------------------------------------------------------------------------------------------------
# Fast encoder against the per-image reference


def _random_batch(rng, encoder, batch_size, max_boxes, empty_every=3):
    """Random corner boxes in pixels, some images empty, some boxes sticking out of the image
    (but none entirely outside it, which the encoder refuses)."""
    height, width = encoder.img_height, encoder.img_width
    labels = []
    for item in range(batch_size):
        count = 0 if item % empty_every == empty_every - 1 else int(rng.integers(1, max_boxes + 1))
        x1 = rng.uniform(-0.1 * width, 0.9 * width, count)
        y1 = rng.uniform(-0.1 * height, 0.9 * height, count)
        w = rng.uniform(2, 0.8 * width, count)
        h = rng.uniform(2, 0.8 * height, count)
        if rng.random() < 0.5:  # integer pixels make exact IoU ties likely
            x1, y1, w, h = np.round(x1), np.round(y1), np.ceil(w), np.ceil(h)
        w, h = np.maximum(w, 1 - x1), np.maximum(h, 1 - y1)
        classes = rng.integers(1, encoder.n_classes, count)
        labels.append(np.stack([classes, x1, y1, x1 + w, y1 + h], axis=1))
        if count > 1 and rng.random() < 0.3:  # duplicate box with another class
            labels[-1][1, 1:] = labels[-1][0, 1:]
    return labels


def _assert_same_as_reference(encoder, labels):
    y, matched = encoder(labels, diagnostics=True)
    want, want_matched = encode_per_image(encoder, labels, diagnostics=True)
    assert y.dtype == np.float64
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(matched, want_matched)


@pytest.mark.parametrize("seed", range(4))
def test_ssd7_matches_reference(ssd7, seed):
    rng = np.random.default_rng(seed)
    _assert_same_as_reference(ssd7, _random_batch(rng, ssd7, 6, 12))


@pytest.mark.parametrize("seed", range(4))
def test_ssd300_matches_reference(ssd300, seed):
    rng = np.random.default_rng(100 + seed)
    _assert_same_as_reference(ssd300, _random_batch(rng, ssd300, 6, 12))


@pytest.mark.parametrize("config", ["SSD7", "SSD300"])
def test_recorded_batches_match_reference(config):
    encoder = SSDInputEncoder(**golden_replay.config(config))
    arrays = golden_replay._npz("encoder_inputs.npz")
    for batch in ("batchA_int", "batchB_float", "batchC_diag"):
        prefix = f"{config.lower()}_{batch}_"
        keys = sorted(
            (k for k in arrays if k.startswith(prefix)), key=lambda k: int(k.split("_")[-1])
        )
        _assert_same_as_reference(encoder, [arrays[key] for key in keys])


SMALL_VARIANTS = [
    {},
    {"coords": "corners"},
    {"coords": "minmax", "normalize_coords": False},
    {"border_pixels": "include"},
    {"border_pixels": "exclude", "coords": "corners"},
    {"clip_boxes": True, "steps": [(16, 20), 40], "offsets": [0.3, (0.5, 0.2)]},
    {"matching_type": "bipartite"},
    {"pos_iou_threshold": 0.3, "neg_iou_limit": 0.1},
    {"neg_iou_limit": 0.0},  # every anchor overlapping nothing still counts: dense IoU path
    {"aspect_ratios_per_layer": [[1.0, 3.0], [0.5, 1.0]], "two_boxes_for_ar1": False},
    {"background_id": 3, "n_classes": 3},
]


@pytest.mark.parametrize("variant", SMALL_VARIANTS, ids=str)
@pytest.mark.parametrize("seed", range(3))
def test_small_configs_match_reference(variant, seed):
    kwargs = dict(
        img_height=90,
        img_width=120,
        n_classes=4,
        predictor_sizes=[[6, 8], [3, 3]],
        scales=[0.2, 0.5, 0.9],
        aspect_ratios_global=[1.0, 2.0, 0.5],
    )
    kwargs.update(variant)
    encoder = SSDInputEncoder(**kwargs)
    rng = np.random.default_rng(seed)
    labels = _random_batch(rng, encoder, 5, 8)
    if encoder.background_id != 0:
        for item in labels:
            item[:, 0] -= 1  # classes 0..2, background is column 3
    _assert_same_as_reference(encoder, labels)


def test_every_image_empty(ssd7):
    labels = [np.zeros((0, 5)), np.array([]), np.zeros((0, 5), dtype=int)]
    y = ssd7(labels)
    _assert_same_as_reference(ssd7, labels)
    assert y.shape == (3, 11692, 18)
    np.testing.assert_array_equal(y[..., 0], 1)
    np.testing.assert_array_equal(y[..., 1:10], 0)
    np.testing.assert_array_equal(y[..., -8:], tiled_template(ssd7, 3)[..., -8:])


def test_empty_batch(ssd7):
    assert ssd7([]).shape == (0, 11692, 18)


def test_anchors_are_not_rebuilt_per_call(monkeypatch, ssd7):
    def fail(*args, **kwargs):
        raise AssertionError("anchors recomputed")

    monkeypatch.setattr(ssd7, "generate_anchor_boxes_for_layer", fail)
    ssd7([np.array([[1, 10, 10, 100, 100]])])


# ------------------------------------------------------------------------------------------------
# Matching rules on hand-built cases


def _threshold_encoder(**overrides):
    """Four 40 x 40 anchors (layer 0) plus one ~80 x 40 anchor centred on (45, 25) (layer 1).

    Against the box (5, 5, 85, 45): anchor 0 (5, 5, 45, 45) has IoU 1600 / 3200 = 0.5 exactly,
    anchor 1 (55, 5, 95, 45) has 1200 / 3600 = 1/3 exactly and anchor 4 about 0.999.
    """
    kwargs = dict(
        img_height=100,
        img_width=100,
        n_classes=2,
        predictor_sizes=[[2, 2], [1, 1]],
        scales=[0.4, 0.566, 0.9],
        aspect_ratios_per_layer=[[1.0], [2.0]],
        two_boxes_for_ar1=False,
        steps=[None, (50, 90)],
        offsets=[None, 0.5],
        normalize_coords=False,
        coords="corners",
        pos_iou_threshold=0.5,
        neg_iou_limit=1 / 3,
    )
    kwargs.update(overrides)
    return SSDInputEncoder(**kwargs)


THRESHOLD_BOX = np.array([[2, 5, 5, 85, 45]])


def test_threshold_fixture_ious():
    anchors = _threshold_encoder().generate_encoding_template(1)[0, :, -8:-4]
    ious = iou(THRESHOLD_BOX[:, 1:].astype(float), anchors, coords="corners")[0]
    assert ious[0] == 0.5
    assert ious[1] == 1 / 3
    assert ious[2] == ious[3] == 0
    assert ious[4] > 0.99


def test_iou_exactly_at_thresholds():
    encoder = _threshold_encoder()
    y = encoder([THRESHOLD_BOX, np.zeros((0, 5))])
    # anchor 4: bipartite; anchor 0: multi at IoU == pos threshold; anchor 1: neutral at IoU ==
    # neg limit; anchors 2, 3: background.
    np.testing.assert_array_equal(_class_ids(y, 3), [[2, -1, 0, 0, 2], [0, 0, 0, 0, 0]])
    _assert_same_as_reference(encoder, [THRESHOLD_BOX, np.zeros((0, 5))])


def test_iou_just_below_thresholds():
    encoder = _threshold_encoder(
        pos_iou_threshold=np.nextafter(0.5, 1), neg_iou_limit=np.nextafter(1 / 3, 1)
    )
    y = encoder([THRESHOLD_BOX])
    # anchor 0 is now only neutral (0.5 >= limit), anchor 1 background.
    np.testing.assert_array_equal(_class_ids(y, 3), [[-1, 0, 0, 0, 2]])
    _assert_same_as_reference(encoder, [THRESHOLD_BOX])


def _two_anchor_encoder(**overrides):
    """100 x 200 image, 1x2 map, one 50 x 50 anchor per cell.

    The anchors are (25, 25, 75, 75) and (125, 25, 175, 75).
    """
    kwargs = dict(
        img_height=100,
        img_width=200,
        n_classes=3,
        predictor_sizes=[[1, 2]],
        scales=[0.5, 0.5],
        aspect_ratios_global=[1.0],
        two_boxes_for_ar1=False,
        normalize_coords=False,
        coords="corners",
    )
    kwargs.update(overrides)
    return SSDInputEncoder(**kwargs)


# Box 0 overlaps anchor 1 (IoU 0.64), box 1 is anchor 0, box 2 overlaps no anchor.
REMATCH_LABELS = np.array(
    [[1, 130, 30, 170, 70], [2, 25, 25, 75, 75], [3, 0, 80, 10, 95]], dtype=float
)


def test_rematch_quirk_when_all_remaining_ious_are_zero():
    """Rounds 1 and 2 match box 1 -> anchor 0 and box 0 -> anchor 1; in round 3 every IoU
    left is 0, so box 0 is re-matched to anchor 0 and box 2 keeps the default anchor 0. Anchor 0
    gets the last box written there (box 2, class 3); anchor 1 lost its bipartite match and is
    matched again by the threshold step (box 0, IoU 0.64). Kept from the original, see
    docs/differences.md#encoder-rematch-anchor-0."""
    encoder = _two_anchor_encoder()
    y = encoder([REMATCH_LABELS])
    np.testing.assert_array_equal(_class_ids(y, 4), [[3, 1]])
    # corners targets: (g - a) / anchor side / variance, anchor side 50, variances .1 .1 .2 .2
    np.testing.assert_allclose(y[0, 0, 4:8], [-5.0, 11.0, -6.5, 2.0])
    np.testing.assert_allclose(y[0, 1, 4:8], [1.0, 1.0, -0.5, -0.5])
    _assert_same_as_reference(encoder, [REMATCH_LABELS])


def test_rematch_quirk_with_bipartite_matching_only():
    encoder = _two_anchor_encoder(matching_type="bipartite")
    y = encoder([REMATCH_LABELS])
    # anchor 1 is not matched any more; its IoU 0.64 >= neg_iou_limit makes it neutral.
    np.testing.assert_array_equal(_class_ids(y, 4), [[3, -1]])
    np.testing.assert_array_equal(y[0, 1, 4:8], 0)


def test_unknown_matching_type_means_bipartite():
    labels = [REMATCH_LABELS, REMATCH_LABELS[:2]]
    bipartite = _two_anchor_encoder(matching_type="bipartite")(labels)
    np.testing.assert_array_equal(_two_anchor_encoder(matching_type="anything")(labels), bipartite)


def test_centroid_targets_and_border_pixels_on_relative_sizes():
    """Centroid targets by hand; with 'include' the +1 lands on the normalised width
    (docs/differences.md#encoder-border-pixels)."""
    labels = np.array([[1, 40.0, 30.0, 80.0, 70.0]])  # centre (60, 50), 40 x 40 px
    variances = [0.1, 0.1, 0.2, 0.2]
    half = _two_anchor_encoder(coords="centroids", normalize_coords=True, variances=variances)
    target = half([labels])[0, 0, 4:8]
    # anchor 0: centre (50, 50), 50 x 50 px -> relative (0.25, 0.5, 0.25, 0.5)
    expected = [
        (0.3 - 0.25) / (0.25 * 0.1),
        0.0,
        math.log(0.2 / 0.25) / 0.2,
        math.log(0.4 / 0.5) / 0.2,
    ]
    np.testing.assert_allclose(target, expected, atol=1e-12)
    include = _two_anchor_encoder(coords="centroids", border_pixels="include")([labels])
    wide = _two_anchor_encoder(coords="centroids", border_pixels="include", normalize_coords=True)
    target = wide([labels])[0, 0, 4:8]
    np.testing.assert_allclose(target[2], math.log((0.2 + 1) / 0.25) / 0.2, atol=1e-12)
    # in pixels the +1 is one pixel: w = 41
    np.testing.assert_allclose(include[0, 0, 6], math.log(41 / 50) / 0.2, atol=1e-12)


def test_diagnostics_zeroes_offsets(ssd300):
    labels = [np.array([[3, 20, 30, 120, 200]])]
    y, matched = ssd300(labels, diagnostics=True)
    np.testing.assert_array_equal(matched[..., :-12], y[..., :-12])
    np.testing.assert_array_equal(matched[..., -8:], y[..., -8:])
    np.testing.assert_array_equal(matched[..., -12:-8], 0)
    assert np.any(y[..., -12:-8] != 0)


def test_template_layout(ssd7):
    template, centers, wh, steps, offsets = ssd7.generate_encoding_template(2, diagnostics=True)
    np.testing.assert_array_equal(template, tiled_template(ssd7, 2))
    np.testing.assert_array_equal(template[..., :6], 0)
    np.testing.assert_array_equal(template[..., 6:10], template[..., 10:14])
    np.testing.assert_array_equal(template[..., -4:], 1.0)
    assert centers is ssd7.centers_diag and wh is ssd7.wh_list_diag
    assert steps is ssd7.steps_diag and offsets is ssd7.offsets_diag


# ------------------------------------------------------------------------------------------------
# Constructor arguments


def test_constructor_attributes():
    encoder = SSDInputEncoder(
        img_height=120,
        img_width=200,
        n_classes=3,
        predictor_sizes=[6, 10],
        min_scale=0.2,
        max_scale=0.6,
    )
    assert encoder.n_classes == 4
    np.testing.assert_array_equal(encoder.predictor_sizes, [[6, 10]])
    np.testing.assert_allclose(encoder.scales, [0.2, 0.6])
    assert encoder.aspect_ratios == [[0.5, 1.0, 2.0]]
    assert encoder.steps == [None] and encoder.offsets == [None]
    assert isinstance(encoder.variances, np.ndarray)
    np.testing.assert_array_equal(encoder.variances, [0.1, 0.1, 0.2, 0.2])
    assert (encoder.matching_type, encoder.pos_iou_threshold, encoder.neg_iou_limit) == (
        "multi",
        0.5,
        0.3,
    )
    assert (encoder.border_pixels, encoder.coords, encoder.normalize_coords) == (
        "half",
        "centroids",
        True,
    )
    assert encoder.background_id == 0 and encoder.clip_boxes is False
    assert encoder.two_boxes_for_ar1 is True and encoder.n_boxes == 4
    assert len(encoder.boxes_list) == len(encoder.centers_diag) == 1
    assert encoder.wh_list_diag[0].shape == (4, 2)


BASE = dict(img_height=100, img_width=100, n_classes=2, predictor_sizes=[[4, 4], [2, 2]])


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"min_scale": None}, "min_scale"),
        ({"max_scale": None}, "max_scale"),
        ({"scales": [0.1, 0.2]}, r"scales.*3.*\[0\.1, 0\.2\]"),
        ({"scales": [0.1, 0.0, 0.3]}, r"scales.*0\.0"),
        ({"min_scale": 0.5, "max_scale": 0.4}, "min_scale = 0.5 and max_scale = 0.4"),
        ({"min_scale": 0.0}, "min_scale = 0.0"),
        ({"aspect_ratios_per_layer": [[1.0]]}, r"aspect_ratios_per_layer.*\(2\), got 1"),
        ({"aspect_ratios_per_layer": [[1.0], [2.0, -1.0]]}, r"aspect_ratios_per_layer\[1\]"),
        ({"aspect_ratios_global": [0.5, 0.0]}, "aspect_ratios_global"),
        ({"aspect_ratios_global": None}, "aspect_ratios_global"),
        ({"variances": [0.1, 0.1, 0.2]}, r"variances.*4.*got 3"),
        ({"variances": [0.1, 0.1, 0.2, 0.0]}, r"variances.*0\.0"),
        ({"coords": "xywh"}, "coords='xywh'"),
        ({"border_pixels": "all"}, "border_pixels='all'"),
        ({"steps": [8]}, r"steps.*\(2\), got 1"),
        ({"offsets": [0.5, 0.5, 0.5]}, r"offsets.*\(2\), got 3"),
        ({"predictor_sizes": [[4, 4, 4]]}, "predictor_sizes"),
    ],
)
def test_constructor_errors(overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        SSDInputEncoder(**{**BASE, **overrides})


def test_scales_none_with_min_max_and_explicit_scales_win():
    encoder = SSDInputEncoder(**BASE, min_scale=None, max_scale=None, scales=[0.1, 0.2, 0.3])
    np.testing.assert_array_equal(encoder.scales, [0.1, 0.2, 0.3])
    encoder = SSDInputEncoder(**BASE, min_scale=0.2, max_scale=0.8)
    np.testing.assert_allclose(encoder.scales, [0.2, 0.5, 0.8])


# ------------------------------------------------------------------------------------------------
# Bad ground truth


@pytest.fixture(scope="module")
def small():
    return SSDInputEncoder(**BASE)


GOOD = np.array([[1, 10, 10, 50, 50]])


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (
            np.array([[1, 10, 10, 50]]),
            r"ground_truth_labels\[1\] must have shape \(k, 5\).*\(1, 4\)",
        ),
        (np.array([1, 10, 10, 50, 50]), r"ground_truth_labels\[1\].*shape \(5,\)"),
        (
            np.array([[1, 10, np.nan, 50, 50]]),
            r"ground_truth_labels\[1\] box 0 .*non-finite value nan",
        ),
        (np.array([[1, 10, 10, 50, 50], [2, 1, 1, np.inf, 5]]), r"\[1\] box 1 .*value inf"),
        (
            np.array([[0, 10, 10, 50, 50]]),
            r"\[1\] box 0 .*class id 0\.0 is not an integer in 1\.\.2",
        ),
        (np.array([[3, 10, 10, 50, 50]]), r"class id 3\.0"),
        (np.array([[-1, 10, 10, 50, 50]]), r"class id -1\.0"),
        (np.array([[1.5, 10, 10, 50, 50]]), r"class id 1\.5"),
        ([[1, 2, 3], [4, 5]], r"ground_truth_labels\[1\] is not a numeric"),
    ],
)
def test_bad_ground_truth(small, bad, pattern):
    with pytest.raises(ValueError, match=pattern):
        small([GOOD, bad])


@pytest.mark.parametrize(
    ("bad", "pattern"),
    [
        (np.array([[1, 10, 10, 50, 50], [2, 30, 40, 30, 60]]), r"\[2\] box 1 .*xmax - xmin = 0\.0"),
        (
            np.array([[2, 30, 60, 40, 40]]),
            r"\[2\] box 0 \[2\.0, 30\.0, 60\.0, 40\.0, 40\.0\].*ymax - ymin = -20",
        ),
    ],
)
def test_degenerate_boxes(small, bad, pattern):
    with pytest.raises(DegenerateBoxError, match=pattern) as info:
        small([GOOD, np.zeros((0, 5)), bad])
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "box",
    [
        [100, 10, 120, 50],  # xmin == img_width
        [-30, 10, 0, 50],  # xmax == 0
        [10, 150, 50, 170],  # ymin past img_height
        [10, -40, 50, -5],  # ymax < 0
        [-20, -20, -1, -1],  # above and left of the image
    ],
)
def test_box_entirely_outside_the_image(small, box):
    bad = np.array([[1, 10, 10, 50, 50], [2, *box]])
    with pytest.raises(BoxOutsideImageError, match=r"\[2\] box 1 .*entirely outside") as info:
        small([GOOD, np.zeros((0, 5)), bad])
    assert "img_height=100, img_width=100" in str(info.value)
    assert isinstance(info.value, ValueError)


def test_box_partly_outside_the_image_is_encoded(small):
    """Boxes reaching over a border, or covering the whole image, are ordinary ground truth."""
    labels = np.array(
        [[1, -20, -20, 30, 30], [2, 90, 95, 160, 140], [1, 99, 0, 101, 1], [2, -50, -50, 150, 150]]
    )
    y = small([labels])
    assert set(_class_ids(y, 3)[0].tolist()) >= {1, 2}
    _assert_same_as_reference(small, [labels])


def test_background_id_other_than_zero():
    encoder = SSDInputEncoder(**BASE, background_id=2)
    y = encoder([np.array([[0, 10, 10, 50, 50], [1, 50, 50, 90, 90]])])
    assert set(_class_ids(y, 3)[0].tolist()) <= {-1, 0, 1, 2}
    with pytest.raises(ValueError, match="background_id=2"):
        encoder([np.array([[2, 10, 10, 50, 50]])])


def test_zero_union_nan_ious_follow_the_original():
    """border_pixels='exclude' with clipped zero-width anchors: a 4 x 4 px box (area 3 * 3 = 9)
    and an anchor of area (0 - 1) * (10 - 1) = -9 have union 0 and IoU NaN, which np.argmax
    prefers. Thresholds of 0 also exercise the dense path with NaN columns."""
    encoder = SSDInputEncoder(
        img_height=100,
        img_width=100,
        n_classes=2,
        predictor_sizes=[[2, 2], [1, 2]],
        scales=[0.4, 0.1, 0.2],
        aspect_ratios_global=[1.0],
        two_boxes_for_ar1=False,
        steps=[None, (100, 300)],  # layer 1 centres at x = 150 and 450: clipped to width 0
        offsets=[None, 0.5],
        clip_boxes=True,
        border_pixels="exclude",
        normalize_coords=False,
        coords="corners",
    )
    labels = np.array([[1, 10, 10, 14, 14], [2, 60, 60, 90, 90]])
    with pytest.warns(RuntimeWarning, match="divide"):
        y = encoder([labels])
    assert _class_ids(y, 3)[0, 4] == 1 and np.isinf(y[0, 4, 3:7]).any()
    anchors = encoder.generate_encoding_template(1)[0, :, -8:-4]
    with np.errstate(invalid="ignore"):
        ious = iou(labels[:, 1:].astype(float), anchors, "corners", border_pixels="exclude")
    assert np.isnan(ious[0, 4:]).all()
    for thresholds in ({}, {"pos_iou_threshold": 0.0, "neg_iou_limit": 0.0}):
        for name, value in thresholds.items():
            setattr(encoder, name, value)
        # the box matched to a zero-width anchor gets infinite targets (numpy warns, as before)
        with np.errstate(divide="ignore", invalid="ignore"):
            _assert_same_as_reference(encoder, [labels, labels[::-1]])


class _MatrixSimilarities:
    """Stand-in for the encoder's IoU holder: an arbitrary dense weight matrix."""

    def __init__(self, matrix):
        self.matrix = matrix

    def best_per_row(self):
        best = self.matrix.argmax(axis=1)
        return best, self.matrix[np.arange(len(best)), best]

    def dense_rows(self, rows):
        return self.matrix[rows]


def _greedy_case(seed):
    """Random items and weight matrices full of ties, zeros, negative rows and the odd NaN."""
    rng = np.random.default_rng(seed)
    counts = [int(c) for c in rng.integers(1, 7, size=5)]
    n_anchors = 5
    labels = [np.tile([1.0, 0.0, 0.0, 1.0, 1.0], (count, 1)) for count in counts]
    batch = _GroundTruthBatch(labels, n_classes=2, background_id=0)
    palettes = [[-0.5, 0.0, 0.25, 0.5, 0.75, 1.0], [-0.5, -0.25, 0.0], [-1.0, -0.5, -0.25]]
    weights = np.array(
        [rng.choice(palettes[rng.integers(3)], size=n_anchors) for _ in range(sum(counts))]
    )
    if seed % 2:
        weights[rng.random(weights.shape) < 0.05] = np.nan
    return batch, weights


def test_batched_greedy_matching_equals_per_item_matching():
    """The batched greedy matcher against match_bipartite_greedy, item by item (np.argmax
    semantics throughout: first index on ties, NaN preferred)."""
    for seed in range(64):
        batch, weights = _greedy_case(seed)
        similarities = _MatrixSimilarities(weights)
        got = _match_bipartite_batch(similarities, batch)
        for start, count in zip(batch.starts, batch.counts, strict=True):
            want = match_bipartite_greedy(weights[start : start + count])
            np.testing.assert_array_equal(got[start : start + count], want, err_msg=f"seed {seed}")
