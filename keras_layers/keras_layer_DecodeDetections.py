"""In-graph decoding of raw SSD predictions with per-class non-maximum suppression."""

from __future__ import annotations

import keras
from keras import ops

from keras_layers._decoding import DetectionDecoder


@keras.saving.register_keras_serializable(package="ssd_keras")
class DecodeDetections(DetectionDecoder):
    """Decodes raw SSD predictions into the best detections, with one NMS per class.

    For every image and every object class `c = 1 .. n_classes - 1`: boxes whose class-`c`
    score is greater than `confidence_thresh` enter a greedy NMS that drops boxes with an IoU
    greater than `iou_threshold` with a better box and keeps at most `nms_max_output_size`
    boxes. Of all classes' survivors the `top_k` most confident are returned. This matches
    `decode_detections` (numpy) with `border_pixels='half'` except that the per-class NMS is
    capped and the rows come sorted and zero-padded.

    The per-class NMS and the choice of the `top_k` rows run as one scan over the candidates of
    all classes in descending score order, which stops once `top_k` rows are kept. Only the
    candidates needed for the output are compared, so a low `confidence_thresh` such as the
    default 0.01 costs little more than a high one.

    Args:
        confidence_thresh: float. Minimum class score (exclusive) to be an NMS candidate.
            Defaults to `0.01`.
        iou_threshold: float in [0, 1]. Boxes overlapping a better box of the same class by more
            than this are suppressed. Defaults to `0.45`.
        top_k: int. Number of detections returned per image. Defaults to `200`.
        nms_max_output_size: int. Maximum number of boxes kept per class by the NMS.
            Defaults to `400`.
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
        >>> from ssd_encoder_decoder.output_layout import ANCHORS, VARIANCES, prediction_width
        >>> decode = DecodeDetections(img_height=300, img_width=300, top_k=3)
        >>> y = np.zeros((1, 2, prediction_width(2)), "float32")  # 2 boxes, 2 classes
        >>> y[0, :, 1] = [0.9, 0.8]  # class-1 scores
        >>> y[0, :, ANCHORS] = [[0.5, 0.5, 0.2, 0.2], [0.2, 0.2, 0.1, 0.1]]  # centroids
        >>> y[0, :, VARIANCES] = 1.0
        >>> np.asarray(decode(y))[0, :, :2].astype(float).round(2).tolist()
        [[1.0, 0.9], [1.0, 0.8], [0.0, 0.0]]
    """

    def candidates(self, class_scores):
        """One NMS group per object class (background column 0 skipped).

        Args:
            class_scores: Tensor `(batch, n_boxes, n_classes)`.

        Returns:
            `(class_ids, scores, valid)`, each `(batch, n_classes - 1, n_boxes)`.
        """
        scores = ops.transpose(class_scores[..., 1:], (0, 2, 1))
        n_object_classes = scores.shape[1]
        class_ids = ops.reshape(ops.arange(1, n_object_classes + 1, dtype=scores.dtype), (1, -1, 1))
        class_ids = ops.broadcast_to(class_ids, ops.shape(scores))
        valid = scores > self.confidence_thresh
        return class_ids, scores, valid
