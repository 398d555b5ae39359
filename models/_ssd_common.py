"""Pieces shared by the SSD7, SSD300 and SSD512 builders.

* argument checking and the per-predictor-layer anchor settings (`resolve_anchor_settings`),
* the in-graph input pre-processing (`preprocess_input`),
* the prediction heads, the `predictions` tensor and the optional decoding layer
  (`build_predictions`, `finish_model`).

Output layout of every model in `training` mode, `(batch, n_anchors, n_classes + 1 + 12)`:
`[softmax class scores (background first) | 4 encoded box offsets | 4 anchor coordinates in the
model's `coords` format | 4 variances]`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes
from keras_layers.keras_layer_DecodeDetections import DecodeDetections
from keras_layers.keras_layer_DecodeDetectionsFast import DecodeDetectionsFast
from keras_layers.keras_layer_preprocessing import (
    CHANNEL_SWAP_LAYER_NAME,
    IDENTITY_LAYER_NAME,
    MEAN_LAYER_NAME,
    STDDEV_LAYER_NAME,
    InputChannelSwap,
    InputMeanNormalization,
    InputStddevNormalization,
)

MODES = ("training", "inference", "inference_fast")
DECODER_LAYER_NAME = "decoded_predictions"
PREDICTIONS_LAYER_NAME = "predictions"
INPUT_LAYER_NAME = "input_1"
BOX_COORDS = 4  # box offsets per anchor in the loc head
ANCHOR_WIDTH = 8  # anchor coordinates + variances per anchor from AnchorBoxes


@dataclass(frozen=True)
class AnchorSettings:
    """Per-predictor-layer anchor parameters, already checked.

    Attributes:
        scales: `n_layers + 1` scales (fractions of the shorter image side).
        aspect_ratios: one aspect-ratio list per predictor layer.
        n_boxes: number of anchors per feature-map cell, per predictor layer.
        steps: per layer `None`, a number or a `(step_h, step_w)` pair, in pixels.
        offsets: per layer `None`, a number or a `(off_h, off_w)` pair, in units of a step.
        variances: the four variances.
    """

    scales: list
    aspect_ratios: list
    n_boxes: list
    steps: list
    offsets: list
    variances: list


def check_mode(mode: str) -> None:
    """Raises ValueError unless `mode` is one of `MODES`."""
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {list(MODES)}, got {mode!r}.")


def check_n_classes(n_classes: int) -> None:
    """Raises ValueError unless `n_classes` (positive classes) is at least 1."""
    if not isinstance(n_classes, (int, np.integer)) or isinstance(n_classes, bool):
        raise ValueError(f"`n_classes` must be an integer >= 1, got {n_classes!r}.")
    if n_classes < 1:
        raise ValueError(f"`n_classes` must be >= 1 (positive classes), got {n_classes}.")


def check_image_size(image_size: Sequence[int]) -> tuple[int, int, int]:
    """Returns `image_size` as `(height, width, channels)` ints or raises ValueError."""
    try:
        height, width, channels = (int(v) for v in image_size)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`image_size` must be (height, width, channels), got {image_size!r}."
        ) from error
    if min(height, width, channels) < 1:
        raise ValueError(f"`image_size` must hold positive sizes, got {tuple(image_size)!r}.")
    return height, width, channels


def _per_layer(value: Any, n_layers: int, argument: str) -> list:
    """`None` -> `[None] * n_layers`; a sequence must have one entry per predictor layer."""
    if value is None:
        return [None] * n_layers
    if len(value) != n_layers:
        raise ValueError(
            f"`{argument}` must have one entry per predictor layer ({n_layers}), "
            f"got {len(value)}: {value!r}."
        )
    return list(value)


def _resolve_scales(min_scale, max_scale, scales, n_layers: int) -> list:
    if scales:
        if len(scales) != n_layers + 1:
            raise ValueError(
                f"`scales` must have n_predictor_layers + 1 = {n_layers + 1} entries, "
                f"got {len(scales)}: {scales!r}."
            )
        return [float(s) for s in scales]
    if min_scale is None or max_scale is None:
        raise ValueError(
            "Either `scales` or both `min_scale` and `max_scale` must be given, got "
            f"min_scale={min_scale!r}, max_scale={max_scale!r}, scales={scales!r}."
        )
    return [float(s) for s in np.linspace(min_scale, max_scale, n_layers + 1)]


def _resolve_aspect_ratios(aspect_ratios_global, aspect_ratios_per_layer, n_layers: int) -> list:
    if aspect_ratios_global is None and aspect_ratios_per_layer is None:
        raise ValueError(
            "`aspect_ratios_global` and `aspect_ratios_per_layer` cannot both be None."
        )
    if aspect_ratios_per_layer:
        if len(aspect_ratios_per_layer) != n_layers:
            raise ValueError(
                f"`aspect_ratios_per_layer` must have one list per predictor layer "
                f"({n_layers}), got {len(aspect_ratios_per_layer)}: {aspect_ratios_per_layer!r}."
            )
        return [[float(ar) for ar in ratios] for ratios in aspect_ratios_per_layer]
    return [[float(ar) for ar in aspect_ratios_global] for _ in range(n_layers)]


def _resolve_variances(variances) -> list:
    values = np.asarray(variances, dtype=np.float64).ravel()
    if values.size != 4:
        raise ValueError(f"`variances` must have 4 entries, got {values.size}: {variances!r}.")
    if np.any(values <= 0):
        raise ValueError(f"All `variances` must be > 0, got {variances!r}.")
    return values.tolist()


def _plain(value: Any) -> Any:
    """Numbers and (nested) sequences as plain Python floats/lists, for layer configs."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return float(value)
    return np.asarray(value, dtype=np.float64).tolist()


