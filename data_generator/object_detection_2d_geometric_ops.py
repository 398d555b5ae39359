"""Geometric image transformations that move the boxes along with the image.

Images are `(H, W)` or `(H, W, C)` arrays; labels are `(k, n)` arrays with boxes in absolute
pixel `corners` coordinates located by `labels_format`. Every op is a callable
`op(image, labels=None)` returning the image, or `(image, labels)`; `Resize`,
`ResizeRandomInterp`, `Flip` and `RandomFlip` also take `return_inverter=True` and then
append an inverter, a picklable callable mapping decoded predictions `(k, 6)` (labels layout with
a confidence column at index 1) from the output image back to the input image.

Random ops fire with probability `prob` (`U(0, 1) >= 1 - prob` on the global numpy RNG), then
draw their parameters with `draw_params()` and apply the deterministic op. `RandomTranslate`
and `RandomScale` try up to `n_trials_max` parameter draws until `image_validator` accepts
the moved boxes and return the input unchanged if none is accepted. `RandomRotate` draws its
angle with Python's `random.choice`, as the original.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from data_generator._op_utils import (
    BoxColumns,
    as_label_array,
    box_columns,
    check_probability,
    check_type,
    choice,
    happens,
    identity_inverter,
    integral_uint8_fill,
    pack,
    prediction_columns,
    resolve_labels_format,
    uniform,
)
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoxFilter,
    ImageValidator,
)

_ALL_INTERPOLATION_MODES = (
    cv2.INTER_NEAREST,
    cv2.INTER_LINEAR,
    cv2.INTER_CUBIC,
    cv2.INTER_AREA,
    cv2.INTER_LANCZOS4,
)
_FLIP_DIMS = ("horizontal", "vertical")
_RIGHT_ANGLES = (90, 180, 270)
_OPENCV_DTYPES = tuple(
    np.dtype(t) for t in ("uint8", "int8", "uint16", "int16", "float32", "float64")
)


def _keep_channel_axis(result: np.ndarray, image: np.ndarray) -> np.ndarray:
    """OpenCV drops a trailing channel axis of size 1; put it back."""
    if image.ndim == 3 and result.ndim == 2:
        return result[:, :, np.newaxis]
    return result


def _warp(
    image: np.ndarray, matrix: np.ndarray, size: tuple[int, int], background: Any = (0, 0, 0)
) -> np.ndarray:
    """`cv2.warpAffine` onto a `size = (height, width)` canvas filled with `background`."""
    height, width = size
    warped = cv2.warpAffine(
        image,
        M=matrix,
        dsize=(width, height),
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=background,
    )
    return _keep_channel_axis(warped, image)


def _shift_image(image: np.ndarray, dy: int, dx: int, background: Any) -> np.ndarray:
    """Shifts `image` by whole pixels (`dy` down, `dx` right) onto a same-size canvas
    filled with `background`.

    For whole-pixel shifts bilinear interpolation copies pixels unchanged, so for `uint8`
    images with an integral background this is bit-identical to `_warp` with a translation
    matrix, and a copy instead of an interpolation; other images go through `_warp`.
    """
    height, width = image.shape[:2]
    fill = integral_uint8_fill(image, background)
    kept_height, kept_width = height - abs(dy), width - abs(dx)
    if fill is None or kept_height <= 0 or kept_width <= 0:
        matrix = np.float32([[1, 0, dx], [0, 1, dy]])
        return _warp(image, matrix, (height, width), background)
    top, left = max(dy, 0), max(dx, 0)
    source = image[max(-dy, 0) : max(-dy, 0) + kept_height, max(-dx, 0) : max(-dx, 0) + kept_width]
    shifted = cv2.copyMakeBorder(
        source,
        top,
        height - top - kept_height,
        left,
        width - left - kept_width,
        cv2.BORDER_CONSTANT,
        value=fill,
    )
    return _keep_channel_axis(shifted, image)


def _clip_boxes(labels: np.ndarray, cols: BoxColumns, height: int, width: int) -> None:
    """Clips the boxes in place to `[0, width - 1] x [0, height - 1]`."""
    labels[:, cols.ys] = np.clip(labels[:, cols.ys], 0, height - 1)
    labels[:, cols.xs] = np.clip(labels[:, cols.xs], 0, width - 1)


def _map_corners(labels: np.ndarray, cols: BoxColumns, matrix: np.ndarray) -> None:
    """Maps both corner points of every box in place through a 2x3 affine `matrix`, rounded."""
    ones = np.ones(labels.shape[0])
    for points in (cols.top_left, cols.bottom_right):
        homogeneous = np.array([labels[:, points[0]], labels[:, points[1]], ones])  # (3, k)
        labels[:, points] = np.round(np.dot(matrix, homogeneous).T, decimals=0).astype(int)


def _filter_then_clip(
    labels: np.ndarray,
    box_filter: BoxFilter | None,
    labels_format: Mapping[str, int],
    clip_boxes: bool,
    height: int,
    width: int,
) -> np.ndarray:
    """Applies `box_filter` for an `height x width` image, then clips if asked."""
    if box_filter is not None:
        box_filter.labels_format = labels_format
        labels = box_filter(labels=labels, image_height=height, image_width=width)
    if clip_boxes:
        _clip_boxes(labels, box_columns(labels_format), height, width)
    return labels


# ------------------------------------------------------------------------------------------------
# Resize


class ResizeInverter:
    """Scales the coordinates of decoded predictions by `(scale_y, scale_x)`, rounded.

    Args:
        scale_y: factor for the y columns (input height / output height).
        scale_x: factor for the x columns (input width / output width).
        labels_format: labels layout; the predictions have the confidence column at index 1.
    """

    def __init__(self, scale_y: float, scale_x: float, labels_format: Mapping[str, int]) -> None:
        self.scale_y = scale_y
        self.scale_x = scale_x
        self.columns = prediction_columns(labels_format)

    def __call__(self, predictions: np.ndarray) -> np.ndarray:
        """Returns a scaled copy of the `(k, 6)` `predictions`."""
        out = np.copy(predictions)
        cols = self.columns
        out[:, cols.ys] = np.round(out[:, cols.ys] * self.scale_y, decimals=0)
        out[:, cols.xs] = np.round(out[:, cols.xs] * self.scale_x, decimals=0)
        return out


class Resize:
    """Resizes the image to `(height, width)` with OpenCV and scales the boxes.

    Box coordinates are multiplied by `height / H` and `width / W` and rounded to integers;
    then `box_filter` (if any) runs for the output size.

    Args:
        height: output height in pixels.
        width: output width in pixels.
        interpolation_mode: an OpenCV interpolation flag, e.g. `cv2.INTER_LINEAR`.
        box_filter: optional `BoxFilter` applied after resizing.
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.

    Call arguments:
        image: `(H, W[, C])` array.
        labels: optional `(k, n)` array.
        return_inverter: also return a `ResizeInverter` mapping predictions in the output image
            back to the input image (rounded to integers).

    Raises:
        ValueError: if `box_filter` is not a `BoxFilter` or None, or `height` / `width`
            are not positive.
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation_mode: int = cv2.INTER_LINEAR,
        box_filter: BoxFilter | None = None,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        check_type("box_filter", box_filter, BoxFilter)
        for name, value in (("height", height), ("width", width)):
            if not (isinstance(value, (int, np.integer)) and value > 0):
                raise ValueError(f"`{name}` must be a positive number of pixels, got {value!r}.")
        self.out_height = height
        self.out_width = width
        self.interpolation_mode = interpolation_mode
        self.box_filter = box_filter
        self.labels_format = resolve_labels_format(labels_format)

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Resizes; returns `image` [, `labels`] [, `inverter`]."""
        img_height, img_width = image.shape[:2]
        resized = cv2.resize(
            image,
            dsize=(self.out_width, self.out_height),
            interpolation=int(self.interpolation_mode),
        )
        resized = _keep_channel_axis(resized, image)
        inverter = None
        if return_inverter:
            inverter = ResizeInverter(
                img_height / self.out_height, img_width / self.out_width, self.labels_format
            )
        if labels is not None:
            labels = self._scale_labels(labels, img_height, img_width)
        return pack(resized, labels, inverter, return_inverter)

    def _scale_labels(self, labels: np.ndarray, img_height: int, img_width: int) -> np.ndarray:
        labels = as_label_array(labels, self.labels_format)
        cols = box_columns(self.labels_format)
        labels[:, cols.ys] = np.round(labels[:, cols.ys] * (self.out_height / img_height))
        labels[:, cols.xs] = np.round(labels[:, cols.xs] * (self.out_width / img_width))
        return _filter_then_clip(
            labels, self.box_filter, self.labels_format, False, self.out_height, self.out_width
        )


class ResizeRandomInterp:
    """`Resize` with an interpolation mode drawn per call by `np.random.choice`.

    Args:
        height: output height in pixels.
        width: output width in pixels.
        interpolation_modes: OpenCV interpolation flags to choose from. Defaults to nearest,
            linear, cubic, area and Lanczos-4.
        box_filter: optional `BoxFilter` applied after resizing.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: if `interpolation_modes` is not a non-empty list or tuple.
    """

    def __init__(
        self,
        height: int,
        width: int,
        interpolation_modes: Sequence[int] = _ALL_INTERPOLATION_MODES,
        box_filter: BoxFilter | None = None,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if not isinstance(interpolation_modes, (list, tuple)) or not interpolation_modes:
            raise ValueError(
                f"`interpolation_modes` must be a non-empty list or tuple of OpenCV "
                f"interpolation flags, got {interpolation_modes!r}."
            )
        self.height = height
        self.width = width
        self.interpolation_modes = interpolation_modes
        self.box_filter = box_filter
        self.labels_format = resolve_labels_format(labels_format)
        self.resize = Resize(
            height=height, width=width, box_filter=box_filter, labels_format=self.labels_format
        )

    def draw_params(self) -> dict[str, Any]:
        """`{'interpolation_mode': one of interpolation_modes}`."""
        return {"interpolation_mode": int(choice(self.interpolation_modes))}

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Resizes with a random interpolation; returns as `Resize`."""
        self.resize.interpolation_mode = self.draw_params()["interpolation_mode"]
        self.resize.labels_format = self.labels_format
        return self.resize(image, labels, return_inverter)


