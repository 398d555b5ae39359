"""Tests of the Pascal VOC evaluator: golden cases, hand-computed APs, a slow reference, errors."""

import copy
import types

import golden_replay
import matplotlib
import numpy as np
import pytest
from reference import reference_evaluator

from eval_utils import ap_math
from eval_utils.average_precision_evaluator import Evaluator, GroundTruth

matplotlib.use("Agg")

MODES = ("sample", "integrate", "voc2010")


def make_evaluator(labels, predictions, n_classes=1, image_ids=None, eval_neutral=None):
    """Evaluator over in-memory ground truth with per-image prediction arrays loaded."""
    evaluator = Evaluator(None, n_classes, GroundTruth(labels, image_ids, eval_neutral))
    evaluator.load_predictions([np.asarray(p, dtype=float).reshape(-1, 6) for p in predictions])
    return evaluator


def average_precisions(evaluator, mode, **kwargs):
    evaluator.evaluate(average_precision_mode=mode, verbose=False, **kwargs)
    return evaluator.average_precisions


# ----------------------------------------------------------------------------------------------
# Golden cases recorded from the original


@pytest.mark.parametrize("case", golden_replay.cases("evaluator."), ids=golden_replay.case_id)
def test_golden(case):
    golden_replay.replay(case)


@pytest.mark.parametrize("case", golden_replay.cases("evaluator."), ids=golden_replay.case_id)
def test_golden_with_ground_truth_container(case):
    """The same recorded numbers when the ground truth comes from a plain GroundTruth."""
    case = copy.deepcopy(case)
    source = case["constructor_kwargs"]["data_generator"]["__obj__"]
    source["module"], source["class"] = "eval_utils.average_precision_evaluator", "GroundTruth"
    golden_replay.compare(case, golden_replay.run(case))


# ----------------------------------------------------------------------------------------------
# Hand-computed average precisions

TWO_IMAGES = [np.array([[1, 0, 0, 10, 10]]), np.array([[1, 20, 20, 40, 40]])]


def test_perfect_detector():
    predictions = [[[1, 0.9, 0, 0, 10, 10]], [[1, 0.8, 20, 20, 40, 40]]]
    evaluator = make_evaluator(TWO_IMAGES, predictions)
    assert average_precisions(evaluator, "sample")[1] == pytest.approx(1.0)
    assert average_precisions(evaluator, "voc2010")[1] == pytest.approx(1.0)
    # 'integrate' has no strip from recall 0 to the first recall (0.5 here).
    assert average_precisions(evaluator, "integrate")[1] == pytest.approx(0.5)
    assert evaluator.mean_average_precision == pytest.approx(0.5)


def test_false_positive_ranked_first():
    # precision (0, 1/2, 2/3), recall (0, 1/2, 1)
    predictions = [
        [[1, 0.9, 100, 100, 120, 120], [1, 0.8, 0, 0, 10, 10]],
        [[1, 0.7, 20, 20, 40, 40]],
    ]
    evaluator = make_evaluator(TWO_IMAGES, predictions)
    assert average_precisions(evaluator, "sample")[1] == pytest.approx(2 / 3)
    np.testing.assert_allclose(evaluator.cumulative_precisions[1], [0, 1 / 2, 2 / 3])
    np.testing.assert_allclose(evaluator.cumulative_recalls[1], [0, 1 / 2, 1])
    # integrate: recall steps 0->1/2 and 1/2->1, both with the best precision up to recall 1/2.
    assert average_precisions(evaluator, "integrate")[1] == pytest.approx(0.25 + 0.25)
    assert average_precisions(evaluator, "voc2010")[1] == pytest.approx(2 / 3)


def test_duplicate_detection_is_false_positive():
    predictions = [[[1, 0.9, 0, 0, 10, 10], [1, 0.8, 1, 0, 10, 10]], []]
    evaluator = make_evaluator([*TWO_IMAGES[:1], np.zeros((0, 5))], predictions)
    evaluator.evaluate(verbose=False)
    np.testing.assert_array_equal(evaluator.true_positives[1], [1, 0])
    np.testing.assert_array_equal(evaluator.false_positives[1], [0, 1])
    assert average_precisions(evaluator, "sample")[1] == pytest.approx(1.0)
    assert average_precisions(evaluator, "voc2010")[1] == pytest.approx(1.0)
    assert average_precisions(evaluator, "integrate")[1] == 0.0  # one unique recall: no step