def resolve_anchor_settings(
    n_layers: int,
    min_scale,
    max_scale,
    scales,
    aspect_ratios_global,
    aspect_ratios_per_layer,
    two_boxes_for_ar1: bool,
    steps,
    offsets,
    variances,
) -> AnchorSettings:
    """Checks the anchor arguments of a builder and expands them per predictor layer.

    Args:
        n_layers: number of predictor layers of the model.
        min_scale, max_scale, scales, aspect_ratios_global, aspect_ratios_per_layer,
        two_boxes_for_ar1, steps, offsets, variances: as in the builders.

    Returns:
        The `AnchorSettings`.

    Raises:
        ValueError: naming the offending argument and its value.
    """
    aspect_ratios = _resolve_aspect_ratios(aspect_ratios_global, aspect_ratios_per_layer, n_layers)
    n_boxes = [
        len(ars) + 1 if (1 in ars and two_boxes_for_ar1) else len(ars) for ars in aspect_ratios
    ]
    return AnchorSettings(
        scales=_resolve_scales(min_scale, max_scale, scales, n_layers),
        aspect_ratios=aspect_ratios,
        n_boxes=n_boxes,
        steps=[_plain(s) for s in _per_layer(steps, n_layers, "steps")],
        offsets=[_plain(o) for o in _per_layer(offsets, n_layers, "offsets")],
        variances=_resolve_variances(variances),
    )


def apply_checked(layer: keras.layers.Layer, x, image_size: Sequence[int]):
    """Applies a spatial layer, raising ValueError if the image is too small to reach it.

    Args:
        layer: a convolution, pooling or padding layer.
        x: its input tensor `(batch, h, w, c)`.
        image_size: the builder's `image_size`, for the error message.

    Returns:
        The layer's output tensor.
    """
    too_small = ValueError(
        f"`image_size`={tuple(image_size)} is too small for this network: the input of layer "
        f"'{layer.name}' has spatial size {tuple(x.shape[1:3])}."
    )
    try:
        out_shape = layer.compute_output_shape(x.shape)
    except ValueError as error:
        raise too_small from error
    if any(d is not None and d < 1 for d in out_shape[1:3]):
        raise too_small
    return layer(x)


def preprocess_input(x, subtract_mean, divide_by_stddev, swap_channels):
    """Adds the pre-processing layers: identity, then mean, stddev and channel swap if requested.

    Args:
        x: the model input `(batch, height, width, channels)`.
        subtract_mean: None or a value broadcastable against the input (RGB order).
        divide_by_stddev: None or a value broadcastable against the input.
        swap_channels: False/None or 3 or 4 channel indices (applied after the mean).

    Returns:
        The pre-processed tensor.
    """
    x = keras.layers.Identity(name=IDENTITY_LAYER_NAME)(x)
    if subtract_mean is not None:
        x = InputMeanNormalization(subtract_mean, name=MEAN_LAYER_NAME)(x)
    if divide_by_stddev is not None:
        x = InputStddevNormalization(divide_by_stddev, name=STDDEV_LAYER_NAME)(x)
    if swap_channels:
        x = InputChannelSwap(swap_channels, name=CHANNEL_SWAP_LAYER_NAME)(x)
    return x