# ------------------------------------------------------------------------------------------------
# Flip


class FlipInverter:
    """Mirrors decoded predictions back: a flip is its own inverse.

    Args:
        dim: `'horizontal'` or `'vertical'`.
        size: image width (horizontal) or height (vertical) in pixels.
        labels_format: labels layout; the predictions have the confidence column at index 1.
    """

    def __init__(self, dim: str, size: int, labels_format: Mapping[str, int]) -> None:
        self.dim = dim
        self.size = size
        self.columns = prediction_columns(labels_format)

    def __call__(self, predictions: np.ndarray) -> np.ndarray:
        """Returns a mirrored copy of the `(k, 6)` `predictions`."""
        return _mirror_boxes(np.copy(predictions), self.columns, self.dim, self.size)


def _mirror_boxes(labels: np.ndarray, cols: BoxColumns, dim: str, size: int) -> np.ndarray:
    """In place: `min' = size - max` and `max' = size - min` along `dim`."""
    low, high = (cols.xmin, cols.xmax) if dim == "horizontal" else (cols.ymin, cols.ymax)
    labels[:, [low, high]] = size - labels[:, [high, low]]
    return labels


def _flip_image(image: np.ndarray, horizontal: bool) -> np.ndarray:
    """A mirrored contiguous copy (`cv2.flip` is much faster than copying a reversed view)."""
    opencv_layout = image.ndim == 2 or (image.ndim == 3 and image.shape[2] <= 4)
    if image.size and opencv_layout and image.dtype in _OPENCV_DTYPES:
        return _keep_channel_axis(cv2.flip(image, 1 if horizontal else 0), image)
    return np.ascontiguousarray(image[:, ::-1] if horizontal else image[::-1])


