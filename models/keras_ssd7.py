"""SSD7: a small seven-layer SSD for quick experiments (`build_model`).

Seven convolution blocks (conv -> batch norm -> ELU, max pooling after blocks 1-6); the ELU
outputs of blocks 4-7 feed four predictor layers. The batch norm layers are
`keras_layers.keras_layer_BatchNormalization.BatchNormalization`, Keras's layer with a faster
training step.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from keras_layers.keras_layer_BatchNormalization import BatchNormalization
from models._ssd_common import SSD7_HEAD_NAMES, apply_checked, build_ssd, conv2d

N_PREDICTOR_LAYERS = 4
# (filters, kernel size) of conv1 ... conv7.
_BLOCKS = ((32, 5), (48, 3), (64, 3), (64, 3), (48, 3), (48, 3), (32, 3))
_POOLED_BLOCKS = 6  # pool1 ... pool6
_FIRST_SOURCE_BLOCK = 4  # elu4 ... elu7 feed the predictors


def _conv_block(x, index: int, filters: int, kernel_size: int, l2_reg: float, image_size):
    """conv{index} -> bn{index} -> elu{index} [-> pool{index}]."""
    x = apply_checked(conv2d(filters, kernel_size, f"conv{index}", l2_reg), x, image_size)
    x = BatchNormalization(axis=3, momentum=0.99, name=f"bn{index}")(x)
    x = keras.layers.ELU(name=f"elu{index}")(x)
    if index > _POOLED_BLOCKS:
        return x, x
    pooled = apply_checked(keras.layers.MaxPooling2D((2, 2), name=f"pool{index}"), x, image_size)
    return x, pooled


def _backbone(x, l2_reg: float, image_size) -> list:
    """Runs the seven blocks; returns `(label, tensor)` for the four predictor sources."""
    sources = []
    for index, (filters, kernel_size) in enumerate(_BLOCKS, start=1):
        features, x = _conv_block(x, index, filters, kernel_size, l2_reg, image_size)
        if index >= _FIRST_SOURCE_BLOCK:
            sources.append((str(index), features))
    return sources


def build_model(
    image_size: Sequence[int],
    n_classes: int,
    mode: str = "training",
    l2_regularization: float = 0.0,
    min_scale: float | None = 0.1,
    max_scale: float | None = 0.9,
    scales: Sequence[float] | None = None,
    aspect_ratios_global: Sequence[float] | None = (0.5, 1.0, 2.0),
    aspect_ratios_per_layer: Sequence[Sequence[float]] | None = None,
    two_boxes_for_ar1: bool = True,
    steps: Sequence | None = None,
    offsets: Sequence | None = None,
    clip_boxes: bool = False,
    variances: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    coords: str = "centroids",
    normalize_coords: bool = False,
    subtract_mean: float | Sequence[float] | None = None,
    divide_by_stddev: float | Sequence[float] | None = None,
    swap_channels: Sequence[int] | bool = False,
    confidence_thresh: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int = 200,
    nms_max_output_size: int = 400,
    return_predictor_sizes: bool = False,
    dtype: str | keras.DTypePolicy | None = None,
):
    """Builds the SSD7 model.

    Args:
        image_size: `(height, width, channels)` of the input images, in pixels.
        n_classes: number of positive classes (the background class is added internally).
        mode: `'training'` (raw predictions), `'inference'` (adds `DecodeDetections`, per-class
            NMS) or `'inference_fast'` (adds `DecodeDetectionsFast`, class-agnostic NMS).
        l2_regularization: L2 factor on every convolution kernel. Defaults to 0.
        min_scale, max_scale: smallest and largest anchor scale (fraction of the shorter image
            side), spread linearly over the 4 predictor layers plus one; ignored if `scales`.
        scales: 5 explicit scales (the last only sizes the extra aspect-ratio-1 box of the last
            predictor layer).
        aspect_ratios_global: aspect ratios (w/h) used on every predictor layer.
        aspect_ratios_per_layer: 4 lists of aspect ratios; overrides `aspect_ratios_global`.
        two_boxes_for_ar1: add a second aspect-ratio-1 anchor of scale sqrt(s * s_next).
        steps: None (image size / feature map size) or 4 entries, each a number or a
            `(step_h, step_w)` pair of anchor-centre distances in pixels.
        offsets: None (0.5) or 4 entries, each a number or a `(off_h, off_w)` pair, the first
            anchor centre in units of the step.
        clip_boxes: clip anchor corners to the image.
        variances: 4 positive values the encoded offsets are divided by.
        coords: anchor box format in the output: `'centroids'` (cx, cy, w, h), `'minmax'`
            (xmin, xmax, ymin, ymax) or `'corners'` (xmin, ymin, xmax, ymax).
        normalize_coords: anchors relative to the image size (True) or in pixels (False).
        subtract_mean: None or a value broadcastable against the input, subtracted first.
        divide_by_stddev: None or a value broadcastable against the input, divided next.
        swap_channels: False or 3 or 4 channel indices, applied last (e.g. `[2, 1, 0]`).
        confidence_thresh, iou_threshold, top_k, nms_max_output_size: decoding parameters of
            the inference modes (see `DecodeDetections`).
        return_predictor_sizes: also return the predictor layers' feature-map sizes.
        dtype: Keras dtype policy of the model's layers, or its name (`'mixed_bfloat16'` on a
            CPU, `'mixed_float16'` on a GPU); None (default) takes the global policy
            (`keras.config.set_dtype_policy`). Under a mixed policy the convolutions compute in
            16 bits while the input pre-processing, anchors, softmax, `predictions` and decoder
            stay float32, so the outputs are float32 either way.

    Returns:
        A `keras.Model` mapping `(batch, height, width, channels)` images to
        `(batch, n_anchors, n_classes + 1 + 12)` raw predictions (training) or
        `(batch, top_k, 6)` decoded rows `[class_id, confidence, xmin, ymin, xmax, ymax]` in
        pixels (inference modes); with `return_predictor_sizes`, `(model, sizes)` where
        `sizes` is an int array `(4, 2)` of `(feature map height, width)`.

    Raises:
        ValueError: invalid `mode`, `n_classes` < 1, anchor arguments whose lengths do not
            match the 4 predictor layers, bad `variances`, or an image too small for the network.
    """
    builder_args = dict(locals())  # the arguments above, passed on by name
    return build_ssd(_backbone, N_PREDICTOR_LAYERS, SSD7_HEAD_NAMES, **builder_args)
