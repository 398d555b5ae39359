"""Pieces shared by the SSD7, SSD300 and SSD512 builders.

* argument checking (the anchor arguments are checked by `AnchorConfig`),
* the in-graph input pre-processing (`preprocess_input`),
* the prediction heads, the `predictions` tensor and the optional decoding layer
  (`build_predictions`, `finish_model`).

Every model in `training` mode outputs `(batch, n_anchors, n_classes + 1 + 12)` in the layout
that `ssd_encoder_decoder.output_layout` defines.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
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
from ssd_encoder_decoder.anchor_config import AnchorConfig
from ssd_encoder_decoder.output_layout import (
    ANCHOR_LAYER_WIDTH,
    BOX_VALUES,
    DECODER_LAYER_NAME,
    PREDICTIONS_LAYER_NAME,
)

MODES = ("training", "inference", "inference_fast")
INPUT_LAYER_NAME = "input_1"
# Dtype of the layers that stay in full precision under a mixed policy (`mixed_bfloat16`,
# `mixed_float16`): the input pre-processing (pixel values and means near 255 lose whole units in
# 16 bits), the anchors and everything after the heads (softmax, the concatenations that make
# `predictions`, the decoder), so that anchor coordinates, scores and decoded boxes are float32.
FULL_PRECISION = "float32"


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
    dtype = FULL_PRECISION
    x = keras.layers.Identity(name=IDENTITY_LAYER_NAME, dtype=dtype)(x)
    if subtract_mean is not None:
        x = InputMeanNormalization(subtract_mean, name=MEAN_LAYER_NAME, dtype=dtype)(x)
    if divide_by_stddev is not None:
        x = InputStddevNormalization(divide_by_stddev, name=STDDEV_LAYER_NAME, dtype=dtype)(x)
    if swap_channels:
        x = InputChannelSwap(swap_channels, name=CHANNEL_SWAP_LAYER_NAME, dtype=dtype)(x)
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
        decode_kwargs: `confidence_thresh`, `iou_threshold`, `top_k`, `nms_max_output_size`.
        return_predictor_sizes: also return the feature-map sizes of the predictor layers.
    """

    image_size: tuple
    n_classes: int
    mode: str
    l2_regularization: float
    decode_kwargs: dict
    return_predictor_sizes: bool


def _reshaped(x, width: int, name: str, dtype=None):
    # (B, h*w*n_boxes, width)
    return keras.layers.Reshape((-1, width), name=f"{name}_reshape", dtype=dtype)(x)


def build_predictions(
    sources: Sequence[tuple[str, Any]],
    anchors: AnchorConfig,
    options: ModelOptions,
    names: HeadNames,
) -> tuple[Any, list]:
    """Adds conf/loc/anchor heads on each source and concatenates them into `predictions`.

    Args:
        sources: `(label, tensor)` per predictor layer, in order; the label fills `names`.
        anchors: the anchor configuration.
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
        loc = conv2d(anchors.n_boxes[i] * BOX_VALUES, 3, loc_name, l2)(x)
        prior = AnchorBoxes(**anchors.layer_arguments(i), name=anchor_name, dtype=FULL_PRECISION)(
            loc
        )
        conf_maps.append(conf)
        confs.append(_reshaped(conf, options.n_classes, conf_name))
        locs.append(_reshaped(loc, BOX_VALUES, loc_name))
        priors.append(_reshaped(prior, ANCHOR_LAYER_WIDTH, anchor_name, FULL_PRECISION))
    conf = keras.layers.Concatenate(axis=1, name=names.conf_concat)(confs)
    loc = keras.layers.Concatenate(axis=1, name=names.loc_concat)(locs)
    prior = keras.layers.Concatenate(axis=1, name=names.anchors_concat, dtype=FULL_PRECISION)(
        priors
    )
    conf = keras.layers.Activation("softmax", name=names.softmax, dtype=FULL_PRECISION)(conf)
    predictions = keras.layers.Concatenate(
        axis=2, name=PREDICTIONS_LAYER_NAME, dtype=FULL_PRECISION
    )([conf, loc, prior])
    return predictions, conf_maps


def _decoder(options: ModelOptions, anchors: AnchorConfig) -> Callable:
    layer_class = DecodeDetections if options.mode == "inference" else DecodeDetectionsFast
    return layer_class(
        **options.decode_kwargs,
        coords=anchors.coords,
        normalize_coords=anchors.normalize_coords,
        img_height=anchors.img_height,
        img_width=anchors.img_width,
        name=DECODER_LAYER_NAME,
        dtype=FULL_PRECISION,
    )


def finish_model(
    inputs, predictions, conf_maps: list, options: ModelOptions, anchors: AnchorConfig
):
    """Wraps the graph into a `keras.Model`, adding the decoding layer in the inference modes.

    Args:
        inputs: the model input tensor.
        predictions: the raw `(batch, n_anchors, n_classes + 12)` predictions.
        conf_maps: the conf head outputs, for `return_predictor_sizes`.
        options: model options.
        anchors: the anchor configuration (box format and scale of the decoding layer).

    Returns:
        The model, or `(model, predictor_sizes)` with an int array `(n_layers, 2)` of
        `(feature map height, width)` if `options.return_predictor_sizes`.
    """
    if options.mode == "training":
        outputs = predictions
    else:
        outputs = _decoder(options, anchors)(predictions)
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
    dtype=None,
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
    anchors = AnchorConfig.from_arguments(
        n_predictor_layers, image_size[0], image_size[1], min_scale, max_scale, scales,
        aspect_ratios_global, aspect_ratios_per_layer, two_boxes_for_ar1, steps, offsets,
        clip_boxes, variances, coords, normalize_coords,
    )  # fmt: skip
    options = ModelOptions(
        image_size=image_size,
        n_classes=n_classes + 1,
        mode=mode,
        l2_regularization=l2_regularization,
        decode_kwargs={
            "confidence_thresh": confidence_thresh,
            "iou_threshold": iou_threshold,
            "top_k": top_k,
            "nms_max_output_size": nms_max_output_size,
        },
        return_predictor_sizes=return_predictor_sizes,
    )
    with dtype_policy(dtype):
        inputs = keras.Input(shape=image_size, name=INPUT_LAYER_NAME)
        x = preprocess_input(inputs, subtract_mean, divide_by_stddev, swap_channels)
        sources = backbone(x, l2_regularization, image_size)
        if len(sources) != n_predictor_layers:
            raise RuntimeError(
                f"backbone returned {len(sources)} sources, not {n_predictor_layers}"
            )
        predictions, conf_maps = build_predictions(sources, anchors, options, head_names)
        return finish_model(inputs, predictions, conf_maps, options, anchors)


@contextlib.contextmanager
def dtype_policy(dtype: str | keras.DTypePolicy | None) -> Iterator[None]:
    """Makes `dtype` the global Keras dtype policy while the block runs, then restores the old one.

    Args:
        dtype: a policy or its name (`'float32'`, `'mixed_bfloat16'`, `'mixed_float16'`, ...), or
            None to keep the global policy (`keras.config.dtype_policy()`).

    Raises:
        ValueError: `dtype` is not a policy Keras knows.
    """
    if dtype is None:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(dtype)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)
