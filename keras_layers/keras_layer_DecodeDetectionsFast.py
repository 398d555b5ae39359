"""In-graph decoding of raw SSD predictions with one class-agnostic non-maximum suppression."""

from __future__ import annotations

import keras
from keras import ops

from keras_layers._decoding import DetectionDecoder


@keras.saving.register_keras_serializable(package="ssd_keras")
class DecodeDetectionsFast(DetectionDecoder):
    """Decodes raw SSD predictions into the best detections, with one NMS over all classes.

    Every box gets the class of its highest score, background included, and that score as its
    confidence. Boxes whose best class is the background, or whose confidence is not greater than
    `confidence_thresh`, are dropped; the rest enter a single class-agnostic greedy NMS (IoU
    greater than `iou_threshold` suppresses, at most `nms_max_output_size` boxes kept) and the
    `top_k` most confident survivors are returned.

    The NMS stops as soon as `top_k` boxes are kept, so a low `confidence_thresh` costs
    little more than a high one.

    Args:
        confidence_thresh: float. Minimum confidence (exclusive) to be an NMS candidate.
            Defaults to `0.01`.
        iou_threshold: float in [0, 1]. Boxes overlapping a better box by more than this are
            suppressed, whatever their classes. Defaults to `0.45`.
        top_k: int. Number of detections returned per image. Defaults to `200`.
        nms_max_output_size: int. Maximum number of boxes kept by the NMS. Defaults to `400`.
        coords: str. Box format of the anchors in the input; only `'centroids'` (cx, cy, w, h)
            is supported. Defaults to `'centroids'`.
        normalize_coords: bool. Whether the anchors are relative to the image size; the boxes are
            then scaled to pixels with `img_height` and `img_width`. Defaults to `True`.
        img_height: int or None. Image height in pixels, required if `normalize_coords`.
        img_width: int or None. Image width in pixels, required if `normalize_coords`.
        **kwargs: Standard `keras.layers.Layer` arguments such as `name`.

    Call arguments:
        y_pred: Tensor `(batch, n_boxes, n_classes + 12)`: class scores (background in column 0),
            encoded offsets, anchors in `centroids` format and variances.

    Returns:
        Float32 tensor `(batch, top_k, 6)` of rows `[class_id, confidence, xmin, ymin, xmax, ymax]`
        (`corners`, pixels if `normalize_coords`) in descending confidence, zero rows last.
        No gradient flows through this layer.

    Example:
        >>> import numpy as np
        >>> from ssd_encoder_decoder.output_layout import (
        ...     ANCHORS, CLASS_SCORES, VARIANCES, prediction_width)
        >>> decode = DecodeDetectionsFast(img_height=300, img_width=300, top_k=2)
        >>> y = np.zeros((1, 2, prediction_width(2)), "float32")  # 2 boxes, 2 classes
        >>> y[0, :, CLASS_SCORES] = [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1]]  # box 2: background
        >>> y[0, :, ANCHORS] = [[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]]  # centroids
        >>> y[0, :, VARIANCES] = 1.0
        >>> np.asarray(decode(y))[0].astype(float).round(2).tolist()
        [[2.0, 0.7, 120.0, 120.0, 180.0, 180.0], [0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]
    """

    decoding_mode = "inference_fast"

    def candidates(self, class_scores):
        """A single NMS group holding every box whose best class is not the background.

        Args:
            class_scores: Tensor `(batch, n_boxes, n_classes)`.

        Returns:
            `(class_ids, scores, valid)`, each `(batch, 1, n_boxes)`.
        """
        class_ids = ops.cast(ops.argmax(class_scores, axis=-1), class_scores.dtype)[:, None, :]
        scores = ops.max(class_scores, axis=-1)[:, None, :]
        valid = ops.logical_and(class_ids != 0.0, scores > self.confidence_thresh)
        return class_ids, scores, valid
