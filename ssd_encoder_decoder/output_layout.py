"""The SSD output contract: where each value sits in the model output and in a detection row.

Every SSD model of this library ends in a `predictions` tensor of shape
`(batch, n_anchors, n_classes + 1 + 12)`, and `SSDInputEncoder` produces training targets
`y_encoded` of the same shape. Their last axis holds, in this order:

* `CLASS_SCORES`: `n_classes + 1` class scores (softmax probabilities in `y_pred`, one-hot in
  `y_encoded`), column `BACKGROUND_ID` (0) being the background class;
* `OFFSETS`: the 4 encoded box offsets relative to the anchor;
* `ANCHORS`: the 4 anchor coordinates in the model's `coords` format (`centroids` =
  (cx, cy, w, h), `corners` = (xmin, ymin, xmax, ymax) or `minmax` = (xmin, xmax, ymin, ymax)),
  relative to the image size when `normalize_coords` is set, else in pixels;
* `VARIANCES`: the 4 variances the offsets were divided by.

The last 12 columns are addressed from the end, so the slices work for any class count.

Decoded detections (the output of `decode_detections`, of the `DecodeDetections` layers and of
`models.prediction.predict_detections`) are rows of `ROW_WIDTH` = 6 values
`[class_id, confidence, xmin, ymin, xmax, ymax]` (`corners`, pixels).

This module is the one owner of these positions; every other module imports them from here.
"""

from __future__ import annotations

from typing import Any

# ----------------------------------------------------------------------------------------------
# Raw predictions `y_pred` and training targets `y_encoded`: (batch, n_anchors, C + 12)

BOX_VALUES = 4  # values per box: offsets, anchor coordinates and variances each have 4
N_BOX_COLUMNS = 3 * BOX_VALUES  # offsets + anchors + variances at the end of the last axis
ANCHOR_LAYER_WIDTH = 2 * BOX_VALUES  # anchors + variances, as output by the AnchorBoxes layer

BACKGROUND_ID = 0
CLASS_SCORES = slice(None, -N_BOX_COLUMNS)
OBJECT_CLASS_SCORES = slice(BACKGROUND_ID + 1, -N_BOX_COLUMNS)
OFFSETS = slice(-N_BOX_COLUMNS, -2 * BOX_VALUES)
ANCHORS = slice(-2 * BOX_VALUES, -BOX_VALUES)
VARIANCES = slice(-BOX_VALUES, None)
BOX_COLUMNS = slice(-N_BOX_COLUMNS, None)  # OFFSETS, ANCHORS and VARIANCES together

# ----------------------------------------------------------------------------------------------
# Decoded detection rows: [class_id, confidence, xmin, ymin, xmax, ymax]

CLASS_ID = 0
CONFIDENCE = 1
BOX = slice(2, 6)
XMIN, YMIN, XMAX, YMAX = 2, 3, 4, 5
X_COLUMNS = [XMIN, XMAX]
Y_COLUMNS = [YMIN, YMAX]
ROW_WIDTH = 6


def prediction_width(n_classes: int) -> int:
    """Width of the last axis of `y_pred` / `y_encoded` for `n_classes` positive classes.

    Args:
        n_classes: Number of positive classes (without the background).

    Returns:
        `n_classes + 1 + 12`.
    """
    return n_classes + 1 + N_BOX_COLUMNS


def n_classes_of_width(width: int) -> int:
    """Number of positive classes of a raw prediction whose last axis has `width` values.

    Args:
        width: Width of the last axis of `y_pred` / `y_encoded`.

    Returns:
        `width - 13`, the class count without the background.
    """
    return int(width) - 1 - N_BOX_COLUMNS


def is_decoded_width(width: int | None) -> bool:
    """True when a last axis of `width` values holds decoded rows rather than raw predictions.

    A raw prediction has at least `1 + 1 + 12` = 14 columns, so 6 is unambiguous.
    """
    return width is not None and int(width) == ROW_WIDTH


# ----------------------------------------------------------------------------------------------
# Reading the contract off a built Keras model

PREDICTIONS_LAYER_NAME = "predictions"  # the layer concatenating classes, offsets and anchors
DECODER_LAYER_NAME = "decoded_predictions"  # the decoding layer of inference-mode models


def decoding_layer(model: Any) -> Any | None:
    """The decoding layer of an inference-mode model, None for a training-mode model.

    A decoding layer is one with a `decoding_parameters()` method (`DecodeDetections`,
    `DecodeDetectionsFast`); the last one in the model is returned.
    """
    decoders = [
        layer
        for layer in getattr(model, "layers", [])
        if callable(getattr(layer, "decoding_parameters", None))
    ]
    return decoders[-1] if decoders else None


def raw_predictions(model: Any) -> Any | None:
    """The symbolic raw-prediction tensor `(batch, n_anchors, n_classes + 1 + 12)` of a model.

    Args:
        model: A Keras model in `training` mode (whose output it is) or in an inference mode
            (where it is the input of the decoding layer).

    Returns:
        The symbolic tensor, or None for a decoded output without a decoding layer (a model not
        built by this library).
    """
    output = model.outputs[0]
    if not is_decoded_width(output.shape[-1]):
        return output
    decoder = decoding_layer(model)
    return None if decoder is None else decoder.input


def model_n_classes(model: Any) -> int | None:
    """Positive class count of an SSD model (raw prediction width minus 13), None if unknown."""
    raw = raw_predictions(model)
    return None if raw is None else n_classes_of_width(raw.shape[-1])