def conv2d(filters: int, kernel_size, name: str, l2_regularization: float, **kwargs: Any):
    """`Conv2D` with the original's initialiser (`he_normal`) and L2 kernel regulariser."""
    kwargs.setdefault("padding", "same")
    return keras.layers.Conv2D(
        filters,
        kernel_size,
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.L2(l2_regularization),
        name=name,
        **kwargs,
    )


@dataclass(frozen=True)
class HeadNames:
    """Layer naming scheme of the prediction heads.

    `conf`, `loc` and `anchors` are format strings taking a source label; reshape layers append
    `_reshape`; the remaining fields are the names of the concatenations and of the softmax.
    """

    conf: str
    loc: str
    anchors: str
    conf_concat: str
    loc_concat: str
    anchors_concat: str
    softmax: str


SSD7_HEAD_NAMES = HeadNames(
    "classes{}", "boxes{}", "anchors{}",
    "classes_concat", "boxes_concat", "anchors_concat", "classes_softmax",
)  # fmt: skip
VGG_HEAD_NAMES = HeadNames(
    "{}_mbox_conf", "{}_mbox_loc", "{}_mbox_priorbox",
    "mbox_conf", "mbox_loc", "mbox_priorbox", "mbox_conf_softmax",
)  # fmt: skip


@dataclass(frozen=True)
class ModelOptions:
    """Builder arguments that the shared model tail needs.

    Attributes:
        image_size: `(height, width, channels)`.
        n_classes: number of classes including the background class.
        mode: one of `MODES`.
        l2_regularization: L2 factor of the head kernels.
        two_boxes_for_ar1, clip_boxes, coords, normalize_coords: anchor options.
        decode_kwargs: `confidence_thresh`, `iou_threshold`, `top_k`, `nms_max_output_size`.
        return_predictor_sizes: also return the feature-map sizes of the predictor layers.
    """

    image_size: tuple
    n_classes: int
    mode: str
    l2_regularization: float
    two_boxes_for_ar1: bool
    clip_boxes: bool
    coords: str
    normalize_coords: bool
    decode_kwargs: dict
    return_predictor_sizes: bool


def _anchor_layer(options: ModelOptions, anchors: AnchorSettings, i: int, name: str):
    height, width, _ = options.image_size
    return AnchorBoxes(
        height,
        width,
        this_scale=anchors.scales[i],
        next_scale=anchors.scales[i + 1],
        aspect_ratios=anchors.aspect_ratios[i],
        two_boxes_for_ar1=options.two_boxes_for_ar1,
        this_steps=anchors.steps[i],
        this_offsets=anchors.offsets[i],
        clip_boxes=options.clip_boxes,
        variances=anchors.variances,
        coords=options.coords,
        normalize_coords=options.normalize_coords,
        name=name,
    )


def _reshaped(x, width: int, name: str):
    return keras.layers.Reshape((-1, width), name=f"{name}_reshape")(x)  # (B, h*w*n_boxes, width)


def build_predictions(
    sources: Sequence[tuple[str, Any]],
    anchors: AnchorSettings,
    options: ModelOptions,
    names: HeadNames,
) -> tuple[Any, list]:
    """Adds conf/loc/anchor heads on each source and concatenates them into `predictions`.

    Args:
        sources: `(label, tensor)` per predictor layer, in order; the label fills `names`.
        anchors: the per-layer anchor settings.
        options: model options.
        names: the naming scheme.

    Returns:
        `(predictions, conf_tensors)`: the `(batch, n_anchors, n_classes + 12)` tensor and the
        raw conf head outputs `(batch, h, w, n_boxes * n_classes)` (for the predictor sizes).
    """
    confs, locs, priors, conf_maps = [], [], [], []
    for i, (label, x) in enumerate(sources):
        conf_name, loc_name = names.conf.format(label), names.loc.format(label)
        anchor_name = names.anchors.format(label)
        l2 = options.l2_regularization
        conf = conv2d(anchors.n_boxes[i] * options.n_classes, 3, conf_name, l2)(x)
        loc = conv2d(anchors.n_boxes[i] * BOX_COORDS, 3, loc_name, l2)(x)
        prior = _anchor_layer(options, anchors, i, anchor_name)(loc)  # (B, h, w, n_boxes, 8)
        conf_maps.append(conf)
        confs.append(_reshaped(conf, options.n_classes, conf_name))
        locs.append(_reshaped(loc, BOX_COORDS, loc_name))
        priors.append(_reshaped(prior, ANCHOR_WIDTH, anchor_name))
    conf = keras.layers.Concatenate(axis=1, name=names.conf_concat)(confs)
    loc = keras.layers.Concatenate(axis=1, name=names.loc_concat)(locs)
    prior = keras.layers.Concatenate(axis=1, name=names.anchors_concat)(priors)
    conf = keras.layers.Activation("softmax", name=names.softmax)(conf)
    predictions = keras.layers.Concatenate(axis=2, name=PREDICTIONS_LAYER_NAME)([conf, loc, prior])
    return predictions, conf_maps


