"""Tests of the COCO helpers on a small synthetic COCO annotations file."""

import json

import numpy as np
import pytest

from data_generator.dataset_errors import AnnotationError, MissingFileError
from eval_utils.coco_utils import (
    COCO_STAT_NAMES,
    detections_to_coco_results,
    evaluate_coco_detections,
    get_coco_category_maps,
    predict_all_to_json,
)

# Category 1 ("cat"): one 50x50 box (medium size) in image 10.
# Category 3 ("dog", non-consecutive id): one 100x100 box (large) in image 11.
GT = {"cat": [0, 0, 50, 50], "dog": [200, 100, 100, 100]}


@pytest.fixture
def annotations(tmp_path):
    data = {
        "images": [
            {"id": 10, "file_name": "a.jpg", "width": 400, "height": 300},
            {"id": 11, "file_name": "b.jpg", "width": 400, "height": 300},
        ],
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 10,
                "category_id": 1,
                "bbox": GT["cat"],
                "area": 2500,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 11,
                "category_id": 3,
                "bbox": GT["dog"],
                "area": 10000,
                "iscrowd": 0,
            },
        ],
    }
    path = tmp_path / "instances.json"
    path.write_text(json.dumps(data))
    return path


def detection(image_id, category_id, bbox, score):
    return {"image_id": image_id, "category_id": category_id, "bbox": bbox, "score": score}


def test_category_maps_follow_file_order(annotations):
    cats_to_classes, classes_to_cats, cats_to_names, classes_to_names = get_coco_category_maps(
        annotations
    )
    assert cats_to_classes == {3: 1, 1: 2}
    assert classes_to_cats == {1: 3, 2: 1}
    assert cats_to_names == {3: "dog", 1: "cat"}
    assert classes_to_names == ["background", "dog", "cat"]


def test_category_maps_refuse_a_duplicate_category_id(annotations):
    data = json.loads(annotations.read_text())
    data["categories"].append({"id": 3, "name": "wolf"})
    annotations.write_text(json.dumps(data))
    with pytest.raises(
        AnnotationError,
        match=r"instances\.json', categories\[2\]: category id 3 is already the id of "
        r"categories\[0\]",
    ):
        get_coco_category_maps(annotations)


def test_category_maps_name_the_file(tmp_path):
    with pytest.raises(MissingFileError, match=r"none\.json"):
        get_coco_category_maps(tmp_path / "none.json")
    path = tmp_path / "no_categories.json"
    path.write_text('{"images": []}')
    with pytest.raises(AnnotationError, match=r"no_categories\.json'.*'categories' is missing"):
        get_coco_category_maps(path)


def test_perfect_detector_scores_one(annotations):
    results = [detection(10, 1, GT["cat"], 0.9), detection(11, 3, GT["dog"], 0.8)]
    stats = evaluate_coco_detections(annotations, results, verbose=False)
    assert list(stats) == list(COCO_STAT_NAMES)
    for key in ("AP", "AP50", "AP75", "AP_medium", "AP_large", "AR100"):
        assert stats[key] == pytest.approx(1.0)
    assert stats["AP_small"] == -1.0  # no small objects


def test_degraded_detector_hand_checked(annotations, tmp_path):
    results = [
        # cat: a false positive ranked above the exact box -> precision 1/2 at every recall
        detection(10, 1, [300, 200, 50, 50], 0.9),
        detection(10, 1, GT["cat"], 0.8),
        # dog: IoU 6200 / 10000 = 0.62, a match at IoU thresholds 0.50, 0.55, 0.60 only
        detection(11, 3, [200, 100, 100, 62], 0.7),
    ]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(results))
    stats = evaluate_coco_detections(annotations, path, verbose=False)
    assert stats["AP"] == pytest.approx((0.5 + 3 / 10) / 2)
    assert stats["AP50"] == pytest.approx((0.5 + 1.0) / 2)
    assert stats["AP75"] == pytest.approx((0.5 + 0.0) / 2)
    assert stats["AP_medium"] == pytest.approx(0.5)  # only the cat box is medium
    assert stats["AP_large"] == pytest.approx(0.3)


def test_no_detections_is_an_error(annotations):
    with pytest.raises(ValueError, match="no detections"):
        evaluate_coco_detections(annotations, [], verbose=False)