class Flip:
    """Mirrors the image and its boxes horizontally or vertically.

    Horizontal: `xmin' = W - xmax`, `xmax' = W - xmin`; vertical likewise with `H`.

    Args:
        dim: `'horizontal'` or `'vertical'`.
        labels_format: column of each box coordinate; `None` means the default layout.

    Call arguments:
        image: `(H, W[, C])` array.
        labels: optional `(k, n)` array.
        return_inverter: also return a `FlipInverter` (the original returned none).

    Raises:
        ValueError: if `dim` is neither.
    """

    def __init__(self, dim: str = "horizontal", labels_format: Mapping[str, int] | None = None):
        if dim not in _FLIP_DIMS:
            raise ValueError(f"`dim` must be one of {_FLIP_DIMS}, got {dim!r}.")
        self.dim = dim
        self.labels_format = resolve_labels_format(labels_format)

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Flips; returns `image` [, `labels`] [, `inverter`]."""
        horizontal = self.dim == "horizontal"
        size = image.shape[1] if horizontal else image.shape[0]
        flipped = _flip_image(image, horizontal)
        if labels is not None:
            labels = as_label_array(labels, self.labels_format)
            _mirror_boxes(labels, box_columns(self.labels_format), self.dim, size)
        inverter = FlipInverter(self.dim, size, self.labels_format) if return_inverter else None
        return pack(flipped, labels, inverter, return_inverter)


class RandomFlip:
    """`Flip` applied with probability `prob`.

    Args:
        dim: `'horizontal'` or `'vertical'`.
        prob: probability of flipping.
        labels_format: column of each box coordinate; `None` means the default layout.

    Call arguments:
        image, labels: as `Flip`.
        return_inverter: also return the inverter (the identity when no flip happened).

    Raises:
        ValueError: on an invalid `dim` or `prob`.
    """

    def __init__(
        self,
        dim: str = "horizontal",
        prob: float = 0.5,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        check_probability("prob", prob)
        self.dim = dim
        self.prob = prob
        self.labels_format = resolve_labels_format(labels_format)
        self.flip = Flip(dim=dim, labels_format=self.labels_format)

    def draw_params(self) -> dict[str, Any]:
        """No parameters: `{}`."""
        return {}

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Flips with probability `prob`; returns as `Flip`."""
        if not happens(self.prob):
            return pack(image, labels, identity_inverter, return_inverter)
        self.flip.labels_format = self.labels_format
        return self.flip(image, labels, return_inverter)