def _decoder(options: ModelOptions) -> Callable:
    height, width, _ = options.image_size
    layer_class = DecodeDetections if options.mode == "inference" else DecodeDetectionsFast
    return layer_class(
        **options.decode_kwargs,
        coords=options.coords,
        normalize_coords=options.normalize_coords,
        img_height=height,
        img_width=width,
        name=DECODER_LAYER_NAME,
    )


def finish_model(inputs, predictions, conf_maps: list, options: ModelOptions):
    """Wraps the graph into a `keras.Model`, adding the decoding layer in the inference modes.

    Args:
        inputs: the model input tensor.
        predictions: the raw `(batch, n_anchors, n_classes + 12)` predictions.
        conf_maps: the conf head outputs, for `return_predictor_sizes`.
        options: model options.

    Returns:
        The model, or `(model, predictor_sizes)` with an int array `(n_layers, 2)` of
        `(feature map height, width)` if `options.return_predictor_sizes`.
    """
    outputs = predictions if options.mode == "training" else _decoder(options)(predictions)
    model = keras.Model(inputs=inputs, outputs=outputs)
    if options.return_predictor_sizes:
        sizes = np.array([tuple(conf.shape[1:3]) for conf in conf_maps], dtype=int)
        return model, sizes
    return model


def build_ssd(
    backbone: Callable,
    n_predictor_layers: int,
    head_names: HeadNames,
    *,
    image_size,
    n_classes,
    mode,
    l2_regularization,
    min_scale,
    max_scale,
    scales,
    aspect_ratios_global,
    aspect_ratios_per_layer,
    two_boxes_for_ar1,
    steps,
    offsets,
    clip_boxes,
    variances,
    coords,
    normalize_coords,
    subtract_mean,
    divide_by_stddev,
    swap_channels,
    confidence_thresh,
    iou_threshold,
    top_k,
    nms_max_output_size,
    return_predictor_sizes,
):
    """Builds an SSD model around a backbone; the keyword arguments are the builders' arguments.

    Args:
        backbone: `backbone(x, l2_regularization, image_size)` -> list of `(label, tensor)`,
            one per predictor layer, from the pre-processed input `x`.
        n_predictor_layers: how many sources the backbone returns.
        head_names: naming scheme of the heads.

    Returns:
        As the public builders (`keras_ssd7.build_model`, `keras_ssd300.ssd_300`, ...).

    Raises:
        ValueError: bad `mode`, `n_classes`, `image_size` or anchor arguments.
    """
    check_mode(mode)
    check_n_classes(n_classes)
    image_size = check_image_size(image_size)
    anchors = resolve_anchor_settings(
        n_predictor_layers, min_scale, max_scale, scales, aspect_ratios_global,
        aspect_ratios_per_layer, two_boxes_for_ar1, steps, offsets, variances,
    )  # fmt: skip
    options = ModelOptions(
        image_size=image_size,
        n_classes=n_classes + 1,
        mode=mode,
        l2_regularization=l2_regularization,
        two_boxes_for_ar1=two_boxes_for_ar1,
        clip_boxes=clip_boxes,
        coords=coords,
        normalize_coords=normalize_coords,
        decode_kwargs={
            "confidence_thresh": confidence_thresh,
            "iou_threshold": iou_threshold,
            "top_k": top_k,
            "nms_max_output_size": nms_max_output_size,
        },
        return_predictor_sizes=return_predictor_sizes,
    )
    inputs = keras.Input(shape=image_size, name=INPUT_LAYER_NAME)
    x = preprocess_input(inputs, subtract_mean, divide_by_stddev, swap_channels)
    sources = backbone(x, l2_regularization, image_size)
    if len(sources) != n_predictor_layers:
        raise RuntimeError(f"backbone returned {len(sources)} sources, not {n_predictor_layers}")
    predictions, conf_maps = build_predictions(sources, anchors, options, head_names)
    return finish_model(inputs, predictions, conf_maps, options)