def test_best_box_already_claimed_does_not_fall_back_to_second_best():
    labels = [np.array([[1, 0, 0, 10, 10], [1, 0, 0, 10, 12]])]
    predictions = [[[1, 0.9, 0, 0, 10, 10], [1, 0.8, 0, 0, 10, 10]]]
    evaluator = make_evaluator(labels, predictions)
    evaluator.evaluate(border_pixels="half", verbose=False)
    np.testing.assert_array_equal(evaluator.true_positives[1], [1, 0])
    np.testing.assert_array_equal(evaluator.false_positives[1], [0, 1])


def test_neutral_boxes():
    labels = [np.array([[1, 0, 0, 10, 10], [1, 50, 50, 70, 70]])]
    predictions = [[[1, 0.9, 50, 50, 70, 70], [1, 0.8, 0, 0, 10, 10]]]
    neutral = [[False, True]]
    evaluator = make_evaluator(labels, predictions, eval_neutral=neutral)
    evaluator.evaluate(verbose=False)
    assert evaluator.num_gt_per_class[1] == 1
    np.testing.assert_array_equal(evaluator.true_positives[1], [0, 1])
    np.testing.assert_array_equal(evaluator.false_positives[1], [0, 0])  # neutral: neither
    assert evaluator.average_precisions[1] == pytest.approx(1.0)
    evaluator.evaluate(ignore_neutral_boxes=False, verbose=False)
    assert evaluator.num_gt_per_class[1] == 2
    np.testing.assert_array_equal(evaluator.true_positives[1], [1, 1])


def test_iou_exactly_on_threshold_matches_and_border_pixels_matter():
    labels = [np.array([[1, 0, 0, 10, 10]])]
    predictions = [[[1, 0.9, 0, 0, 10, 5]]]  # 'half': IoU = 50 / 100 = 0.5 exactly
    evaluator = make_evaluator(labels, predictions)
    evaluator.evaluate(border_pixels="half", verbose=False)
    np.testing.assert_array_equal(evaluator.true_positives[1], [1])
    # 'include': intersection 50 (no border correction), areas 121 + 66 -> 50 / 137 < 0.5
    evaluator.evaluate(border_pixels="include", verbose=False)
    np.testing.assert_array_equal(evaluator.false_positives[1], [1])


def test_class_without_predictions_and_image_without_ground_truth():
    labels = [np.array([[1, 0, 0, 10, 10], [2, 30, 30, 60, 60]]), np.zeros((0, 5)), []]
    predictions = [[[1, 0.9, 0, 0, 10, 10]], [[1, 0.95, 0, 0, 10, 10]], np.array([])]
    evaluator = make_evaluator(labels, predictions, n_classes=3)
    result = evaluator.evaluate(return_average_precisions=True, verbose=False)
    # class 1: FP (image without GT) ranked first, then a TP -> precision 1/2 at recall 1
    np.testing.assert_array_equal(evaluator.true_positives[1], [0, 1])
    np.testing.assert_array_equal(evaluator.false_positives[1], [1, 0])
    np.testing.assert_allclose(result[1], [0.0, 0.5, 0.0, 0.0])
    assert evaluator.true_positives[2].shape == (0,)
    assert evaluator.cumulative_recalls[3].shape == (0,)
    assert result[0] == pytest.approx(0.5 / 3)
    for mode in MODES:
        assert average_precisions(evaluator, mode)[2] == 0.0