# ------------------------------------------------------------------------------------------------
# Translate and Scale


class Translate:
    """Shifts the image by a fraction of its size, filling the border with `background`.

    The shift is `(int(round(W * dx)), int(round(H * dy)))` pixels; boxes move with it, then
    `box_filter` runs (before clipping) and boxes are clipped to the image if `clip_boxes`.

    Args:
        dy: vertical shift as a fraction of the height (positive moves down).
        dx: horizontal shift as a fraction of the width (positive moves right).
        clip_boxes: clip boxes to `[0, W-1] x [0, H-1]`.
        box_filter: optional `BoxFilter`.
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: if `box_filter` is not a `BoxFilter` or None.
    """

    def __init__(
        self,
        dy: float,
        dx: float,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        check_type("box_filter", box_filter, BoxFilter)
        self.dy_rel = dy
        self.dx_rel = dx
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)

    def _shift(self, img_height: int, img_width: int) -> tuple[int, int]:
        return int(np.round(img_height * self.dy_rel)), int(np.round(img_width * self.dx_rel))

    def transform_labels(self, labels: np.ndarray, img_height: int, img_width: int) -> np.ndarray:
        """Shifted copy of the `(k, n)` `labels` (no filtering, no clipping)."""
        dy_abs, dx_abs = self._shift(img_height, img_width)
        labels = as_label_array(labels, self.labels_format)
        cols = box_columns(self.labels_format)
        labels[:, cols.xs] += dx_abs
        labels[:, cols.ys] += dy_abs
        return labels

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Shifts; returns `image` or `(image, labels)`."""
        img_height, img_width = image.shape[:2]
        dy_abs, dx_abs = self._shift(img_height, img_width)
        shifted = _shift_image(image, dy_abs, dx_abs, self.background)
        if labels is not None:
            labels = _filter_then_clip(
                self.transform_labels(labels, img_height, img_width),
                self.box_filter,
                self.labels_format,
                self.clip_boxes,
                img_height,
                img_width,
            )
        return pack(shifted, labels)


def _scale_matrix(img_height: int, img_width: int, factor: float) -> np.ndarray:
    return cv2.getRotationMatrix2D(center=(img_width / 2, img_height / 2), angle=0, scale=factor)


class Scale:
    """Zooms the image about its centre by `factor` (same output size).

    Box corners go through the same affine map and are rounded; then `box_filter` runs and
    boxes are clipped to the image if `clip_boxes`.

    Args:
        factor: positive zoom factor (> 1 zooms in).
        clip_boxes: clip boxes to `[0, W-1] x [0, H-1]`.
        box_filter: optional `BoxFilter`.
        background: fill value per channel for the uncovered border when zooming out.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: if `factor <= 0` or `box_filter` is not a `BoxFilter` or None.
    """

    def __init__(
        self,
        factor: float,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if factor <= 0:
            raise ValueError(f"`factor` must be > 0, got {factor!r}.")
        check_type("box_filter", box_filter, BoxFilter)
        self.factor = factor
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)

    def transform_labels(self, labels: np.ndarray, img_height: int, img_width: int) -> np.ndarray:
        """Zoomed copy of the `(k, n)` `labels` (no filtering, no clipping)."""
        labels = as_label_array(labels, self.labels_format)
        matrix = _scale_matrix(img_height, img_width, self.factor)
        _map_corners(labels, box_columns(self.labels_format), matrix)
        return labels

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Zooms; returns `image` or `(image, labels)`."""
        img_height, img_width = image.shape[:2]
        matrix = _scale_matrix(img_height, img_width, self.factor)
        zoomed = _warp(image, matrix, (img_height, img_width), self.background)
        if labels is not None:
            labels = _filter_then_clip(
                self.transform_labels(labels, img_height, img_width),
                self.box_filter,
                self.labels_format,
                self.clip_boxes,
                img_height,
                img_width,
            )
        return pack(zoomed, labels)


