"""SSD512: the VGG-16 based SSD of Liu et al. for 512x512 inputs (`ssd_512`).

Predictor layers: conv4_3_norm, fc7, conv6_2, conv7_2, conv8_2, conv9_2, conv10_2.
The network itself is built by `models._ssd_vgg` (shared with SSD300).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from models._ssd_vgg import SSD512_EXTRAS, build_ssd_vgg

_DEFAULT_ASPECT_RATIOS = (
    (1.0, 2.0, 0.5),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0),
    (1.0, 2.0, 0.5, 3.0, 1.0 / 3.0),
    (1.0, 2.0, 0.5),
    (1.0, 2.0, 0.5),
)


def ssd_512(
    image_size: Sequence[int],
    n_classes: int,
    mode: str = "training",
    l2_regularization: float = 0.0005,
    min_scale: float | None = None,
    max_scale: float | None = None,
    scales: Sequence[float] | None = None,
    aspect_ratios_global: Sequence[float] | None = None,
    aspect_ratios_per_layer: Sequence[Sequence[float]] | None = _DEFAULT_ASPECT_RATIOS,
    two_boxes_for_ar1: bool = True,
    steps: Sequence | None = (8, 16, 32, 64, 128, 256, 512),
    offsets: Sequence | None = None,
    clip_boxes: bool = False,
    variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
    coords: str = "centroids",
    normalize_coords: bool = True,
    subtract_mean: float | Sequence[float] | None = (123, 117, 104),
    divide_by_stddev: float | Sequence[float] | None = None,
    swap_channels: Sequence[int] | bool = (2, 1, 0),
    confidence_thresh: float = 0.01,
    iou_threshold: float = 0.45,
    top_k: int = 200,
    nms_max_output_size: int = 400,
    return_predictor_sizes: bool = False,
    dtype: str | keras.DTypePolicy | None = None,
):
    """Builds the SSD512 model (7 predictor layers).

    Args:
        image_size: `(height, width, channels)` of the input images, in pixels (nominally
            `(512, 512, 3)`; other sizes give other feature-map sizes).
        n_classes: number of positive classes (the background class is added internally).
        mode: `'training'` (raw predictions), `'inference'` (adds `DecodeDetections`, per-class
            NMS) or `'inference_fast'` (adds `DecodeDetectionsFast`, class-agnostic NMS).
        l2_regularization: L2 factor on every convolution kernel.
        min_scale, max_scale: smallest and largest anchor scale (fraction of the shorter image
            side), spread linearly over the predictor layers plus one; ignored if `scales`.
        scales: 8 explicit scales (the last only sizes the extra aspect-ratio-1 box of
            the last predictor layer). One of `scales` or `min_scale`/`max_scale` is required.
        aspect_ratios_global: aspect ratios (w/h) for every predictor layer, used only if
            `aspect_ratios_per_layer` is None.
        aspect_ratios_per_layer: 7 lists of aspect ratios.
        two_boxes_for_ar1: add a second aspect-ratio-1 anchor of scale sqrt(s * s_next).
        steps: None or 7 entries, each a number or a `(step_h, step_w)` pair: distance
            between anchor centres in pixels.
        offsets: None (0.5) or 7 entries, each a number or a `(off_h, off_w)` pair, the first
            anchor centre in units of the step.
        clip_boxes: clip anchor corners to the image.
        variances: 4 positive values the encoded offsets are divided by.
        coords: anchor box format in the output: `'centroids'` (cx, cy, w, h), `'minmax'`
            (xmin, xmax, ymin, ymax) or `'corners'` (xmin, ymin, xmax, ymax).
        normalize_coords: anchors relative to the image size (True) or in pixels (False).
        subtract_mean: None or a value broadcastable against the input, subtracted first (so
            per-channel means are in the input's channel order, RGB for the trained weights).
        divide_by_stddev: None or a value broadcastable against the input, divided next.
        swap_channels: False or 3 or 4 channel indices, applied last (`[2, 1, 0]`: RGB -> BGR).
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
        `(batch, n_anchors, n_classes + 1 + 12)` raw predictions (training; 24564 anchors
        at 512x512) or `(batch, top_k, 6)` decoded rows
        `[class_id, confidence, xmin, ymin, xmax, ymax]` in pixels (inference modes); with
        `return_predictor_sizes`, `(model, sizes)` where `sizes` is an int array `(7, 2)`.

    Raises:
        ValueError: invalid `mode`, `n_classes` < 1, missing scales, anchor arguments whose
            lengths do not match the 7 predictor layers, bad `variances`, or an image too
            small for the network.
    """
    builder_args = dict(locals())  # the arguments above, passed on by name
    return build_ssd_vgg(SSD512_EXTRAS, **builder_args)