def test_sample_mode_with_other_recall_point_counts():
    # precision (1, 1/2, 2/3), recall (1/3, 1/3, 2/3) with 3 GT boxes
    labels = [np.array([[1, 0, 0, 10, 10], [1, 20, 20, 30, 30], [1, 40, 40, 50, 50]])]
    predictions = [[[1, 0.9, 0, 0, 10, 10], [1, 0.8, 100, 100, 110, 110], [1, 0.7, 20, 20, 30, 30]]]
    evaluator = make_evaluator(labels, predictions)
    # t = 0, 0.5, 1: best precision at recall >= t is 1, 2/3, none
    assert average_precisions(evaluator, "sample", num_recall_points=3)[1] == pytest.approx(
        (1 + 2 / 3 + 0) / 3
    )
    assert average_precisions(evaluator, "sample", num_recall_points=1)[1] == 1.0


def test_verbose_does_not_change_results(capsys):
    labels, predictions = random_dataset(np.random.default_rng(3), n_images=30)
    quiet, loud = (make_evaluator(labels, predictions, n_classes=4) for _ in range(2))
    assert quiet.evaluate(verbose=False) == loud.evaluate(verbose=True)
    for a, b in zip(quiet.true_positives, loud.true_positives, strict=True):
        np.testing.assert_array_equal(a, b)
    assert "Matching predictions" in capsys.readouterr().out


def test_return_flags_order():
    evaluator = make_evaluator(TWO_IMAGES, [[[1, 0.9, 0, 0, 10, 10]], []])
    result = evaluator.evaluate(
        return_precisions=True, return_recalls=True, return_average_precisions=True, verbose=False
    )
    assert len(result) == 4
    assert result[0] == evaluator.mean_average_precision
    assert result[1] is evaluator.average_precisions
    assert result[2] is evaluator.cumulative_precisions
    assert result[3] is evaluator.cumulative_recalls
    only_recalls = evaluator.evaluate(return_recalls=True, verbose=False)
    assert len(only_recalls) == 2 and only_recalls[1] is evaluator.cumulative_recalls


def test_stable_sort_keeps_input_order_of_ties():
    labels = [np.array([[1, 0, 0, 10, 10]])]
    predictions = [[[1, 0.5, 50, 50, 60, 60], [1, 0.5, 0, 0, 10, 10]]]
    evaluator = make_evaluator(labels, predictions)
    evaluator.evaluate(sorting_algorithm="mergesort", verbose=False)
    np.testing.assert_array_equal(evaluator.true_positives[1], [0, 1])


def test_load_predictions_uses_pred_format_and_rounding():
    gt = GroundTruth([np.array([[1, 0, 0, 10, 10]])], image_ids=["a"])
    fmt = {"conf": 0, "class_id": 1, "xmin": 2, "ymin": 3, "xmax": 4, "ymax": 5}
    evaluator = Evaluator(None, 2, gt, pred_format=fmt)
    results = evaluator.load_predictions(
        [np.array([[0.12345, 1, 0, 0, 10, 10, 99]])], round_confidences=2, ret=True
    )
    assert results == [[], [("a", 0.12, 0.0, 0.0, 10.0, 10.0)], []]


# ----------------------------------------------------------------------------------------------
# Vectorised matching vs the per-prediction loop


def random_dataset(rng, n_images=60, n_classes=4):
    labels, predictions = [], []
    for _ in range(n_images):
        k = int(rng.integers(0, 6))
        xy = rng.integers(0, 100, size=(k, 2))
        gt = np.column_stack(
            [rng.integers(1, n_classes + 1, k), xy, xy + rng.integers(5, 60, (k, 2))]
        )
        labels.append(gt)
        m = int(rng.integers(0, 8))
        source = (
            gt[rng.integers(0, k, m)]
            if k
            else np.column_stack([rng.integers(1, n_classes + 1, m), rng.integers(0, 100, (m, 4))])
        )
        boxes = source[:, 1:] + rng.integers(-6, 7, size=(m, 4))
        confidences = rng.choice([0.2, 0.4, 0.6, 0.8, 0.9], size=m)  # plenty of ties
        predictions.append(np.column_stack([source[:, 0], confidences, boxes]))
    return labels, predictions


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("border_pixels", ["include", "half"])
def test_matches_per_prediction_reference(seed, border_pixels):
    rng = np.random.default_rng(seed)
    labels, predictions = random_dataset(rng)
    neutral = [rng.uniform(size=len(gt)) < 0.2 for gt in labels]
    ids = [f"im{k}" for k in range(len(labels))]
    evaluator = make_evaluator(labels, predictions, 4, ids, neutral)
    got = evaluator.evaluate(border_pixels=border_pixels, verbose=False)
    want, tps, fps = reference_evaluator.evaluate(
        evaluator.prediction_results, labels, ids, 4, neutral, border_pixels=border_pixels
    )
    assert got == pytest.approx(want, abs=1e-12)
    for class_id in range(1, 5):
        np.testing.assert_array_equal(evaluator.true_positives[class_id], tps[class_id])
        np.testing.assert_array_equal(evaluator.false_positives[class_id], fps[class_id])