class _RandomTrials:
    """Base of `RandomTranslate`/`RandomScale`: fire, then try parameter draws."""

    prob: float
    n_trials_max: int
    image_validator: ImageValidator | None
    labels_format: Mapping[str, int]
    _op: Translate | Scale

    def draw_params(self) -> dict[str, Any]:
        """Draws one candidate of the deterministic op's parameters."""
        raise NotImplementedError

    def _set_params(self, params: dict[str, Any]) -> None:
        for name, value in params.items():
            setattr(self._op, name, value)

    def _accepts(self, labels: np.ndarray | None, img_height: int, img_width: int) -> bool:
        if labels is None or self.image_validator is None:
            return True
        moved = self._op.transform_labels(labels, img_height, img_width)
        return self.image_validator(labels=moved, image_height=img_height, image_width=img_width)

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Applies the op with probability `prob`; returns `image` or `(image, labels)`."""
        if not happens(self.prob):
            return pack(image, labels)
        img_height, img_width = image.shape[:2]
        if self.image_validator is not None:
            self.image_validator.labels_format = self.labels_format
        self._op.labels_format = self.labels_format
        for _ in range(max(1, self.n_trials_max)):
            self._set_params(self.draw_params())
            if self._accepts(labels, img_height, img_width):
                return self._op(image, labels)
        return pack(image, labels)


def _check_trials(
    image_validator: ImageValidator | None, n_trials_max: int, prob: float, box_filter: Any
) -> None:
    check_type("image_validator", image_validator, ImageValidator)
    check_type("box_filter", box_filter, BoxFilter)
    check_probability("prob", prob)
    if not isinstance(n_trials_max, (int, np.integer)):
        raise ValueError(f"`n_trials_max` must be an int, got {n_trials_max!r}.")


class RandomTranslate(_RandomTrials):
    """`Translate` by random fractions, with probability `prob`.

    Each trial draws magnitudes `U(dy_minmax)` and `U(dx_minmax)` and then a random sign for
    each (`np.random.choice`); the first shift whose moved boxes satisfy `image_validator`
    (any shift if there are no labels or no validator) is applied. If all `n_trials_max`
    trials fail, the input is returned unchanged.

    Args:
        dy_minmax: `(min, max)` vertical shift magnitude as a fraction of the height.
        dx_minmax: `(min, max)` horizontal shift magnitude as a fraction of the width.
        prob: probability of translating.
        clip_boxes: clip boxes to the image.
        box_filter: optional `BoxFilter` applied to the shifted boxes.
        image_validator: optional `ImageValidator` that accepts or rejects a shift.
        n_trials_max: number of draws before giving up (at least 1).
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: if a min exceeds its max or is negative, or on wrong validator/filter types.
    """

    def __init__(
        self,
        dy_minmax: Sequence[float] = (0.03, 0.3),
        dx_minmax: Sequence[float] = (0.03, 0.3),
        prob: float = 0.5,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        image_validator: ImageValidator | None = None,
        n_trials_max: int = 3,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        for name, (low, high) in (("dy_minmax", dy_minmax), ("dx_minmax", dx_minmax)):
            if low > high or low < 0:
                raise ValueError(f"`{name}` must satisfy 0 <= min <= max, got {(low, high)!r}.")
        _check_trials(image_validator, n_trials_max, prob, box_filter)
        self.dy_minmax = dy_minmax
        self.dx_minmax = dx_minmax
        self.prob = prob
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.image_validator = image_validator
        self.n_trials_max = n_trials_max
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self.translate = Translate(
            dy=0,
            dx=0,
            clip_boxes=clip_boxes,
            box_filter=box_filter,
            background=background,
            labels_format=self.labels_format,
        )

    @property
    def _op(self) -> Translate:
        return self.translate

    def draw_params(self) -> dict[str, Any]:
        """`{'dy_rel': +-U(dy_minmax), 'dx_rel': +-U(dx_minmax)}` (signs drawn last)."""
        dy_abs = uniform(self.dy_minmax[0], self.dy_minmax[1])
        dx_abs = uniform(self.dx_minmax[0], self.dx_minmax[1])
        dy = choice([-dy_abs, dy_abs])
        dx = choice([-dx_abs, dx_abs])
        return {"dy_rel": float(dy), "dx_rel": float(dx)}


class RandomScale(_RandomTrials):
    """`Scale` by `factor ~ U(min_factor, max_factor)`, with probability `prob`.

    Trials work as in `RandomTranslate`.

    Args:
        min_factor: smallest zoom factor (> 0).
        max_factor: largest zoom factor (>= min_factor).
        prob: probability of zooming.
        clip_boxes: clip boxes to the image.
        box_filter: optional `BoxFilter` applied to the zoomed boxes.
        image_validator: optional `ImageValidator` that accepts or rejects a factor.
        n_trials_max: number of draws before giving up (at least 1).
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: unless `0 < min_factor <= max_factor`, or on wrong validator/filter types.
    """

    def __init__(
        self,
        min_factor: float = 0.5,
        max_factor: float = 1.5,
        prob: float = 0.5,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        image_validator: ImageValidator | None = None,
        n_trials_max: int = 3,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if not 0 < min_factor <= max_factor:
            raise ValueError(
                f"`min_factor` and `max_factor` must satisfy 0 < min_factor <= max_factor, "
                f"got {min_factor!r} and {max_factor!r}."
            )
        _check_trials(image_validator, n_trials_max, prob, box_filter)
        self.min_factor = min_factor
        self.max_factor = max_factor
        self.prob = prob
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.image_validator = image_validator
        self.n_trials_max = n_trials_max
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self.scale = Scale(
            factor=1.0,
            clip_boxes=clip_boxes,
            box_filter=box_filter,
            background=background,
            labels_format=self.labels_format,
        )

    @property
    def _op(self) -> Scale:
        return self.scale

    def draw_params(self) -> dict[str, Any]:
        """`{'factor': U(min_factor, max_factor)}`."""
        return {"factor": uniform(self.min_factor, self.max_factor)}


# ------------------------------------------------------------------------------------------------
# Rotate


def _rotation(img_height: int, img_width: int, angle: int) -> tuple[np.ndarray, int, int]:
    """Affine matrix of a counter-clockwise rotation onto the enlarged canvas, and its size."""
    matrix = cv2.getRotationMatrix2D(center=(img_width / 2, img_height / 2), angle=angle, scale=1)
    cos_angle = np.abs(matrix[0, 0])
    sin_angle = np.abs(matrix[0, 1])
    new_width = int(img_height * sin_angle + img_width * cos_angle)
    new_height = int(img_height * cos_angle + img_width * sin_angle)
    matrix[1, 2] += (new_height - img_height) / 2
    matrix[0, 2] += (new_width - img_width) / 2
    return matrix, new_height, new_width


# After rotating the corners, which coordinate pairs have swapped roles per angle.
_ROTATION_SWAPS: dict[int, tuple[str, ...]] = {90: ("y",), 180: ("y", "x"), 270: ("x",)}


class Rotate:
    """Rotates the image counter-clockwise by 90, 180 or 270 degrees about its centre.

    The canvas grows to hold the whole rotated image (`H x W` becomes `W x H` for 90/270).
    Box corners are rotated and rounded, then their min/max roles are restored. No filtering,
    no clipping.

    Args:
        angle: 90, 180 or 270.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: for any other angle.
    """

    def __init__(self, angle: int, labels_format: Mapping[str, int] | None = None) -> None:
        if angle not in _RIGHT_ANGLES:
            raise ValueError(f"`angle` must be one of {_RIGHT_ANGLES}, got {angle!r}.")
        self.angle = angle
        self.labels_format = resolve_labels_format(labels_format)

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Rotates; returns `image` or `(image, labels)`."""
        img_height, img_width = image.shape[:2]
        matrix, new_height, new_width = _rotation(img_height, img_width, self.angle)
        rotated = _warp(image, matrix, (new_height, new_width))
        if labels is not None:
            labels = as_label_array(labels, self.labels_format)
            cols = box_columns(self.labels_format)
            _map_corners(labels, cols, matrix)
            for axis in _ROTATION_SWAPS[self.angle]:
                pair = cols.ys if axis == "y" else cols.xs
                labels[:, pair] = labels[:, pair[::-1]]
        return pack(rotated, labels)


class RandomRotate:
    """`Rotate` by an angle drawn with Python's `random.choice`, with probability `prob`.

    Args:
        angles: angles to choose from, each 90, 180 or 270.
        prob: probability of rotating.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: if an angle is not a right angle or `prob` is outside [0, 1].
    """

    def __init__(
        self,
        angles: Sequence[int] = (90, 180, 270),
        prob: float = 0.5,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        for angle in angles:
            if angle not in _RIGHT_ANGLES:
                raise ValueError(f"`angles` may only contain {_RIGHT_ANGLES}, got {angles!r}.")
        check_probability("prob", prob)
        self.angles = angles
        self.prob = prob
        self.labels_format = resolve_labels_format(labels_format)
        self.rotate = Rotate(angle=90, labels_format=self.labels_format)

    def draw_params(self) -> dict[str, Any]:
        """`{'angle': random.choice(angles)}` (Python's RNG, as the original)."""
        return {"angle": random.choice(self.angles)}

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Rotates with probability `prob`; returns `image` or `(image, labels)`."""
        if not happens(self.prob):
            return pack(image, labels)
        self.rotate.angle = self.draw_params()["angle"]
        self.rotate.labels_format = self.labels_format
        return self.rotate(image, labels)
