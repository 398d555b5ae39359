"""Pascal VOC style mean average precision of an SSD model (or of any detector's predictions).

`Evaluator` runs a model over a dataset (`Evaluator.predict_on_dataset`) and scores
the predictions against the dataset's ground truth in separate steps that can also be called on
their own: counting the ground truth boxes, matching predictions to ground truth, precision and
recall, average precision per class and their mean. The scoring steps only need
`prediction_results` and an object with `labels` (plus optional `image_ids` and
`eval_neutral`), so predictions made elsewhere can be evaluated with
`Evaluator.load_predictions` and a `GroundTruth` (or a `DataGenerator`).

Average precision modes: `'sample'` (VOC2007, AP sampled at `num_recall_points` recalls),
`'integrate'` (the original library's integration, kept to reproduce its published figures,
see `eval_utils.ap_math.average_precision_integrate`) and `'voc2010'` (the standard
all-point AP of VOC2010 and later).

Differences from the original library (fixes): results do not depend on `verbose` (the
original scored only the top prediction of each class with `verbose=False`); a class without
predictions gets AP 0 and leaves the other classes' lists aligned; images without ground truth
boxes are fine (their predictions are false positives); image ids are matched whatever their
length; the step results `average_precisions` and `num_gt_per_class` are NumPy arrays.
See docs/differences.md#evaluation for every difference and the reasons.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator, Mapping, Sequence
from math import ceil
from types import MappingProxyType
from typing import Any

import numpy as np
from tqdm import tqdm

from bounding_box_utils.bounding_box_utils import border_pixel_offset
from eval_utils import _prediction, ap_math
from ssd_encoder_decoder.output_layout import BOX, CLASS_ID, CONFIDENCE, XMAX, XMIN, YMAX, YMIN

PRED_FORMAT = MappingProxyType(
    {
        "class_id": CLASS_ID,
        "conf": CONFIDENCE,
        "xmin": XMIN,
        "ymin": YMIN,
        "xmax": XMAX,
        "ymax": YMAX,
    }
)
"""Default column layout of decoded predictions."""
GT_FORMAT = MappingProxyType({"class_id": 0, "xmin": 1, "ymin": 2, "xmax": 3, "ymax": 4})
"""Default column layout of ground truth labels."""

_PRED_KEYS = ("class_id", "conf", "xmin", "ymin", "xmax", "ymax")


class GroundTruth:
    """Ground truth of an evaluation dataset, for evaluating predictions made elsewhere.

    It offers the attributes the `Evaluator` reads from a `DataGenerator`.

    Args:
        labels: One `(k, 5)` array (or nested list) of boxes per image, columns in the
            evaluator's `gt_format` (default class_id, xmin, ymin, xmax, ymax; `corners`,
            absolute pixels). Images without boxes may give an empty array.
        image_ids: One id per image, matched against the ids of the predictions (as `str`).
            If None, the image positions `0..n-1` are the ids.
        eval_neutral: None, or one sequence of `k` booleans per image marking boxes that are
            neutral for the evaluation (Pascal VOC's "difficult").
    """

    def __init__(
        self,
        labels: Sequence[Any],
        image_ids: Sequence[Any] | None = None,
        eval_neutral: Sequence[Any] | None = None,
    ) -> None:
        self.labels = list(labels)
        self.image_ids = None if image_ids is None else list(image_ids)
        self.eval_neutral = None if eval_neutral is None else list(eval_neutral)

    def get_dataset_size(self) -> int:
        """Number of images."""
        return len(self.labels)


def _is_known_source(data_generator: Any) -> bool:
    if isinstance(data_generator, GroundTruth):
        return True
    from data_generator.object_detection_2d_data_generator import DataGenerator

    return isinstance(data_generator, DataGenerator)


def _check_format(name: str, columns: Mapping[str, int], keys: Sequence[str]) -> None:
    missing = [key for key in keys if key not in columns]
    if missing:
        raise ValueError(f"`{name}` lacks the column(s) {missing}; got {dict(columns)}.")


class Evaluator:
    """Computes the Pascal VOC style mean average precision of a detector on a dataset.

    The per-class state attributes are lists (or arrays) of length `n_classes + 1` whose
    element 0 (background) is a dummy; all are None until their step has run:
    `prediction_results` (per class a list of `(image_id, confidence, xmin, ymin, xmax,
    ymax)` tuples, absolute pixels of the original images), `num_gt_per_class`,
    `true_positives`, `false_positives`, `cumulative_true_positives`,
    `cumulative_false_positives` (ranked by descending confidence), `cumulative_precisions`,
    `cumulative_recalls`, `average_precisions` and the scalar `mean_average_precision`.

    Args:
        model: A Keras SSD model (anything with `predict(batch)`); only needed by
            `predict_on_dataset` and `__call__`, may be None otherwise.
        n_classes: Number of positive classes (20 for Pascal VOC, 80 for MS COCO).
        data_generator: A `DataGenerator` with the evaluation dataset, or a
            `GroundTruth` when only scoring predictions. Anything else triggers a warning.
        model_mode: `'training'` (raw output, decoded here with `decode_detections`),
            `'inference'` or `'inference_fast'` (output already decoded, zero-padded).
        pred_format: Columns of `'class_id', 'conf', 'xmin', 'ymin', 'xmax', 'ymax'` in
            decoded predictions.
        gt_format: Columns of `'class_id', 'xmin', 'ymin', 'xmax', 'ymax'` in the labels.

    Raises:
        ValueError: For a non-positive `n_classes`, an unknown `model_mode` or a format
            without one of its keys.
    """

    def __init__(
        self,
        model: Any,
        n_classes: int,
        data_generator: Any,
        model_mode: str = "inference",
        pred_format: Mapping[str, int] = PRED_FORMAT,
        gt_format: Mapping[str, int] = GT_FORMAT,
    ) -> None:
        if not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
            raise ValueError(f"`n_classes` must be a positive integer, got {n_classes!r}.")
        if model_mode not in _prediction.MODEL_MODES:
            raise ValueError(
                f"`model_mode` must be one of {_prediction.MODEL_MODES}, got {model_mode!r}."
            )
        _check_format("pred_format", pred_format, _PRED_KEYS)
        _check_format("gt_format", gt_format, _PRED_KEYS[:1] + _PRED_KEYS[2:])
        if not _is_known_source(data_generator):
            warnings.warn(
                "`data_generator` is neither a `DataGenerator` nor a `GroundTruth`; it must "
                "offer `labels`, `image_ids` and `eval_neutral` attributes.",
                stacklevel=2,
            )
        self.model = model
        self.data_generator = data_generator
        self.n_classes = int(n_classes)
        self.model_mode = model_mode
        self.pred_format = dict(pred_format)
        self.gt_format = dict(gt_format)
        self.prediction_results = None
        self.num_gt_per_class = None
        self.true_positives = None
        self.false_positives = None
        self.cumulative_true_positives = None
        self.cumulative_false_positives = None
        self.cumulative_precisions = None
        self.cumulative_recalls = None
        self.average_precisions = None
        self.mean_average_precision = None

    # ------------------------------------------------------------------------------------------
    # Whole pipeline

    def __call__(
        self,
        img_height: int,
        img_width: int,
        batch_size: int,
        data_generator_mode: str = "resize",
        round_confidences: int | bool = False,
        matching_iou_threshold: float = 0.5,
        border_pixels: str = "include",
        sorting_algorithm: str = "quicksort",
        average_precision_mode: str = "sample",
        num_recall_points: int = 11,
        ignore_neutral_boxes: bool = True,
        return_precisions: bool = False,
        return_recalls: bool = False,
        return_average_precisions: bool = False,
        verbose: bool = True,
        decoding_confidence_thresh: float = 0.01,
        decoding_iou_threshold: float = 0.45,
        decoding_top_k: int = 200,
        decoding_pred_coords: str | None = None,
        decoding_normalize_coords: bool | None = None,
    ) -> Any:
        """Predicts on the whole dataset and computes the mean average precision.

        Runs `predict_on_dataset` (`border_pixels` also feeds the training-mode
        decoder's NMS) and then `evaluate`.

        Args:
            img_height: Model input height in pixels.
            img_width: Model input width in pixels.
            batch_size: Prediction batch size.
            data_generator_mode: `'resize'` (warp to the input size) or `'pad'` (pad to the
                input aspect ratio, then resize).
            round_confidences: False, or the number of decimals confidences are rounded to.
            matching_iou_threshold: Minimum IoU for a prediction to match a ground truth box.
            border_pixels: `'include'`, `'exclude'` or `'half'` (box side length +1, -1 or
                +0 in the IoU's areas).
            sorting_algorithm: `kind` of `np.argsort` used to rank the predictions
                (`'mergesort'` is stable like the official VOC code).
            average_precision_mode: `'sample'`, `'integrate'` or `'voc2010'`.
            num_recall_points: Number of recall values sampled in `'sample'` mode.
            ignore_neutral_boxes: Whether evaluation-neutral boxes are ignored.
            return_precisions: Also return the cumulative precisions per class.
            return_recalls: Also return the cumulative recalls per class.
            return_average_precisions: Also return the average precision per class.
            verbose: Print progress (never changes the results).
            decoding_confidence_thresh: Training mode only: decoder confidence threshold.
            decoding_iou_threshold: Training mode only: decoder NMS IoU threshold.
            decoding_top_k: Training mode only: boxes kept per image.
            decoding_pred_coords: Training mode only: `'centroids'`, `'minmax'` or
                `'corners'`, the model's box format. None (default) reads it from the model's
                `AnchorBoxes` layers; a value contradicting the model raises ValueError. Only
                for a model without such layers does it matter (None then means
                `'centroids'`).
            decoding_normalize_coords: Training mode only: whether the model outputs relative
                coordinates. None (default) reads it from the model, as `decoding_pred_coords`
                (None then means True). See docs/differences.md#evaluator-reads-the-model.

        Returns:
            The mean average precision, or `[mAP, average_precisions, precisions, recalls]`
            restricted to the requested extras (in that order).

        Raises:
            ValueError: If the data generator has no labels (checked before predicting).
        """
        self._ground_truth_source("Evaluating")
        self.predict_on_dataset(
            img_height=img_height,
            img_width=img_width,
            batch_size=batch_size,
            data_generator_mode=data_generator_mode,
            decoding_confidence_thresh=decoding_confidence_thresh,
            decoding_iou_threshold=decoding_iou_threshold,
            decoding_top_k=decoding_top_k,
            decoding_pred_coords=decoding_pred_coords,
            decoding_normalize_coords=decoding_normalize_coords,
            decoding_border_pixels=border_pixels,
            round_confidences=round_confidences,
            verbose=verbose,
            ret=False,
        )
        return self.evaluate(
            matching_iou_threshold=matching_iou_threshold,
            border_pixels=border_pixels,
            sorting_algorithm=sorting_algorithm,
            average_precision_mode=average_precision_mode,
            num_recall_points=num_recall_points,
            ignore_neutral_boxes=ignore_neutral_boxes,
            return_precisions=return_precisions,
            return_recalls=return_recalls,
            return_average_precisions=return_average_precisions,
            verbose=verbose,
        )

    def evaluate(
        self,
        matching_iou_threshold: float = 0.5,
        border_pixels: str = "include",
        sorting_algorithm: str = "quicksort",
        average_precision_mode: str = "sample",
        num_recall_points: int = 11,
        ignore_neutral_boxes: bool = True,
        return_precisions: bool = False,
        return_recalls: bool = False,
        return_average_precisions: bool = False,
        verbose: bool = True,
    ) -> Any:
        """Scores the current `prediction_results` (from `predict_on_dataset` or
        `load_predictions`): all steps after the prediction.

        Args:
            matching_iou_threshold: See `__call__`.
            border_pixels: See `__call__`.
            sorting_algorithm: See `__call__`.
            average_precision_mode: See `__call__`.
            num_recall_points: See `__call__`.
            ignore_neutral_boxes: See `__call__`.
            return_precisions: See `__call__`.
            return_recalls: See `__call__`.
            return_average_precisions: See `__call__`.
            verbose: See `__call__`.

        Returns:
            As `__call__`.
        """
        self.get_num_gt_per_class(ignore_neutral_boxes=ignore_neutral_boxes, verbose=False)
        self.match_predictions(
            ignore_neutral_boxes=ignore_neutral_boxes,
            matching_iou_threshold=matching_iou_threshold,
            border_pixels=border_pixels,
            sorting_algorithm=sorting_algorithm,
            verbose=verbose,
        )
        self.compute_precision_recall(verbose=verbose)
        self.compute_average_precisions(
            mode=average_precision_mode, num_recall_points=num_recall_points, verbose=verbose
        )
        mean_average_precision = self.compute_mean_average_precision(ret=True)
        extras = [
            (return_average_precisions, self.average_precisions),
            (return_precisions, self.cumulative_precisions),
            (return_recalls, self.cumulative_recalls),
        ]
        if not any(flag for flag, _ in extras):
            return mean_average_precision
        return [mean_average_precision] + [value for flag, value in extras if flag]

    # ------------------------------------------------------------------------------------------
    # Predictions

    def predict_on_dataset(
        self,
        img_height: int,
        img_width: int,
        batch_size: int,
        data_generator_mode: str = "resize",
        decoding_confidence_thresh: float = 0.01,
        decoding_iou_threshold: float = 0.45,
        decoding_top_k: int = 200,
        decoding_pred_coords: str | None = None,
        decoding_normalize_coords: bool | None = None,
        decoding_border_pixels: str = "include",
        round_confidences: int | bool = False,
        verbose: bool = True,
        ret: bool = False,
    ) -> list[list[tuple]] | None:
        """Runs the model over the whole dataset and stores `prediction_results`.

        Images are converted to 3 channels and resized (`'resize'`) or padded to the input
        aspect ratio and resized (`'pad'`); predictions are decoded in training mode, mapped
        back to the original image coordinates with the inverse transforms, coordinates rounded
        to 1 decimal. Datasets without image ids get `data_generator.image_ids =
        list(range(n))`.

        Args:
            img_height: Model input height in pixels.
            img_width: Model input width in pixels.
            batch_size: Prediction batch size.
            data_generator_mode: `'resize'` or `'pad'`.
            decoding_confidence_thresh: Training mode: decoder confidence threshold.
            decoding_iou_threshold: Training mode: decoder NMS IoU threshold.
            decoding_top_k: Training mode: boxes kept per image.
            decoding_pred_coords: Training mode: the model's box format; None reads it from
                the model (see `__call__`).
            decoding_normalize_coords: Training mode: relative model coordinates; None reads
                it from the model.
            decoding_border_pixels: Training mode: `border_pixels` of the decoder's NMS.
            round_confidences: False, or the number of decimals of the stored confidences.
            verbose: Print the dataset size and a progress bar.
            ret: Return `prediction_results`.

        Returns:
            `prediction_results` if `ret`, else None.

        Raises:
            ValueError: For an unknown `data_generator_mode`, a model output of the wrong
                shape, or decoding arguments that contradict the model.
        """
        settings = _prediction.decoding_settings(
            self.model, self.model_mode, img_height, img_width, decoding_pred_coords,
            decoding_normalize_coords,
        )  # fmt: skip
        decoding = {
            "confidence_thresh": decoding_confidence_thresh,
            "iou_threshold": decoding_iou_threshold,
            "top_k": decoding_top_k,
            "border_pixels": decoding_border_pixels,
        }
        results = [[] for _ in range(self.n_classes + 1)]
        batches = self._evaluation_batches(
            img_height, img_width, batch_size, data_generator_mode, verbose
        )
        for batch_x, batch_ids, batch_inverters in batches:
            y_pred = _prediction.predict_decoded(self.model, batch_x, settings, decoding)
            y_pred = _prediction.to_original_images(y_pred, batch_inverters)
            self._add_predictions(
                results,
                y_pred,
                batch_ids,
                round_confidences,
                coordinate_decimals=1,
            )
        self.prediction_results = results
        return results if ret else None

    def load_predictions(
        self,
        predictions: Sequence[Any],
        image_ids: Sequence[Any] | None = None,
        round_confidences: int | bool = False,
        ret: bool = False,
    ) -> list[list[tuple]] | None:
        """Stores predictions made elsewhere as `prediction_results`.

        Args:
            predictions: One array per image of shape `(k, >= 6)` with columns as in
                `pred_format` (default class_id, confidence, xmin, ymin, xmax, ymax; corners,
                absolute pixels of the original image). Empty arrays are fine; rows of class 0
                (background) are skipped.
            image_ids: The id of each image; by default the data generator's `image_ids`, or
                the positions `0..n-1` if it has none.
            round_confidences: False, or the number of decimals of the stored confidences.
            ret: Return `prediction_results`.

        Returns:
            `prediction_results` if `ret`, else None.

        Raises:
            ValueError: For arrays of the wrong shape, class ids that are not integers in
                `[0, n_classes]`, or an `image_ids` list of another length.
        """
        if image_ids is None:
            image_ids = getattr(self.data_generator, "image_ids", None)
            if image_ids is None:
                image_ids = range(len(predictions))
        if len(image_ids) != len(predictions):
            raise ValueError(
                f"`predictions` has {len(predictions)} entries but `image_ids` has "
                f"{len(image_ids)}."
            )
        results = [[] for _ in range(self.n_classes + 1)]
        self._add_predictions(results, predictions, image_ids, round_confidences, None)
        self.prediction_results = results
        return results if ret else None

    def write_predictions_to_txt(
        self,
        classes: Sequence[str] | None = None,
        out_file_prefix: str = "comp3_det_test_",
        verbose: bool = True,
    ) -> None:
        """Writes one Pascal VOC results file per class.

        Each file `out_file_prefix + (classes[c] or '%04d' % c) + '.txt'` holds one line per
        prediction: the image id as 6-digit integer, the confidence rounded to 4 decimals and
        xmin ymin xmax ymax.

        Args:
            classes: Class names indexed by class id (element 0 = background), or None.
            out_file_prefix: Path prefix of the files.
            verbose: Print progress.

        Raises:
            ValueError: If there are no prediction results yet.
        """
        results = self._checked_prediction_results()
        for class_id in range(1, self.n_classes + 1):
            if verbose:
                print(f"Writing results file for class {class_id}/{self.n_classes}.")
            suffix = f"{class_id:04d}" if classes is None else classes[class_id]
            lines = [
                " ".join(map(str, [f"{int(entry[0]):06d}", round(entry[1], 4), *entry[2:]]))
                for entry in results[class_id]
            ]
            with open(f"{out_file_prefix}{suffix}.txt", "w") as handle:
                handle.writelines(line + "\n" for line in lines)
        if verbose:
            print("All results files saved.")

    # ------------------------------------------------------------------------------------------
    # Scoring steps

    def get_num_gt_per_class(
        self, ignore_neutral_boxes: bool = True, verbose: bool = True, ret: bool = False
    ) -> np.ndarray | None:
        """Counts the ground truth boxes of every class over the dataset.

        Args:
            ignore_neutral_boxes: Leave out evaluation-neutral boxes (when flags exist).
            verbose: Print what is being done.
            ret: Return the counts.

        Returns:
            `(n_classes + 1,)` int64 counts if `ret`, else None.

        Raises:
            ValueError: If the data generator has no labels, or for malformed labels.
        """
        if verbose:
            print("Computing the number of positive ground truth boxes per class.")
        index = self._ground_truth_index(ignore_neutral_boxes)
        self.num_gt_per_class = index.num_per_class(self.n_classes)
        return self.num_gt_per_class if ret else None

    def match_predictions(
        self,
        ignore_neutral_boxes: bool = True,
        matching_iou_threshold: float = 0.5,
        border_pixels: str = "include",
        sorting_algorithm: str = "quicksort",
        verbose: bool = True,
        ret: bool = False,
    ) -> tuple[list, list, list, list] | None:
        """Marks every prediction as true or false positive (see
        `eval_utils.ap_math.match_class_predictions` for the rules).

        Args:
            ignore_neutral_boxes: Matches with evaluation-neutral boxes count as neither.
            matching_iou_threshold: Minimum IoU of a match.
            border_pixels: `'include'`, `'exclude'` or `'half'` for the IoU's areas.
            sorting_algorithm: `kind` of `np.argsort` ranking the predictions.
            verbose: Show a progress bar (never changes the results).
            ret: Return the four lists.

        Returns:
            If `ret`, `(true_positives, false_positives, cumulative_true_positives,
            cumulative_false_positives)`: lists of `n_classes + 1` int arrays (element 0 an
            empty dummy) in descending confidence order; else None.

        Raises:
            ValueError: Without labels or prediction results, for malformed prediction tuples,
                or for predictions of image ids that have no ground truth entry.
        """
        border_pixel_offset(border_pixels)
        index = self._ground_truth_index(ignore_neutral_boxes)
        results = self._checked_prediction_results()
        empty = np.zeros(0, dtype=np.int64)
        outputs = [[empty] for _ in range(4)]
        classes = range(1, self.n_classes + 1)
        if verbose:
            classes = tqdm(classes, file=sys.stdout, desc="Matching predictions to ground truth")
        for class_id in classes:
            if len(results[class_id]) == 0 and verbose:
                print(f"No predictions for class {class_id}/{self.n_classes}")
            ids, values = self._class_prediction_arrays(results[class_id], class_id)
            tp, fp = ap_math.match_class_predictions(
                index.positions_of(ids, f"Predictions of class {class_id}"),
                values[:, 0],
                values[:, 1:],
                index.for_class(class_id),
                matching_iou_threshold=matching_iou_threshold,
                border_pixels=border_pixels,
                sorting_algorithm=sorting_algorithm,
                ignore_neutral_boxes=ignore_neutral_boxes,
            )
            for output, value in zip(outputs, (tp, fp, np.cumsum(tp), np.cumsum(fp)), strict=True):
                output.append(value)
        (
            self.true_positives,
            self.false_positives,
            self.cumulative_true_positives,
            self.cumulative_false_positives,
        ) = outputs
        return tuple(outputs) if ret else None

    def compute_precision_recall(
        self, verbose: bool = True, ret: bool = False
    ) -> tuple[list, list] | None:
        """Cumulative precision `tp / (tp + fp)` (0 before the first counted prediction) and
        recall `tp / num_gt` (all 0 for a class without ground truth) per class.

        Args:
            verbose: Print progress.
            ret: Return the two lists.

        Returns:
            `(cumulative_precisions, cumulative_recalls)` (lists of `n_classes + 1` float
            arrays, element 0 an empty dummy) if `ret`, else None.

        Raises:
            ValueError: If `match_predictions` or `get_num_gt_per_class` has not
                run.
        """
        if self.cumulative_true_positives is None or self.cumulative_false_positives is None:
            raise ValueError(
                "True and false positives not available. Run `match_predictions()` first."
            )
        if self.num_gt_per_class is None:
            raise ValueError(
                "Ground truth counts not available. Run `get_num_gt_per_class()` first."
            )
        precisions, recalls = [np.zeros(0)], [np.zeros(0)]
        for class_id in range(1, self.n_classes + 1):
            if verbose:
                print(f"Computing precisions and recalls, class {class_id}/{self.n_classes}")
            precision, recall = ap_math.precision_recall(
                self.cumulative_true_positives[class_id],
                self.cumulative_false_positives[class_id],
                int(self.num_gt_per_class[class_id]),
            )
            precisions.append(precision)
            recalls.append(recall)
        self.cumulative_precisions, self.cumulative_recalls = precisions, recalls
        return (precisions, recalls) if ret else None

    def compute_average_precisions(
        self,
        mode: str = "sample",
        num_recall_points: int = 11,
        verbose: bool = True,
        ret: bool = False,
    ) -> np.ndarray | None:
        """Average precision of every class.

        Args:
            mode: `'sample'` (VOC2007: mean over `num_recall_points` recall values `t` of
                the highest precision at recall >= t), `'integrate'` (the original library's
                integration, see docs/differences.md#evaluator-integrate-ap) or `'voc2010'`
                (all-point AP of VOC2010+).
            num_recall_points: Recall values sampled in `'sample'` mode.
            verbose: Print progress.
            ret: Return the average precisions.

        Returns:
            `(n_classes + 1,)` float array (element 0 = 0) if `ret`, else None.

        Raises:
            ValueError: For an unknown mode or before `compute_precision_recall`.
        """
        if self.cumulative_precisions is None or self.cumulative_recalls is None:
            raise ValueError(
                "Precisions and recalls not available. Run `compute_precision_recall()` first."
            )
        if mode not in ap_math.AP_MODES:
            raise ValueError(f"`mode` must be one of {list(ap_math.AP_MODES)}, got {mode!r}.")
        average_precisions = np.zeros(self.n_classes + 1)
        for class_id in range(1, self.n_classes + 1):
            if verbose:
                print(f"Computing average precision, class {class_id}/{self.n_classes}")
            average_precisions[class_id] = ap_math.average_precision(
                self.cumulative_precisions[class_id],
                self.cumulative_recalls[class_id],
                mode=mode,
                num_recall_points=num_recall_points,
            )
        self.average_precisions = average_precisions
        return average_precisions if ret else None

    def compute_mean_average_precision(self, ret: bool = True) -> float | None:
        """Mean of the positive classes' average precisions.

        Args:
            ret: Return the mean.

        Returns:
            The mean average precision if `ret`, else None.

        Raises:
            ValueError: Before `compute_average_precisions`.
        """
        if self.average_precisions is None:
            raise ValueError(
                "Average precisions not available. Run `compute_average_precisions()` first."
            )
        self.mean_average_precision = np.average(self.average_precisions[1:])
        return self.mean_average_precision if ret else None

    def plot_precision_recall(
        self, classes: Sequence[str] | None = None, out_file: str | None = None
    ) -> Any:
        """Precision-recall curve of every class, titled with its AP (one subplot per class).

        Args:
            classes: Class names indexed by class id (element 0 = background); ids if None.
            out_file: If given, the figure is also saved there (format from the extension).

        Returns:
            The `matplotlib.figure.Figure`.

        Raises:
            ValueError: Before `compute_average_precisions`.
        """
        if self.average_precisions is None:
            raise ValueError(
                "Average precisions not available. Run `compute_average_precisions()` first."
            )
        from eval_utils.plots import plot_precision_recall_curves

        return plot_precision_recall_curves(
            self.cumulative_precisions,
            self.cumulative_recalls,
            self.average_precisions,
            classes=classes,
            out_file=out_file,
        )

    # ------------------------------------------------------------------------------------------
    # Helpers

    def _evaluation_batches(
        self, img_height: int, img_width: int, batch_size: int, mode: str, verbose: bool
    ) -> Iterator[tuple]:
        """One pass over the dataset: `(images, image_ids, inverse_transforms)` per batch.

        Datasets without image ids get `data_generator.image_ids = list(range(n))`.
        """
        generator = self.data_generator.generate(
            batch_size=batch_size,
            shuffle=False,
            transformations=_prediction.evaluation_transformations(
                img_height, img_width, mode, self.gt_format
            ),
            label_encoder=None,
            returns={
                "processed_images",
                "image_ids",
                "evaluation-neutral",
                "inverse_transform",
                "original_labels",
            },
            keep_images_without_gt=True,
            degenerate_box_handling="remove",
        )
        if self.data_generator.image_ids is None:
            self.data_generator.image_ids = list(range(self.data_generator.get_dataset_size()))
        n_images = self.data_generator.get_dataset_size()
        batches = range(ceil(n_images / batch_size))
        if verbose:
            print(f"Number of images in the evaluation dataset: {n_images}\n")
            batches = tqdm(batches, file=sys.stdout, desc="Producing predictions batch-wise")
        for _ in batches:
            batch_x, batch_ids, _neutral, batch_inverters, _labels = next(generator)
            yield batch_x, batch_ids, batch_inverters

    def _add_predictions(
        self,
        results: list[list[tuple]],
        predictions: Sequence[Any],
        image_ids: Sequence[Any],
        round_confidences: int | bool,
        coordinate_decimals: int | None,
    ) -> None:
        """Appends per-image prediction arrays to the per-class tuple lists `results`."""
        rows, owners = self._stacked_predictions(predictions, image_ids)
        class_ids = ap_math.checked_class_ids(rows[:, CLASS_ID], self.n_classes, "`predictions`")
        confidences = rows[:, CONFIDENCE]
        if round_confidences:
            confidences = np.round(confidences, round_confidences)
        boxes = rows[:, BOX]
        if coordinate_decimals is not None:
            boxes = np.round(boxes, coordinate_decimals)
        for class_id in np.unique(class_ids[class_ids > 0]):
            selected = np.flatnonzero(class_ids == class_id)
            ids = [image_ids[k] for k in owners[selected]]
            # NumPy scalars (as the original stored them) keep e.g. float32 values printable
            results[class_id].extend(
                zip(ids, confidences[selected], *boxes[selected].T, strict=True)
            )

    def _stacked_predictions(
        self, predictions: Sequence[Any], image_ids: Sequence[Any]
    ) -> tuple[np.ndarray, np.ndarray]:
        """All prediction rows in `_PRED_KEYS` column order, and the image of each row."""
        columns = [self.pred_format[key] for key in _PRED_KEYS]
        blocks = []
        for position, item in enumerate(predictions):
            what = f"Predictions of image {position} (id {image_ids[position]!r})"
            blocks.append(ap_math.as_rows(item, max(columns) + 1, what)[:, columns])
        counts = [len(block) for block in blocks]
        filled = [block for block in blocks if len(block)]
        rows = np.concatenate(filled) if filled else np.zeros((0, len(columns)))
        return rows, np.repeat(np.arange(len(blocks)), counts)

    def _checked_prediction_results(self) -> list:
        results = self.prediction_results
        if results is None:
            raise ValueError(
                "There are no prediction results. Run `predict_on_dataset()` or "
                "`load_predictions()` first."
            )
        if len(results) != self.n_classes + 1:
            raise ValueError(
                f"`prediction_results` must hold n_classes + 1 = {self.n_classes + 1} per-class "
                f"lists (element 0 for the background), got {len(results)}."
            )
        return results

    @staticmethod
    def _class_prediction_arrays(entries: Sequence[Any], class_id: int):
        """Image ids and an `(n, 5)` float32 array (confidence, xmin, ymin, xmax, ymax)."""
        if len(entries) == 0:
            return [], np.zeros((0, 5), dtype=np.float32)
        try:
            ids, *values = zip(*entries, strict=True)
            if len(values) != 5:
                raise ValueError(f"{len(values) + 1} fields")
            return list(ids), np.array(values, dtype=np.float32).T
        except (ValueError, TypeError) as error:
            raise ValueError(
                f"`prediction_results[{class_id}]` must hold tuples (image_id, confidence, xmin, "
                f"ymin, xmax, ymax) of numbers: {error}"
            ) from error

    def _ground_truth_source(self, action: str) -> tuple[Sequence, Sequence | None, Any]:
        labels = getattr(self.data_generator, "labels", None)
        if labels is None:
            raise ValueError(
                f"{action} needs ground truth, but `data_generator` has no labels "
                f"(data_generator.labels is None)."
            )
        return (
            labels,
            getattr(self.data_generator, "image_ids", None),
            getattr(self.data_generator, "eval_neutral", None),
        )

    def _ground_truth_index(self, ignore_neutral_boxes: bool) -> ap_math.GroundTruthIndex:
        labels, image_ids, eval_neutral = self._ground_truth_source("Evaluating")
        return ap_math.GroundTruthIndex.build(
            labels,
            self.n_classes,
            self.gt_format,
            image_ids=image_ids,
            eval_neutral=eval_neutral if ignore_neutral_boxes else None,
        )


__all__ = ["GT_FORMAT", "PRED_FORMAT", "Evaluator", "GroundTruth"]