def loop_integrate(precision, recall):
    """The original 'integrate' recurrence, one unique recall at a time."""
    unique, first = np.unique(recall, return_index=True)
    best = np.zeros_like(unique)
    for i in range(len(unique) - 2, -1, -1):
        best[i] = max(precision[first[i] : first[i + 1]].max(), best[i + 1])
    return float(np.sum(best[:-1] * np.diff(unique))) if len(unique) else 0.0


@pytest.mark.parametrize("seed", range(5))
def test_integrate_matches_loop_recurrence(seed):
    rng = np.random.default_rng(seed)
    tp = (rng.uniform(size=40) < 0.6).astype(int)
    precision, recall = ap_math.precision_recall(np.cumsum(tp), np.cumsum(1 - tp), 30)
    assert ap_math.average_precision_integrate(precision, recall) == pytest.approx(
        loop_integrate(precision, recall), abs=1e-15
    )


# ----------------------------------------------------------------------------------------------
# Plots and files


def test_precision_recall_plot(tmp_path):
    evaluator = make_evaluator(TWO_IMAGES, [[[1, 0.9, 0, 0, 10, 10]], []], n_classes=3)
    evaluator.evaluate(verbose=False)
    figure = evaluator.plot_precision_recall(
        classes=["bg", "car", "bus", "cat"], out_file=str(tmp_path / "pr.png")
    )
    visible = [ax for ax in figure.axes if ax.get_visible()]
    assert len(figure.axes) == 4 and len(visible) == 3
    assert visible[0].get_title() == "car, AP: 0.545"  # 6 of 11 recall points at precision 1
    np.testing.assert_allclose(visible[0].lines[0].get_xydata(), [[0.5, 1.0]])
    assert (tmp_path / "pr.png").stat().st_size > 0


def test_write_predictions_to_txt(tmp_path):
    evaluator = make_evaluator(
        TWO_IMAGES, [[[1, 0.912345, 0, 0, 10, 10]], []], n_classes=2, image_ids=["000007", "000009"]
    )
    evaluator.write_predictions_to_txt(
        classes=["bg", "car", "bus"], out_file_prefix=str(tmp_path / "det_"), verbose=False
    )
    assert (tmp_path / "det_car.txt").read_text() == "000007 0.9123 0.0 0.0 10.0 10.0\n"
    assert (tmp_path / "det_bus.txt").read_text() == ""


# ----------------------------------------------------------------------------------------------
# Bad input


def test_predictions_of_wrong_shape():
    evaluator = Evaluator(None, 2, GroundTruth(TWO_IMAGES, ["a", "b"]))
    with pytest.raises(ValueError, match=r"image 1 \(id 'b'\).*shape \(3, 5\)"):
        evaluator.load_predictions([np.zeros((0, 6)), np.zeros((3, 5))])
    with pytest.raises(ValueError, match="2 entries but `image_ids` has 1"):
        evaluator.load_predictions([[], []], image_ids=["a"])


@pytest.mark.parametrize("class_id", [3, -1, 1.5])
def test_class_ids_out_of_range(class_id):
    evaluator = Evaluator(None, 2, GroundTruth(TWO_IMAGES))
    with pytest.raises(ValueError, match=r"class id .*\[0, n_classes=2\]"):
        evaluator.load_predictions([[[class_id, 0.5, 0, 0, 1, 1]], []])
    bad_labels = GroundTruth([np.array([[class_id, 0, 0, 1, 1]])])
    with pytest.raises(ValueError, match="`labels` contains class id"):
        Evaluator(None, 2, bad_labels).get_num_gt_per_class()


