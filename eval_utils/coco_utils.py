"""MS COCO helpers: category id maps, a detections results file, and COCO's bbox evaluation.

MS COCO numbers its 80 categories with ids between 1 and 90 (with gaps); models predict
consecutive class ids 1..80 (0 = background). `get_coco_category_maps` gives the maps
between both. `predict_all_to_json` runs a model over a dataset and writes its detections
in the COCO results format; `evaluate_coco_detections` scores such a file with
pycocotools' `COCOeval` (mAP over IoU 0.5:0.95, at 0.5 and 0.75, and by object size).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Mapping, Sequence
from math import ceil
from typing import Any

import numpy as np
from tqdm import tqdm

from data_generator.parsers import read_coco_category_maps
from eval_utils import _prediction
from ssd_encoder_decoder.output_layout import BOX, CLASS_ID, CONFIDENCE

COCO_STAT_NAMES = (
    "AP",
    "AP50",
    "AP75",
    "AP_small",
    "AP_medium",
    "AP_large",
    "AR1",
    "AR10",
    "AR100",
    "AR_small",
    "AR_medium",
    "AR_large",
)
"""Keys of `evaluate_coco_detections`' result, in `COCOeval.stats` order."""


def get_coco_category_maps(annotations_file: str | os.PathLike) -> tuple[dict, dict, dict, list]:
    """Maps between COCO category ids, consecutive class ids and names.

    Classes are numbered 1, 2, ... in the order of the file's `categories` list; these are the
    maps `DataGenerator.parse_json` sets from the same file.

    Args:
        annotations_file: Any MS COCO annotations JSON file.

    Returns:
        `(cats_to_classes, classes_to_cats, cats_to_names, classes_to_names)`: category id ->
        class id, class id -> category id, category id -> name, and the list of names indexed
        by class id (element 0 `'background'`).

    Raises:
        MissingFileError: If the file does not exist (also a `FileNotFoundError`).
        AnnotationError: On malformed JSON, a missing `categories`, `id` or `name` key, or
            a category id listed twice (also a `ValueError`); the message names the file and
            the id.
    """
    maps = read_coco_category_maps(annotations_file)
    return (
        maps["cats_to_classes"],
        maps["classes_to_cats"],
        maps["cats_to_names"],
        maps["classes_to_names"],
    )


def _python_id(image_id: Any) -> Any:
    return image_id.item() if isinstance(image_id, np.generic) else image_id


def detections_to_coco_results(
    predictions: Sequence[np.ndarray],
    image_ids: Sequence[Any],
    classes_to_cats: Mapping[int, int],
) -> list[dict]:
    """COCO results entries of per-image decoded predictions.

    Args:
        predictions: Per image an array `(k, 6)` of `[class_id, confidence, xmin, ymin,
            xmax, ymax]` (corners, absolute pixels of the original image).
        image_ids: The COCO image id of each image.
        classes_to_cats: Class id -> COCO category id.

    Returns:
        One dict per box: `image_id`, `category_id`, `score` (3 decimals) and `bbox`
        `[xmin, ymin, width, height]` from corners rounded to 1 decimal.

    Raises:
        ValueError: For a class id missing from `classes_to_cats`.
    """
    results = []
    for image_id, boxes in zip(image_ids, predictions, strict=True):
        boxes = np.asarray(boxes)
        if boxes.size == 0:
            continue
        corners = np.round(boxes[:, BOX], 1).tolist()
        scores = np.round(boxes[:, CONFIDENCE], 3).tolist()
        for class_id, score, (xmin, ymin, xmax, ymax) in zip(
            boxes[:, CLASS_ID].tolist(), scores, corners, strict=True
        ):
            if class_id not in classes_to_cats:
                raise ValueError(
                    f"Class id {class_id} of image {image_id!r} is not in classes_to_cats."
                )
            results.append(
                {
                    "image_id": _python_id(image_id),
                    "category_id": classes_to_cats[class_id],
                    "score": score,
                    "bbox": [xmin, ymin, xmax - xmin, ymax - ymin],
                }
            )
    return results


