"""Anchor boxes (default boxes) of one SSD predictor layer, in numpy.

The single implementation behind `SSDInputEncoder.generate_anchor_boxes_for_layer` and the
`AnchorBoxes` Keras layer, so training targets and model outputs always use the same anchors.

With `size = min(img_height, img_width)`, scale `s` and next scale `s'`, each aspect ratio
`ar` gives a box of width `s * size * sqrt(ar)` and height `s * size / sqrt(ar)`; with
`two_boxes_for_ar1` the ratio-1 box is followed by a square of side `sqrt(s * s') * size`.
Box centres lie on the grid `cy_i = (offset_h + i) * step_h`, `cx_j = (offset_w + j) * step_w`.
The boxes are clipped to the image in pixels (optional), made relative to the image size
(optional) and converted to the requested format, in that order.

Reference: Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016, section 2.2.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real
from typing import Any

import numpy as np

from bounding_box_utils.bounding_box_utils import convert_coordinates

BOX_FORMATS = ("centroids", "corners", "minmax")

# Position of the x and of the y coordinates inside a `corners` box.
_X_COORDS = [0, 2]
_Y_COORDS = [1, 3]


def _is_number(value: Any) -> bool:
    return isinstance(value, Real) and not isinstance(value, bool)


def height_width_pair(name: str, value: Any, default: float | None) -> tuple[Any, Any]:
    """Reads a step or offset argument as a `(height, width)` pair.

    Args:
        name: Argument name, used in the error message.
        value: None (use `default`), one number for both directions, or a sequence or array
            `(height_value, width_value)`.
        default: Value used for both directions when `value` is None.

    Returns:
        `(height_value, width_value)`.

    Raises:
        ValueError: If `value` is none of the accepted forms.
    """
    if value is None:
        return default, default
    if _is_number(value):
        return value, value
    if (
        isinstance(value, (Sequence, np.ndarray))
        and not isinstance(value, str)
        and len(value) == 2
        and all(map(_is_number, value))
    ):
        return value[0], value[1]
    raise ValueError(
        f"`{name}` must be None, a number or a (height, width) pair of numbers, but received "
        f"{name}={value!r}."
    )


def anchor_box_sizes(
    aspect_ratios: Sequence[float],
    this_scale: float,
    next_scale: float,
    two_boxes_for_ar1: bool,
    size: float,
) -> np.ndarray:
    """Widths and heights of the anchor boxes of one grid cell.

    Args:
        aspect_ratios: Width/height ratios, in the order of the boxes.
        this_scale: Scale of this layer, relative to `size`.
        next_scale: Scale of the next layer; only used for the second box of aspect ratio 1,
            whose scale is `sqrt(this_scale * next_scale)`.
        two_boxes_for_ar1: Whether aspect ratio 1 gets that second box (right after the first).
        size: The shorter image side in pixels.

    Returns:
        Float64 array `(n_boxes, 2)` of `(width, height)` in pixels.
    """
    sizes = []
    for ar in aspect_ratios:
        side = this_scale * size
        sizes.append((side * np.sqrt(ar), side / np.sqrt(ar)))
        if ar == 1 and two_boxes_for_ar1:
            sizes.append((np.sqrt(this_scale * next_scale) * size,) * 2)
    return np.array(sizes, dtype=np.float64).reshape(-1, 2)


def boxes_per_cell(aspect_ratios: Sequence[float], two_boxes_for_ar1: bool) -> int:
    """Number of anchor boxes in every cell of a predictor layer.

    One box per aspect ratio, plus one more for each aspect ratio equal to 1 when
    `two_boxes_for_ar1` is set (as `anchor_box_sizes` places them).

    Args:
        aspect_ratios: Width/height ratios of the layer.
        two_boxes_for_ar1: Whether aspect ratio 1 gets a second box.

    Returns:
        The box count.
    """
    extra = sum(1 for ar in aspect_ratios if ar == 1) if two_boxes_for_ar1 else 0
    return len(aspect_ratios) + extra


def anchor_boxes_for_layer(
    feature_map_size: Sequence[int],
    img_height: int,
    img_width: int,
    this_scale: float,
    next_scale: float,
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
    two_boxes_for_ar1: bool = True,
    this_steps: float | Sequence[float] | None = None,
    this_offsets: float | Sequence[float] | None = None,
    clip_boxes: bool = False,
    coords: str = "centroids",
    normalize_coords: bool = False,
    diagnostics: bool = False,
    steps_name: str = "this_steps",
    offsets_name: str = "this_offsets",
) -> np.ndarray | tuple:
    """The anchor boxes of one predictor layer.

    Args:
        feature_map_size: `(fh, fw)` of the predictor layer.
        img_height: Input image height in pixels.
        img_width: Input image width in pixels.
        this_scale: Box scale of this layer relative to `min(img_height, img_width)`.
        next_scale: Scale of the next layer (second box of aspect ratio 1).
        aspect_ratios: Width/height ratios of the boxes of every cell.
        two_boxes_for_ar1: Whether aspect ratio 1 gets a second box.
        this_steps: None (`img_height / fh`, `img_width / fw`), a number or
            `(step_h, step_w)`: distance in pixels between neighbouring centres.
        this_offsets: None (0.5), a number or `(offset_h, offset_w)`: position of the first
            centre, in steps.
        clip_boxes: Whether to clip the boxes to the image.
        coords: Output box format: `'centroids'` (cx, cy, w, h), `'corners'`
            (xmin, ymin, xmax, ymax) or `'minmax'` (xmin, xmax, ymin, ymax).
        normalize_coords: Whether to return coordinates relative to the image size.
        diagnostics: Also return the grid and size information.
        steps_name: Name of the steps argument in error messages.
        offsets_name: Name of the offsets argument in error messages.

    Returns:
        Float64 array `(fh, fw, n_boxes, 4)` in `coords` format, in pixels or relative. With
        `diagnostics`: `(boxes, (cy, cx), wh_list, (step_h, step_w), (offset_h, offset_w))`
        where `cy` `(fh,)` and `cx` `(fw,)` are the centres and `wh_list`
        `(n_boxes, 2)` the box sizes, all in pixels.

    Raises:
        ValueError: If the steps or offsets are neither None, a number nor a pair.
    """
    fh, fw = int(feature_map_size[0]), int(feature_map_size[1])
    sizes = anchor_box_sizes(
        aspect_ratios, this_scale, next_scale, two_boxes_for_ar1, min(img_height, img_width)
    )
    step_h, step_w = height_width_pair(steps_name, this_steps, None)
    if this_steps is None:
        step_h, step_w = img_height / fh, img_width / fw
    offset_h, offset_w = height_width_pair(offsets_name, this_offsets, 0.5)
    cy = np.linspace(offset_h * step_h, (offset_h + fh - 1) * step_h, fh)
    cx = np.linspace(offset_w * step_w, (offset_w + fw - 1) * step_w, fw)

    boxes = np.empty((fh, fw, len(sizes), 4))
    boxes[..., 0] = cx[None, :, None]
    boxes[..., 1] = cy[:, None, None]
    boxes[..., 2:] = sizes
    boxes = convert_coordinates(boxes, start_index=0, conversion="centroids2corners")
    if clip_boxes:
        boxes[..., _X_COORDS] = _clip_to_image(boxes[..., _X_COORDS], img_width)
        boxes[..., _Y_COORDS] = _clip_to_image(boxes[..., _Y_COORDS], img_height)
    if normalize_coords:
        boxes[..., _X_COORDS] /= img_width
        boxes[..., _Y_COORDS] /= img_height
    if coords != "corners":
        boxes = convert_coordinates(boxes, start_index=0, conversion=f"corners2{coords}")
    if diagnostics:
        return boxes, (cy, cx), sizes, (step_h, step_w), (offset_h, offset_w)
    return boxes


def _clip_to_image(values: np.ndarray, limit: int) -> np.ndarray:
    """Coordinates >= limit become limit - 1, negative ones 0 (pixel grid of the image)."""
    return np.where(values >= limit, limit - 1, np.where(values < 0, 0, values))