def test_data_generator_without_labels():
    no_labels = types.SimpleNamespace(labels=None, image_ids=None, eval_neutral=None)
    with pytest.warns(UserWarning, match="neither a `DataGenerator`"):
        evaluator = Evaluator(None, 2, no_labels)
    with pytest.raises(ValueError, match="has no labels"):
        evaluator.get_num_gt_per_class()
    with pytest.raises(ValueError, match="has no labels"):
        evaluator(300, 300, 8)  # before any prediction is made


def test_malformed_prediction_results():
    evaluator = Evaluator(None, 2, GroundTruth(TWO_IMAGES, ["a", "b"]))
    with pytest.raises(ValueError, match="no prediction results"):
        evaluator.match_predictions()
    evaluator.prediction_results = [[], []]
    with pytest.raises(ValueError, match="n_classes \\+ 1 = 3"):
        evaluator.match_predictions()
    evaluator.prediction_results = [[], [("a", 0.5, 0, 0, 1)], []]
    with pytest.raises(ValueError, match=r"prediction_results\[1\]"):
        evaluator.match_predictions()
    evaluator.prediction_results = [[], [("zz", 0.5, 0, 0, 1, 1)], []]
    with pytest.raises(ValueError, match="Predictions of class 1 .*'zz'"):
        evaluator.match_predictions(verbose=False)


def test_other_bad_arguments():
    gt = GroundTruth(TWO_IMAGES)
    with pytest.raises(ValueError, match="n_classes"):
        Evaluator(None, 0, gt)
    with pytest.raises(ValueError, match="model_mode"):
        Evaluator(None, 1, gt, model_mode="train")
    with pytest.raises(ValueError, match=r"`gt_format` lacks the column\(s\) \['ymax'\]"):
        Evaluator(None, 1, gt, gt_format={"class_id": 0, "xmin": 1, "ymin": 2, "xmax": 3})
    evaluator = make_evaluator(TWO_IMAGES, [[], []])
    with pytest.raises(ValueError, match="border_pixels"):
        evaluator.evaluate(border_pixels="inside", verbose=False)
    with pytest.raises(ValueError, match="`mode` must be one of"):
        evaluator.evaluate(average_precision_mode="coco", verbose=False)
    with pytest.raises(ValueError, match="num_recall_points"):
        evaluator.evaluate(num_recall_points=0, verbose=False)
    with pytest.raises(ValueError, match="2 flags for 1 boxes"):
        make_evaluator(TWO_IMAGES, [[], []], eval_neutral=[[0, 1], [0]]).evaluate(verbose=False)
    with pytest.raises(ValueError, match="compute_precision_recall"):
        Evaluator(None, 1, gt).compute_average_precisions()


# ----------------------------------------------------------------------------------------------
# End to end: DataGenerator + a scripted model


def test_call_inference_model(dataset, inference_model, toy):
    evaluator = Evaluator(inference_model, 2, dataset, model_mode="inference")
    result = evaluator(*toy.INPUT_SIZE, batch_size=2, return_average_precisions=True, verbose=False)
    assert [shape[1:] for shape in inference_model.seen_shapes] == [(30, 40, 3)] * 2
    assert [shape[0] for shape in inference_model.seen_shapes] == [2, 1]
    # predictions mapped back to the 60 x 80 originals (x2)
    image_id, confidence, *box = evaluator.prediction_results[1][0]
    assert image_id == "a" and confidence == pytest.approx(0.9) and box == [10, 10, 50, 50]
    assert [entry[0] for entry in evaluator.prediction_results[1]] == ["a", "c"]
    # class 1: TP then FP (image without GT) -> AP 1; class 2: FP then TP -> AP 0.5
    np.testing.assert_allclose(result[1], [0.0, 1.0, 0.5])
    assert result[0] == pytest.approx(0.75)


