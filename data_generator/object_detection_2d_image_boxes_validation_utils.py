"""Which boxes are valid for an image, and is an image valid for its boxes.

`BoxFilter` keeps the boxes that satisfy degeneracy, minimum-area and overlap requirements with
respect to an image of a given size; `ImageValidator` says whether enough boxes overlap an image
(used to accept or reject a random crop, shift or zoom); `BoundGenerator` draws random overlap
bounds. Boxes are rows of a labels array in absolute pixel `corners` coordinates
`(xmin, ymin, xmax, ymax)`, located by `labels_format`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from bounding_box_utils.bounding_box_utils import intersection_area_
from data_generator._op_utils import (
    as_label_array,
    box_columns,
    choice,
    resolve_labels_format,
)

OVERLAP_CRITERIA = ("iou", "area", "center_point")

#: Value added to every `max - min` side length for each `border_pixels` mode.
BORDER_PIXEL_OFFSETS = {"half": 0, "include": 1, "exclude": -1}


def _check_border_pixels(border_pixels: str) -> int:
    if border_pixels not in BORDER_PIXEL_OFFSETS:
        raise ValueError(
            f"`border_pixels` must be one of {sorted(BORDER_PIXEL_OFFSETS)}, got {border_pixels!r}."
        )
    return BORDER_PIXEL_OFFSETS[border_pixels]


def _check_overlap_criterion(overlap_criterion: str) -> None:
    if overlap_criterion not in OVERLAP_CRITERIA:
        raise ValueError(
            f"`overlap_criterion` must be one of {OVERLAP_CRITERIA}, got {overlap_criterion!r}."
        )


class BoundGenerator:
    """Draws `[lower, upper]` overlap bounds from a finite sample space.

    Args:
        sample_space: sequence of `(lower, upper)` pairs of floats; `None` stands for 0.0 as a
            lower bound and 1.0 as an upper bound. Defaults to lower bounds 0.1, 0.3, 0.5, 0.7,
            0.9 (each with upper bound 1.0) and the unbounded pair `(None, None)`.
        weights: probabilities of the pairs (same length as `sample_space`, summing to 1), or
            `None` for a uniform choice.

    Raises:
        ValueError: on a pair that is not a 2-tuple, a lower bound above its upper bound, or
            weights of the wrong length or sum.

    Example:
        >>> generator = BoundGenerator(sample_space=((0.5, None),))
        >>> generator()
        [0.5, 1.0]
    """

    def __init__(
        self,
        sample_space: Sequence[Sequence[float | None]] = (
            (0.1, None),
            (0.3, None),
            (0.5, None),
            (0.7, None),
            (0.9, None),
            (None, None),
        ),
        weights: Sequence[float] | None = None,
    ) -> None:
        if weights is not None and len(weights) != len(sample_space):
            raise ValueError(
                f"`weights` must be None or have one entry per sample space element "
                f"({len(sample_space)}), got {weights!r}."
            )
        if weights is not None and not np.isclose(np.sum(weights), 1.0):
            raise ValueError(f"`weights` must sum to 1, got {weights!r}.")
        self.sample_space = [self._complete_pair(pair) for pair in sample_space]
        self.sample_space_size = len(self.sample_space)
        if weights is None:
            self.weights = [1.0 / self.sample_space_size] * self.sample_space_size
        else:
            self.weights = weights

    @staticmethod
    def _complete_pair(pair: Sequence[float | None]) -> list[float]:
        if len(pair) != 2:
            raise ValueError(f"Every element of `sample_space` must be a 2-tuple, got {pair!r}.")
        lower = 0.0 if pair[0] is None else pair[0]
        upper = 1.0 if pair[1] is None else pair[1]
        if lower > upper:
            raise ValueError(
                f"In `sample_space` the lower bound must not exceed the upper bound, got {pair!r}."
            )
        return [lower, upper]

    def __call__(self) -> list[float]:
        """Draws one `[lower, upper]` pair with `np.random.choice` (global numpy RNG)."""
        index = choice(self.sample_space_size, p=self.weights)
        return self.sample_space[index]


class BoxFilter:
    """Keeps the boxes that meet degeneracy, minimum-area and overlap requirements.

    Args:
        check_overlap: whether to apply the `overlap_criterion`.
        check_min_area: whether to drop boxes with `(xmax - xmin) * (ymax - ymin) < min_area`.
        check_degenerate: whether to drop boxes with `xmax <= xmin` or `ymax <= ymin`.
        overlap_criterion: `'center_point'` (box centre inside `[0, W-1] x [0, H-1]`; the
            bounds are ignored), `'iou'` (`lower < IoU(box, image) <= upper`, image box
            `(0, 0, W, H)`) or `'area'` (area of the box clipped to `[0, W-1] x [0, H-1]`
            at least `lower` (strictly above when `lower == 0`) and at most `upper` times
            the box area).
        overlap_bounds: `(lower, upper)` or a `BoundGenerator` that draws them per call.
        min_area: minimum box area in square pixels.
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.
        border_pixels: `'half'`, `'include'` or `'exclude'`: adds 0, +1 or -1 to every
            side length in the `'iou'` and `'area'` criteria.

    Raises:
        ValueError: on bounds that are neither a pair nor a `BoundGenerator`, a lower bound
            above the upper bound, an unknown criterion or `border_pixels` value.

    Example:
        >>> boxes = np.array([[1, 10, 10, 50, 50], [2, 470, 10, 520, 40]])
        >>> BoxFilter(overlap_criterion='center_point')(boxes, 300, 480)
        array([[ 1, 10, 10, 50, 50]])
    """

    def __init__(
        self,
        check_overlap: bool = True,
        check_min_area: bool = True,
        check_degenerate: bool = True,
        overlap_criterion: str = "center_point",
        overlap_bounds: Sequence[float] | BoundGenerator = (0.3, 1.0),
        min_area: float = 16,
        labels_format: Mapping[str, int] | None = None,
        border_pixels: str = "half",
    ) -> None:
        if not isinstance(overlap_bounds, (list, tuple, BoundGenerator)):
            raise ValueError(
                f"`overlap_bounds` must be a (lower, upper) pair or a BoundGenerator, "
                f"got {overlap_bounds!r}."
            )
        if isinstance(overlap_bounds, (list, tuple)) and overlap_bounds[0] > overlap_bounds[1]:
            raise ValueError(
                f"The lower bound of `overlap_bounds` must not exceed its upper bound, "
                f"got {overlap_bounds!r}."
            )
        _check_overlap_criterion(overlap_criterion)
        _check_border_pixels(border_pixels)
        self.overlap_criterion = overlap_criterion
        self.overlap_bounds = overlap_bounds
        self.min_area = min_area
        self.check_overlap = check_overlap
        self.check_min_area = check_min_area
        self.check_degenerate = check_degenerate
        self.labels_format = resolve_labels_format(labels_format)
        self.border_pixels = border_pixels

    def __call__(
        self,
        labels: np.ndarray,
        image_height: int | None = None,
        image_width: int | None = None,
    ) -> np.ndarray:
        """Returns a copy of the rows of `labels` that meet every enabled requirement.

        Args:
            labels: `(k, n)` array of boxes in absolute pixel coordinates of the image.
            image_height: image height in pixels (needed when `check_overlap`).
            image_width: image width in pixels (needed when `check_overlap`).

        Returns:
            `(m, n)` array, `m <= k`, rows in their original order.
        """
        labels = as_label_array(labels, self.labels_format)
        return labels[self.valid_mask(labels, image_height, image_width)]

    def valid_mask(
        self,
        labels: np.ndarray,
        image_height: int | None = None,
        image_width: int | None = None,
    ) -> np.ndarray:
        """`(k,)` boolean array: which rows of the `(k, n)` array `labels` pass."""
        labels = np.asarray(labels)
        if labels.ndim != 2:
            labels = as_label_array(labels, self.labels_format)
        corners = labels[:, box_columns(self.labels_format).corners]
        mask = np.ones(labels.shape[0], dtype=bool)
        if self.check_degenerate:
            mask &= (corners[:, _X1] > corners[:, _X0]) & (corners[:, _Y1] > corners[:, _Y0])
        if self.check_min_area:
            mask &= _areas(corners, 0) >= self.min_area
        if self.check_overlap:
            if image_height is None or image_width is None:
                raise ValueError(
                    "`image_height` and `image_width` are required when `check_overlap` is True, "
                    f"got {image_height!r} and {image_width!r}."
                )
            mask &= self.overlap_mask(corners, image_height, image_width)
        return mask

    def _bounds(self) -> tuple[float, float]:
        if isinstance(self.overlap_bounds, BoundGenerator):
            lower, upper = self.overlap_bounds()
        else:
            lower, upper = self.overlap_bounds
        return lower, upper

    def overlap_mask(self, corners: np.ndarray, image_height: Any, image_width: Any) -> np.ndarray:
        """Which boxes meet the overlap criterion (bounds drawn once per call if random).

        Args:
            corners: `(..., k, 4)` boxes `(xmin, ymin, xmax, ymax)` in absolute pixels.
            image_height: image height, a number or an array broadcastable to `(..., 1)`
                (one height per leading index, e.g. per candidate patch).
            image_width: image width, like `image_height`.

        Returns:
            `(..., k)` boolean array.
        """
        if self.overlap_criterion == "center_point":
            return _center_inside(corners, image_height, image_width)
        lower, upper = self._bounds()
        d = BORDER_PIXEL_OFFSETS[self.border_pixels]
        if self.overlap_criterion == "iou":
            overlap = _image_iou(corners, image_height, image_width, d)
            return (overlap > lower) & (overlap <= upper)
        box_areas = _areas(corners, d)
        inside_areas = _areas(_clip_to_image(corners, image_height, image_width), d)
        # With a zero lower bound, boxes without any area inside the image must still fail.
        if lower == 0.0:
            above_lower = inside_areas > lower * box_areas
        else:
            above_lower = inside_areas >= lower * box_areas
        return above_lower & (inside_areas <= upper * box_areas)


# Positions inside a corners array (xmin, ymin, xmax, ymax).
_X0, _Y0, _X1, _Y1 = 0, 1, 2, 3


def _areas(corners: np.ndarray, d: int) -> np.ndarray:
    """Box areas with side lengths `max - min + d`; shape `corners.shape[:-1]`."""
    return (corners[..., _X1] - corners[..., _X0] + d) * (corners[..., _Y1] - corners[..., _Y0] + d)


def _image_rectangles(image_height: Any, image_width: Any, top_left: float = 0) -> np.ndarray:
    """`(..., 1, 4)` (or `(4,)`) image rectangles `(t, t, W, H)` as corners."""
    height, width = np.broadcast_arrays(np.asarray(image_height), np.asarray(image_width))
    start = np.full_like(height, top_left)
    return np.stack([start, start, width, height], axis=-1)


def _image_iou(corners: np.ndarray, image_height: Any, image_width: Any, d: int) -> np.ndarray:
    """IoU of every box with the image `(0, 0, W, H)`; intersection without `d` (as `iou`)."""
    image = _image_rectangles(image_height, image_width)
    intersection = intersection_area_(image, corners, "corners", "element-wise", "half")
    union = _areas(image, d) + _areas(corners, d) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union


def _clip_to_image(corners: np.ndarray, image_height: Any, image_width: Any) -> np.ndarray:
    """Boxes clipped to `[0, W-1] x [0, H-1]`."""
    height = np.asarray(image_height)
    width = np.asarray(image_width)
    limits = np.stack(np.broadcast_arrays(width - 1, height - 1, width - 1, height - 1), axis=-1)
    return np.clip(corners, 0, limits)


def _center_inside(corners: np.ndarray, image_height: Any, image_width: Any) -> np.ndarray:
    cy = (corners[..., _Y0] + corners[..., _Y1]) / 2
    cx = (corners[..., _X0] + corners[..., _X1]) / 2
    return (cy >= 0.0) & (cy <= image_height - 1) & (cx >= 0.0) & (cx <= image_width - 1)


class ImageValidator:
    """Says whether enough boxes overlap an image of a given size.

    Args:
        overlap_criterion: `'center_point'`, `'iou'` or `'area'` (see `BoxFilter`).
        bounds: `(lower, upper)` or a `BoundGenerator`; read again at every call, so it can be
            replaced between calls.
        n_boxes_min: a positive int (at least that many boxes must pass) or `'all'`.
        labels_format: column of each box coordinate; `None` means the default layout.
        border_pixels: `'half'`, `'include'` or `'exclude'`.

    Raises:
        ValueError: if `n_boxes_min` is neither a positive int nor `'all'`, or on an invalid
            criterion, bounds or `border_pixels` value.

    Example:
        >>> boxes = np.array([[1, 10, 10, 50, 50]])
        >>> ImageValidator(overlap_criterion='area', bounds=(0.5, 1.0))(boxes, 300, 480)
        True
    """

    def __init__(
        self,
        overlap_criterion: str = "center_point",
        bounds: Sequence[float] | BoundGenerator = (0.3, 1.0),
        n_boxes_min: int | str = 1,
        labels_format: Mapping[str, int] | None = None,
        border_pixels: str = "half",
    ) -> None:
        valid_int = isinstance(n_boxes_min, (int, np.integer)) and n_boxes_min > 0
        if not (valid_int or (isinstance(n_boxes_min, str) and n_boxes_min == "all")):
            raise ValueError(f"`n_boxes_min` must be a positive int or 'all', got {n_boxes_min!r}.")
        self.overlap_criterion = overlap_criterion
        self.bounds = bounds
        self.n_boxes_min = n_boxes_min
        self.labels_format = resolve_labels_format(labels_format)
        self.border_pixels = border_pixels
        self.box_filter = BoxFilter(
            check_overlap=True,
            check_min_area=False,
            check_degenerate=False,
            overlap_criterion=self.overlap_criterion,
            overlap_bounds=self.bounds,
            labels_format=self.labels_format,
            border_pixels=self.border_pixels,
        )

    def __call__(self, labels: np.ndarray, image_height: int, image_width: int) -> bool:
        """True if enough rows of the `(k, n)` array `labels` overlap an `H x W` image.

        Args:
            labels: boxes in absolute pixel coordinates of the image.
            image_height: image height in pixels.
            image_width: image width in pixels.

        Returns:
            A Python bool.
        """
        labels = np.asarray(labels)
        if labels.ndim != 2:
            labels = as_label_array(labels, self.labels_format)
        corners = labels[:, box_columns(self.labels_format).corners]
        return bool(self.accepts_boxes(corners, image_height, image_width))

    def accepts_boxes(
        self, corners: np.ndarray, image_height: Any, image_width: Any
    ) -> bool | np.ndarray:
        """The validator's decision for boxes given directly as corners.

        Args:
            corners: `(..., k, 4)` boxes `(xmin, ymin, xmax, ymax)` in absolute pixels; a
                leading axis can hold the same boxes seen in several candidate images.
            image_height: a number, or an array broadcastable to `(..., 1)`.
            image_width: like `image_height`.

        Returns:
            A boolean array of shape `corners.shape[:-2]` (a numpy bool for `(k, 4)`).
        """
        self.box_filter.overlap_bounds = self.bounds
        self.box_filter.labels_format = self.labels_format
        n_valid = np.count_nonzero(
            self.box_filter.overlap_mask(corners, image_height, image_width), axis=-1
        )
        if self.n_boxes_min == "all":
            return n_valid == corners.shape[-2]
        return n_valid >= self.n_boxes_min