def predict_all_to_json(
    out_file: str | os.PathLike,
    model: Any,
    img_height: int,
    img_width: int,
    classes_to_cats: Mapping[int, int],
    data_generator: Any,
    batch_size: int,
    data_generator_mode: str = "resize",
    model_mode: str = "training",
    confidence_thresh: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int = 200,
    pred_coords: str | None = None,
    normalize_coords: bool | None = None,
    verbose: bool = True,
) -> None:
    """Runs a model over a dataset and writes its detections as a COCO results JSON file.

    Images are converted to 3 channels and resized (`'resize'`) or padded to the input aspect
    ratio and resized (`'pad'`, which works here unlike in the original library, see
    docs/differences.md#coco-pad-mode); raw
    `'training'` outputs are decoded with `decode_detections` (`border_pixels='half'`),
    decoded outputs have their zero padding dropped; boxes are mapped back to the original
    images. Entries are as in `detections_to_coco_results`.

    Args:
        out_file: Path of the JSON file to write.
        model: A Keras SSD model (anything with `predict(batch)`).
        img_height: Model input height in pixels.
        img_width: Model input width in pixels.
        classes_to_cats: Class id -> COCO category id (see `get_coco_category_maps`).
        data_generator: A `DataGenerator` whose `image_ids` are the COCO image ids.
        batch_size: Prediction batch size.
        data_generator_mode: `'resize'` or `'pad'`.
        model_mode: `'training'`, `'inference'` or `'inference_fast'`.
        confidence_thresh: Training mode: decoder confidence threshold.
        iou_threshold: Training mode: decoder NMS IoU threshold.
        top_k: Training mode: boxes kept per image.
        pred_coords: Training mode: the model's box format; None reads it from the model
            (`'centroids'` for a model without `AnchorBoxes` layers).
        normalize_coords: Training mode: whether the model outputs relative coordinates; None
            reads it from the model (True for a model without `AnchorBoxes` layers).
        verbose: Print the dataset size, a progress bar and the output path.

    Raises:
        ValueError: For an unknown mode, a model output of the wrong shape or a class id missing
            from `classes_to_cats`.
    """
    if model_mode not in _prediction.MODEL_MODES:
        raise ValueError(
            f"`model_mode` must be one of {_prediction.MODEL_MODES}, got {model_mode!r}."
        )
    generator = data_generator.generate(
        batch_size=batch_size,
        shuffle=False,
        transformations=_prediction.evaluation_transformations(
            img_height, img_width, data_generator_mode
        ),
        label_encoder=None,
        returns={"processed_images", "image_ids", "inverse_transform"},
        keep_images_without_gt=True,
    )
    settings = _prediction.decoding_settings(
        model, model_mode, img_height, img_width, pred_coords, normalize_coords
    )
    decoding = {
        "confidence_thresh": confidence_thresh,
        "iou_threshold": iou_threshold,
        "top_k": top_k,
        "border_pixels": "half",
    }
    n_images = data_generator.get_dataset_size()
    batches = range(ceil(n_images / batch_size))
    if verbose:
        print(f"Number of images in the evaluation dataset: {n_images}")
        batches = tqdm(batches, file=sys.stdout, desc="Producing results file")
    results = []
    for _ in batches:
        batch_x, batch_ids, batch_inverters = next(generator)
        y_pred = _prediction.predict_decoded(model, batch_x, settings, decoding)
        y_pred = _prediction.to_original_images(y_pred, batch_inverters)
        results.extend(detections_to_coco_results(y_pred, batch_ids, classes_to_cats))
    with open(out_file, "w") as handle:
        json.dump(results, handle)
    if verbose:
        print(f"Prediction results saved in '{out_file}'")


def evaluate_coco_detections(
    annotations_file: str | os.PathLike,
    results: str | os.PathLike | Sequence[dict],
    image_ids: Sequence[int] | None = None,
    verbose: bool = True,
) -> dict[str, float]:
    """COCO bbox evaluation of a results file with pycocotools' `COCOeval`.

    Args:
        annotations_file: The ground truth annotations JSON file.
        results: A results JSON file (e.g. from `predict_all_to_json`) or its list of
            entries.
        image_ids: Images to evaluate; all images of the annotations file if None.
        verbose: Let pycocotools print its progress and summary table.

    Returns:
        The 12 summary numbers keyed by `COCO_STAT_NAMES` (`'AP'` = mAP over IoU
        0.50:0.95, `'AP50'`, `'AP75'`, by size `'AP_small'` ... and the recalls). COCO
        reports -1 where no ground truth exists (e.g. no small objects).

    Raises:
        ValueError: If there are no detections to evaluate.
    """
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if not isinstance(results, (str, os.PathLike)):
        results = list(results)
    else:
        with open(results) as handle:
            results = json.load(handle)
    if not results:
        raise ValueError("There are no detections to evaluate (empty results).")
    quiet = contextlib.nullcontext() if verbose else contextlib.redirect_stdout(io.StringIO())
    with quiet:
        ground_truth = COCO(str(annotations_file))
        evaluation = COCOeval(ground_truth, ground_truth.loadRes(results), iouType="bbox")
        chosen = sorted(ground_truth.getImgIds()) if image_ids is None else list(image_ids)
        evaluation.params.imgIds = chosen
        evaluation.evaluate()
        evaluation.accumulate()
        evaluation.summarize()
    return dict(zip(COCO_STAT_NAMES, (float(value) for value in evaluation.stats), strict=True))