def test_call_training_model_with_perfect_raw_output(dataset, toy):
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    encoder = SSDInputEncoder(
        *toy.INPUT_SIZE, n_classes=2, predictor_sizes=[(4, 5), (2, 3)], min_scale=0.3, max_scale=0.9
    )
    input_labels = [np.round(label * [1, 0.5, 0.5, 0.5, 0.5]) for label in toy.LABELS]
    model = toy.ScriptedModel(encoder(input_labels))  # the encoded ground truth as raw output
    evaluator = Evaluator(model, 2, dataset, model_mode="training")
    mean_ap = evaluator(*toy.INPUT_SIZE, batch_size=3, border_pixels="half", verbose=False)
    assert mean_ap == pytest.approx(1.0)
    boxes = [entry[2:] for entry in evaluator.prediction_results[2]]
    np.testing.assert_allclose(boxes, [[40, 20, 70, 50]])


def test_call_verbose_prints_progress(dataset, inference_model, capsys, toy):
    quiet = Evaluator(inference_model, 2, dataset)(*toy.INPUT_SIZE, batch_size=2, verbose=False)
    loud = Evaluator(inference_model, 2, dataset)(*toy.INPUT_SIZE, batch_size=2, verbose=True)
    assert quiet == loud
    assert "Number of images in the evaluation dataset: 3" in capsys.readouterr().out


def test_call_bad_mode_and_output(dataset, inference_model, image_files, toy):
    from data_generator.object_detection_2d_data_generator import DataGenerator

    with pytest.raises(ValueError, match="'resize' or 'pad'"):
        Evaluator(inference_model, 2, dataset)(*toy.INPUT_SIZE, 2, data_generator_mode="crop")
    flat = toy.ScriptedModel([np.zeros((4, 5))])
    with pytest.raises(ValueError, match=r"decoded boxes \(batch, top_k, 6\)"):
        Evaluator(flat, 2, dataset)(*toy.INPUT_SIZE, batch_size=2, verbose=False)
    unlabelled = DataGenerator(filenames=image_files, verbose=False)
    with pytest.raises(ValueError, match="has no labels"):
        Evaluator(inference_model, 2, unlabelled)(*toy.INPUT_SIZE, batch_size=2, verbose=False)
    assert inference_model.calls == 0


def test_call_decodes_a_real_model_with_its_own_settings(dataset, image_files):
    """A model with pixel anchors (the builders' default) is decoded as such, as
    `predict_detections` does, and contradicting decoding arguments are refused."""
    import cv2

    from models.keras_ssd7 import build_model
    from models.prediction import predict_detections

    model = build_model((64, 96, 3), n_classes=2, min_scale=0.2, max_scale=0.9,
                        subtract_mean=127.5, divide_by_stddev=127.5)  # fmt: skip
    rng = np.random.default_rng(1)
    for weight in model.weights:
        shape = weight.shape
        ones = "variance" in weight.path or "gamma" in weight.path
        weight.assign(np.ones(shape, "float32") if ones else rng.normal(0, 0.05, shape))
    evaluator = Evaluator(model, 2, dataset, model_mode="training")
    evaluator(64, 96, batch_size=2, decoding_confidence_thresh=0.4, verbose=False)
    images = [cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB) for path in image_files]
    expected = predict_detections(model, images, confidence_thresh=0.4, border_pixels="include")
    assert sum(len(rows) for rows in expected) > 0
    for class_id in (1, 2):
        mine = sorted(tuple(entry[1:]) for entry in evaluator.prediction_results[class_id])
        theirs = sorted(
            (float(row[1]), *row[2:].tolist())
            for rows in expected
            for row in rows
            if row[0] == class_id
        )
        # The evaluator's inverse resize rounds the boxes to whole pixels.
        np.testing.assert_allclose(np.array(mine), np.array(theirs), atol=0.5 + 1e-6)
    with pytest.raises(ValueError, match="normalize_coords=False"):
        evaluator(64, 96, batch_size=2, decoding_normalize_coords=True, verbose=False)
    with pytest.raises(ValueError, match="'training'-mode model"):
        Evaluator(model, 2, dataset, model_mode="inference")(64, 96, 2, verbose=False)
