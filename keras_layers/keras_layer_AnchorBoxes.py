"""The `AnchorBoxes` layer: the SSD anchor boxes (default boxes) of one predictor layer."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from ssd_encoder_decoder.anchor_boxes import (
    anchor_boxes_for_layer,
    boxes_per_cell,
    height_width_pair,
)
from ssd_encoder_decoder.anchor_config import check_coords, check_ratio_list, check_variances
from ssd_encoder_decoder.output_layout import ANCHOR_LAYER_WIDTH


def _plain(value):
    """Numpy scalars and sequences become Python numbers and lists (JSON-friendly configs)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (Sequence, np.ndarray)) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


@keras.saving.register_keras_serializable(package="ssd_keras")
class AnchorBoxes(keras.layers.Layer):
    """Outputs the anchor boxes and variances of one SSD predictor layer, tiled over the batch.

    The anchors depend only on the static height and width of the input (the output of the
    box predictor convolution) and on the arguments; they are computed once in `build()` with
    `anchor_boxes_for_layer` and stored as a constant. The layer has no weights.

    For each aspect ratio `ar` a box of width `s * size * sqrt(ar)` and height
    `s * size / sqrt(ar)` is placed in every cell (`size = min(img_height, img_width)`); with
    `two_boxes_for_ar1`, aspect ratio 1 gets a second box of side `sqrt(s * s') * size`.

    Args:
        img_height: int. Input image height in pixels.
        img_width: int. Input image width in pixels.
        this_scale: float in [0, 1]. Scale `s` of this layer's boxes relative to the shorter image
            side.
        next_scale: float >= 0. Scale `s'` of the next layer, used for the second box of aspect
            ratio 1.
        aspect_ratios: sequence of float > 0. Width/height ratios. Defaults to
            `(0.5, 1.0, 2.0)`.
        two_boxes_for_ar1: bool. Whether aspect ratio 1 gets a second box. Defaults to `True`.
        this_steps: None, float or `(step_h, step_w)`. Distance in pixels between neighbouring
            box centres; None means `img_size / feature_map_size`. Defaults to `None`.
        this_offsets: None, float or `(offset_h, offset_w)`. Position of the first centre in
            units of the step; None means 0.5. Defaults to `None`.
        clip_boxes: bool. Whether to clip the anchors to the image. Defaults to `False`.
        variances: sequence of 4 float > 0. Scaling factors of the encoded offsets, output next
            to the anchors. Defaults to `(0.1, 0.1, 0.2, 0.2)`.
        coords: str. Box format of the output: `'centroids'` (cx, cy, w, h), `'corners'`
            (xmin, ymin, xmax, ymax) or `'minmax'` (xmin, xmax, ymin, ymax).
            Defaults to `'centroids'`.
        normalize_coords: bool. Whether coordinates are relative to the image size instead of
            pixels. Defaults to `False`.
        **kwargs: Standard `keras.layers.Layer` arguments such as `name`.

    Call arguments:
        x: Tensor `(batch, fh, fw, channels)` (channels last); only its static `fh`, `fw` and its
            batch size are used.

    Returns:
        Float32 tensor `(batch, fh, fw, n_boxes, 8)`: the 4 anchor coordinates in `coords` format
        followed by the 4 variances.

    Example:
        >>> import numpy as np
        >>> layer = AnchorBoxes(300, 300, this_scale=0.1, next_scale=0.2, this_steps=8,
        ...                     normalize_coords=True)
        >>> anchors = np.asarray(layer(np.zeros((2, 38, 38, 16), "float32")))
        >>> anchors.shape
        (2, 38, 38, 4, 8)
        >>> anchors[0, 0, 0, 0].astype(float).round(5).tolist()
        [0.01333, 0.01333, 0.07071, 0.14142, 0.1, 0.1, 0.2, 0.2]

    Reference:
        Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016, section 2.2.
    """

    def __init__(
        self,
        img_height: int,
        img_width: int,
        this_scale: float,
        next_scale: float,
        aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
        two_boxes_for_ar1: bool = True,
        this_steps: float | Sequence[float] | None = None,
        this_offsets: float | Sequence[float] | None = None,
        clip_boxes: bool = False,
        variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
        coords: str = "centroids",
        normalize_coords: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_arguments(
            this_scale, next_scale, aspect_ratios, this_steps, this_offsets, variances, coords
        )
        self.img_height = _plain(img_height)
        self.img_width = _plain(img_width)
        self.this_scale = _plain(this_scale)
        self.next_scale = _plain(next_scale)
        self.aspect_ratios = _plain(aspect_ratios)
        self.two_boxes_for_ar1 = bool(two_boxes_for_ar1)
        self.this_steps = _plain(this_steps)
        self.this_offsets = _plain(this_offsets)
        self.clip_boxes = bool(clip_boxes)
        self.variances = [float(v) for v in variances]
        self.coords = coords
        self.normalize_coords = bool(normalize_coords)
        self.n_boxes = boxes_per_cell(aspect_ratios, two_boxes_for_ar1)
        self._anchors = None
        self.feature_map_size = None

    def build(self, input_shape):
        if len(input_shape) != 4 or input_shape[1] is None or input_shape[2] is None:
            raise ValueError(
                "AnchorBoxes needs an input of shape (batch, height, width, channels) with a "
                f"known height and width, but received input_shape={input_shape}."
            )
        boxes = anchor_boxes_for_layer(
            input_shape[1:3],
            self.img_height,
            self.img_width,
            self.this_scale,
            self.next_scale,
            self.aspect_ratios,
            self.two_boxes_for_ar1,
            self.this_steps,
            self.this_offsets,
            self.clip_boxes,
            self.coords,
            self.normalize_coords,
        )
        variances = np.broadcast_to(np.asarray(self.variances), boxes.shape)
        self._anchors = np.concatenate([boxes, variances], axis=-1).astype(np.float32)
        self.feature_map_size = (int(input_shape[1]), int(input_shape[2]))

    def call(self, x):
        anchors = ops.convert_to_tensor(self._anchors[None], dtype="float32")
        return ops.tile(anchors, (ops.shape(x)[0], 1, 1, 1, 1))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], input_shape[2], self.n_boxes, ANCHOR_LAYER_WIDTH)

    def anchor_parameters(self) -> dict:
        """The anchor settings of this layer, for `AnchorConfig.from_model`.

        Returns:
            The constructor arguments of `get_config()` without the generic layer keys, plus
            `feature_map_size`: `(fh, fw)` of the input the layer was built on.

        Raises:
            ValueError: If the layer has not been built (its feature-map size is unknown).
        """
        if self.feature_map_size is None:
            raise ValueError(
                f"AnchorBoxes layer {self.name!r} has not been built yet, so its feature-map "
                "size is unknown."
            )
        generic = set(super().get_config())
        params = {k: v for k, v in self.get_config().items() if k not in generic}
        params["feature_map_size"] = self.feature_map_size
        return params

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "img_height": self.img_height,
                "img_width": self.img_width,
                "this_scale": self.this_scale,
                "next_scale": self.next_scale,
                "aspect_ratios": self.aspect_ratios,
                "two_boxes_for_ar1": self.two_boxes_for_ar1,
                "this_steps": self.this_steps,
                "this_offsets": self.this_offsets,
                "clip_boxes": self.clip_boxes,
                "variances": self.variances,
                "coords": self.coords,
                "normalize_coords": self.normalize_coords,
            }
        )
        return config


def _check_arguments(
    this_scale, next_scale, aspect_ratios, this_steps, this_offsets, variances, coords
) -> None:
    """Raises ValueError naming the first invalid `AnchorBoxes` argument."""
    if this_scale < 0 or next_scale < 0 or this_scale > 1:
        raise ValueError(
            "`this_scale` must be in [0, 1] and `next_scale` must be >= 0, but received "
            f"this_scale={this_scale!r} and next_scale={next_scale!r}."
        )
    check_ratio_list("aspect_ratios", aspect_ratios)
    check_variances(variances)
    check_coords(coords)
    height_width_pair("this_steps", this_steps, None)
    height_width_pair("this_offsets", this_offsets, 0.5)