def test_detections_to_coco_results():
    predictions = [
        np.array([[1, 0.98765, 10.04, 20.26, 30.0, 50.55]], dtype=np.float32),
        np.array([]),
    ]
    results = detections_to_coco_results(predictions, [np.int64(7), 8], {1: 3})
    assert len(results) == 1
    entry = results[0]
    assert entry["image_id"] == 7 and type(entry["image_id"]) is int
    assert entry["category_id"] == 3
    assert entry["score"] == pytest.approx(0.988)
    np.testing.assert_allclose(entry["bbox"], [10.0, 20.3, 20.0, 30.3], atol=1e-5)
    json.dumps(results)  # plain Python types only
    with pytest.raises(ValueError, match="Class id 2.0 .* not in classes_to_cats"):
        detections_to_coco_results([np.array([[2, 0.5, 0, 0, 1, 1]])], [1], {1: 3})


# ----------------------------------------------------------------------------------------------
# predict_all_to_json with a DataGenerator and a scripted model


def test_predict_all_to_json(dataset, inference_model, toy, tmp_path):
    out_file = tmp_path / "detections.json"
    predict_all_to_json(
        out_file,
        inference_model,
        *toy.INPUT_SIZE,
        {1: 3, 2: 1},
        dataset,
        batch_size=2,
        model_mode="inference",
        verbose=False,
    )
    results = json.loads(out_file.read_text())
    summary = [(r["image_id"], r["category_id"], r["bbox"]) for r in results]
    assert summary == [
        ("a", 3, [10.0, 10.0, 40.0, 40.0]),
        ("a", 1, [40.0, 4.0, 30.0, 20.0]),
        ("b", 1, [40.0, 20.0, 30.0, 30.0]),
        ("c", 3, [0.0, 0.0, 20.0, 20.0]),
    ]
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.8, 0.7, 0.6])


def test_predict_all_to_json_pad_mode_runs(dataset, inference_model, toy, tmp_path):
    """The original's 'pad' mode failed with a TypeError (docs/differences.md#coco-pad-mode)."""
    out_file = tmp_path / "detections.json"
    predict_all_to_json(
        out_file,
        inference_model,
        30,
        30,
        {1: 3, 2: 1},
        dataset,
        3,
        data_generator_mode="pad",
        model_mode="inference",
        verbose=False,
    )
    assert len(json.loads(out_file.read_text())) == 4


def test_results_file_scored_by_cocoeval(image_files, toy, tmp_path, capsys):
    from data_generator.object_detection_2d_data_generator import DataGenerator

    annotations = {
        "images": [
            {"id": i, "file_name": f"{i}.png", "width": 80, "height": 60} for i in (1, 2, 3)
        ],
        "categories": [{"id": 3, "name": "dog"}, {"id": 1, "name": "cat"}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "category_id": 3,
                "bbox": [10, 10, 40, 40],
                "area": 1600,
                "iscrowd": 0,
            },
            {
                "id": 2,
                "image_id": 2,
                "category_id": 1,
                "bbox": [40, 20, 30, 30],
                "area": 900,
                "iscrowd": 0,
            },
        ],
    }
    annotations_file = tmp_path / "instances.json"
    annotations_file.write_text(json.dumps(annotations))
    _, classes_to_cats, _, _ = get_coco_category_maps(annotations_file)
    dataset = DataGenerator(filenames=image_files, image_ids=[1, 2, 3], verbose=False)
    model = toy.ScriptedModel(
        [
            toy.padded([[1, 0.9, 5, 5, 25, 25]]),
            toy.padded([[2, 0.7, 20, 10, 35, 25]]),
            toy.padded([]),
        ]
    )
    results_file = tmp_path / "detections.json"
    predict_all_to_json(
        results_file, model, *toy.INPUT_SIZE, classes_to_cats, dataset, 2, model_mode="inference"
    )
    assert "Prediction results saved in" in capsys.readouterr().out
    stats = evaluate_coco_detections(annotations_file, results_file, verbose=False)
    assert stats["AP"] == pytest.approx(1.0)
    assert stats["AP_small"] == pytest.approx(1.0)  # the 30x30 box is small
    assert capsys.readouterr().out == ""
