"""Cropping, padding and random patch sampling for object detection.

A patch is a rectangle `(patch_ymin, patch_xmin, patch_height, patch_width)` in the pixel
coordinates of the input image; it may reach outside the image (negative offsets or a size beyond
the image), in which case the uncovered part is filled with `background`. Boxes are rows of a
`(k, n)` labels array in absolute pixel `corners` coordinates located by `labels_format`.

`CropPad`, `Crop`, `Pad` and the random samplers are callables
`op(image, labels=None, return_inverter=False)` returning `image` [, `labels`]
[, `inverter`]; the inverter maps decoded predictions `(k, 6)` (labels layout with a confidence
column at index 1) from the patch back to the input image.

The output image keeps the input dtype (the original always produced `uint8`, which destroyed
float images); `uint8` inputs give exactly the original's result
(docs/differences.md#crop-pad-dtype).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from data_generator._op_utils import (
    as_label_array,
    box_columns,
    check_probability,
    check_range,
    check_type,
    happens,
    identity_inverter,
    integral_uint8_fill,
    pack,
    prediction_columns,
    randint,
    resolve_labels_format,
    rng_state,
    set_rng_state,
    uniform,
)
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoundGenerator,
    BoxFilter,
    ImageValidator,
)

_MUST_MATCH = ("h_w", "h_ar", "w_ar")
# Candidate patches drawn and validated together by the random samplers.
_CANDIDATE_CHUNK = 16


class PatchCoordinateGenerator:
    """Draws random patch coordinates `(ymin, xmin, height, width)` for an image.

    Which two quantities are drawn (the third follows) is set by `must_match`:
    `'h_w'`: `height = int(U(min_scale, max_scale) * img_height)` and likewise the width
    (one common factor if `scale_uniformly`); `'h_ar'`: the height as above and
    `width = int(height * ar)`, `ar ~ U(min_aspect_ratio, max_aspect_ratio)`; `'w_ar'`: the
    width as above and `height = int(width / ar)`. Any quantity given as `patch_*` is used
    instead of being drawn. The position, unless fixed, is uniform over all integer offsets that
    keep the patch inside the image (patch smaller than the image) or the image inside the patch
    (patch larger): `randint(0, r + 1)` or `randint(r, 1)` with `r = img_size - patch_size`.

    Args:
        img_height: height of the image in pixels (the random samplers set it per call).
        img_width: width of the image in pixels (the random samplers set it per call).
        must_match: `'h_w'`, `'h_ar'` or `'w_ar'`.
        min_scale: smallest patch side as a fraction of the image side.
        max_scale: largest patch side as a fraction of the image side.
        scale_uniformly: `'h_w'` only: draw one factor for both sides.
        min_aspect_ratio: smallest width/height ratio.
        max_aspect_ratio: largest width/height ratio.
        patch_ymin: fixed top offset, or None to draw it.
        patch_xmin: fixed left offset, or None to draw it.
        patch_height: fixed height, or None.
        patch_width: fixed width, or None.
        patch_aspect_ratio: fixed width/height ratio, or None.

    Raises:
        ValueError: on an unknown `must_match`, `min_scale >= max_scale`,
            `min_aspect_ratio >= max_aspect_ratio`, or `scale_uniformly` with a fixed side.
    """

    def __init__(
        self,
        img_height: int | None = None,
        img_width: int | None = None,
        must_match: str = "h_w",
        min_scale: float = 0.3,
        max_scale: float = 1.0,
        scale_uniformly: bool = False,
        min_aspect_ratio: float = 0.5,
        max_aspect_ratio: float = 2.0,
        patch_ymin: int | None = None,
        patch_xmin: int | None = None,
        patch_height: int | None = None,
        patch_width: int | None = None,
        patch_aspect_ratio: float | None = None,
    ) -> None:
        if must_match not in _MUST_MATCH:
            raise ValueError(f"`must_match` must be one of {_MUST_MATCH}, got {must_match!r}.")
        check_range("min_scale", min_scale, "max_scale", max_scale)
        check_range("min_aspect_ratio", min_aspect_ratio, "max_aspect_ratio", max_aspect_ratio)
        if scale_uniformly and not (patch_height is None and patch_width is None):
            raise ValueError(
                "`scale_uniformly=True` needs `patch_height` and `patch_width` to be None, got "
                f"{patch_height!r} and {patch_width!r}."
            )
        self.img_height = img_height
        self.img_width = img_width
        self.must_match = must_match
        self.min_scale = min_scale
        self.max_scale = max_scale
        self.scale_uniformly = scale_uniformly
        self.min_aspect_ratio = min_aspect_ratio
        self.max_aspect_ratio = max_aspect_ratio
        self.patch_ymin = patch_ymin
        self.patch_xmin = patch_xmin
        self.patch_height = patch_height
        self.patch_width = patch_width
        self.patch_aspect_ratio = patch_aspect_ratio

    def __call__(self) -> tuple[int, int, int, int]:
        """Returns `(patch_ymin, patch_xmin, patch_height, patch_width)` in pixels."""
        patch_height, patch_width = self._draw_size()
        patch_ymin = self._draw_offset(self.patch_ymin, self.img_height, patch_height)
        patch_xmin = self._draw_offset(self.patch_xmin, self.img_width, patch_width)
        return patch_ymin, patch_xmin, patch_height, patch_width

    def _scaled(self, fixed: int | None, size: int | None) -> int:
        if fixed is not None:
            return fixed
        return int(uniform(self.min_scale, self.max_scale) * size)

    def _aspect_ratio(self) -> float:
        if self.patch_aspect_ratio is not None:
            return self.patch_aspect_ratio
        return uniform(self.min_aspect_ratio, self.max_aspect_ratio)

    def _draw_size(self) -> tuple[int, int]:
        if self.must_match == "h_w" and self.scale_uniformly:
            factor = uniform(self.min_scale, self.max_scale)
            return int(factor * self.img_height), int(factor * self.img_width)
        if self.must_match == "h_w":
            patch_height = self._scaled(self.patch_height, self.img_height)
            return patch_height, self._scaled(self.patch_width, self.img_width)
        if self.must_match == "h_ar":
            patch_height = self._scaled(self.patch_height, self.img_height)
            return patch_height, int(patch_height * self._aspect_ratio())
        patch_width = self._scaled(self.patch_width, self.img_width)
        return int(patch_width / self._aspect_ratio()), patch_width

    @staticmethod
    def _draw_offset(fixed: int | None, img_size: int, patch_size: int) -> int:
        if fixed is not None:
            return fixed
        free = img_size - patch_size
        return randint(0, free + 1) if free >= 0 else randint(free, 1)


class CropPadInverter:
    """Moves decoded predictions from patch coordinates back to image coordinates.

    Args:
        patch_ymin: top offset of the patch in the image.
        patch_xmin: left offset of the patch in the image.
        labels_format: labels layout; the predictions have the confidence column at index 1.
    """

    def __init__(self, patch_ymin: int, patch_xmin: int, labels_format: Mapping[str, int]):
        self.patch_ymin = patch_ymin
        self.patch_xmin = patch_xmin
        self.columns = prediction_columns(labels_format)

    def __call__(self, predictions: np.ndarray) -> np.ndarray:
        """Returns a shifted copy of the `(k, 6)` `predictions`."""
        out = np.copy(predictions)
        out[:, self.columns.ys] += self.patch_ymin
        out[:, self.columns.xs] += self.patch_xmin
        return out


def _overlap(offset: int, patch_size: int, img_size: int) -> tuple[slice, slice]:
    """Source (image) and destination (patch) slices of the overlap along one axis."""
    start = max(0, offset)
    stop = max(start, min(img_size, offset + patch_size))
    return slice(start, stop), slice(start - offset, stop - offset)


def _canvas(image: np.ndarray, height: int, width: int, background: Any) -> np.ndarray:
    """An `(height, width[, C])` array of `image`'s dtype filled with `background`."""
    fill = np.asarray(background)
    row = np.empty((width, *image.shape[2:]), dtype=image.dtype)
    # Filling one row and broadcasting it is much faster than broadcasting a per-channel value.
    row[...] = fill.flat[0] if image.ndim == 2 and fill.ndim else fill
    canvas = np.empty((height, width, *image.shape[2:]), dtype=image.dtype)
    canvas[...] = row
    return canvas


class CropPad:
    """Cuts a patch out of the image; parts outside the image are filled with `background`.

    Boxes are shifted into patch coordinates, then `box_filter` runs for the patch size, then
    boxes are clipped to `[0, patch_width-1] x [0, patch_height-1]` if `clip_boxes`.

    Args:
        patch_ymin: top offset of the patch in the image (negative pads at the top).
        patch_xmin: left offset of the patch in the image (negative pads on the left).
        patch_height: patch height in pixels.
        patch_width: patch width in pixels.
        clip_boxes: clip boxes to the patch.
        box_filter: optional `BoxFilter`.
        background: fill value per channel (its first value for 2-D images).
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.

    Call arguments:
        image: `(H, W[, C])` array; the output has shape `(patch_height, patch_width[, C])`
            and the same dtype.
        labels: optional `(k, n)` array.
        return_inverter: also return a `CropPadInverter`.

    Raises:
        ValueError: if `box_filter` is not a `BoxFilter` or None; at call time if the patch
            starts below or right of the image.
    """

    def __init__(
        self,
        patch_ymin: int,
        patch_xmin: int,
        patch_height: int,
        patch_width: int,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        check_type("box_filter", box_filter, BoxFilter)
        self.patch_height = patch_height
        self.patch_width = patch_width
        self.patch_ymin = patch_ymin
        self.patch_xmin = patch_xmin
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)

    def transform_labels(self, labels: np.ndarray) -> np.ndarray:
        """Copy of the `(k, n)` `labels` in patch coordinates (no filtering, no clipping)."""
        labels = as_label_array(labels, self.labels_format)
        cols = box_columns(self.labels_format)
        labels[:, cols.ys] -= self.patch_ymin
        labels[:, cols.xs] -= self.patch_xmin
        return labels

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Crops/pads; returns `image` [, `labels`] [, `inverter`]."""
        img_height, img_width = image.shape[:2]
        if self.patch_ymin > img_height or self.patch_xmin > img_width:
            raise ValueError(
                f"The patch (patch_ymin={self.patch_ymin}, patch_xmin={self.patch_xmin}) does not "
                f"overlap the {img_height}x{img_width} image."
            )
        patch = self._cut(image)
        inverter = None
        if return_inverter:
            inverter = CropPadInverter(self.patch_ymin, self.patch_xmin, self.labels_format)
        if labels is not None:
            labels = self._patch_labels(labels)
        return pack(patch, labels, inverter, return_inverter)

    def _cut(self, image: np.ndarray) -> np.ndarray:
        img_height, img_width = image.shape[:2]
        rows_src, rows_dst = _overlap(self.patch_ymin, self.patch_height, img_height)
        cols_src, cols_dst = _overlap(self.patch_xmin, self.patch_width, img_width)
        inside = (rows_dst.stop - rows_dst.start, cols_dst.stop - cols_dst.start) == (
            self.patch_height,
            self.patch_width,
        )
        if inside:  # a pure crop: nothing to fill
            return image[rows_src, cols_src].copy()
        fill = integral_uint8_fill(image, self.background)
        if fill is not None and rows_dst.stop > rows_dst.start and cols_dst.stop > cols_dst.start:
            # One pass that copies the overlap and fills the border around it.
            padded = cv2.copyMakeBorder(
                image[rows_src, cols_src],
                rows_dst.start,
                self.patch_height - rows_dst.stop,
                cols_dst.start,
                self.patch_width - cols_dst.stop,
                cv2.BORDER_CONSTANT,
                value=fill,
            )
            return padded.reshape(self.patch_height, self.patch_width, *image.shape[2:])
        canvas = _canvas(image, self.patch_height, self.patch_width, self.background)
        canvas[rows_dst, cols_dst] = image[rows_src, cols_src]
        return canvas

    def _patch_labels(self, labels: np.ndarray) -> np.ndarray:
        labels = self.transform_labels(labels)
        if self.box_filter is not None:
            self.box_filter.labels_format = self.labels_format
            labels = self.box_filter(labels, self.patch_height, self.patch_width)
        if self.clip_boxes:
            cols = box_columns(self.labels_format)
            labels[:, cols.ys] = np.clip(labels[:, cols.ys], 0, self.patch_height - 1)
            labels[:, cols.xs] = np.clip(labels[:, cols.xs], 0, self.patch_width - 1)
        return labels


class Crop:
    """Removes `crop_top`/`crop_bottom` rows and `crop_left`/`crop_right` columns.

    Equivalent to `CropPad(crop_top, crop_left, H - crop_top - crop_bottom,
    W - crop_left - crop_right)` for an `H x W` image.

    Args:
        crop_top: rows removed at the top.
        crop_bottom: rows removed at the bottom.
        crop_left: columns removed on the left.
        crop_right: columns removed on the right.
        clip_boxes: clip boxes to the cropped image.
        box_filter: optional `BoxFilter`.
        labels_format: column of each box coordinate; `None` means the default layout.
    """

    def __init__(
        self,
        crop_top: int,
        crop_bottom: int,
        crop_left: int,
        crop_right: int,
        clip_boxes: bool = True,
        box_filter: BoxFilter | None = None,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.crop_top = crop_top
        self.crop_bottom = crop_bottom
        self.crop_left = crop_left
        self.crop_right = crop_right
        self.clip_boxes = clip_boxes
        self.box_filter = box_filter
        self.labels_format = resolve_labels_format(labels_format)
        self.crop = CropPad(
            patch_ymin=crop_top,
            patch_xmin=crop_left,
            patch_height=None,
            patch_width=None,
            clip_boxes=clip_boxes,
            box_filter=box_filter,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Crops; returns as `CropPad`."""
        img_height, img_width = image.shape[:2]
        self.crop.patch_height = img_height - self.crop_top - self.crop_bottom
        self.crop.patch_width = img_width - self.crop_left - self.crop_right
        self.crop.labels_format = self.labels_format
        return self.crop(image, labels, return_inverter)


class Pad:
    """Adds `pad_top`/`pad_bottom` rows and `pad_left`/`pad_right` columns.

    Equivalent to `CropPad(-pad_top, -pad_left, H + pad_top + pad_bottom,
    W + pad_left + pad_right, clip_boxes=False)`.

    Args:
        pad_top: rows added at the top.
        pad_bottom: rows added at the bottom.
        pad_left: columns added on the left.
        pad_right: columns added on the right.
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.
    """

    def __init__(
        self,
        pad_top: int,
        pad_bottom: int,
        pad_left: int,
        pad_right: int,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.pad_top = pad_top
        self.pad_bottom = pad_bottom
        self.pad_left = pad_left
        self.pad_right = pad_right
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self.pad = CropPad(
            patch_ymin=-pad_top,
            patch_xmin=-pad_left,
            patch_height=None,
            patch_width=None,
            clip_boxes=False,
            box_filter=None,
            background=background,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Pads; returns as `CropPad`."""
        img_height, img_width = image.shape[:2]
        self.pad.patch_height = img_height + self.pad_top + self.pad_bottom
        self.pad.patch_width = img_width + self.pad_left + self.pad_right
        self.pad.labels_format = self.labels_format
        return self.pad(image, labels, return_inverter)


class _PatchSampler:
    """Shared machinery of `RandomPatch` and `RandomPatchInf`."""

    patch_coord_generator: PatchCoordinateGenerator
    image_validator: ImageValidator | None
    n_trials_max: int
    labels_format: Mapping[str, int]
    sample_patch: CropPad

    def _check_components(self) -> None:
        check_type(
            "patch_coord_generator",
            self.patch_coord_generator,
            PatchCoordinateGenerator,
            allow_none=False,
        )
        check_type("image_validator", self.image_validator, ImageValidator)
        check_type("box_filter", self.box_filter, BoxFilter)
        check_probability("prob", self.prob)

    def _make_cropper(self) -> CropPad:
        return CropPad(
            patch_ymin=None,
            patch_xmin=None,
            patch_height=None,
            patch_width=None,
            clip_boxes=self.clip_boxes,
            box_filter=self.box_filter,
            background=self.background,
            labels_format=self.labels_format,
        )

    def draw_params(self) -> dict[str, int]:
        """One candidate patch from `patch_coord_generator` (image size must be set)."""
        ymin, xmin, height, width = self.patch_coord_generator()
        return {
            "patch_ymin": ymin,
            "patch_xmin": xmin,
            "patch_height": height,
            "patch_width": width,
        }

    def _prepare(self, image: np.ndarray) -> None:
        img_height, img_width = image.shape[:2]
        self.patch_coord_generator.img_height = img_height
        self.patch_coord_generator.img_width = img_width
        if self.image_validator is not None:
            self.image_validator.labels_format = self.labels_format
        self.sample_patch.labels_format = self.labels_format

    def _box_corners(self, labels: np.ndarray | None) -> np.ndarray | None:
        """`(k, 4)` corners of the labels, or None when no validation is needed."""
        if labels is None or self.image_validator is None:
            return None
        labels = as_label_array(labels, self.labels_format)
        return labels[:, box_columns(self.labels_format).corners]

    def _candidates_ok(self, candidates: np.ndarray, corners: np.ndarray | None) -> np.ndarray:
        """Which of the `(n, 4)` candidates `(ymin, xmin, height, width)` are accepted.

        Only candidates with an acceptable aspect ratio reach the validator (it may draw random
        bounds at every call, as in the original).
        """
        ok = self._aspect_ratios_ok(candidates[:, 2], candidates[:, 3])
        if corners is None or not ok.any():
            return ok
        shaped = candidates[ok]
        offsets = shaped[:, [1, 0, 1, 0]][:, None, :]  # (m, 1, 4) as (x, y, x, y)
        ok[ok] = self.image_validator.accepts_boxes(
            corners[None] - offsets, shaped[:, 2:3], shaped[:, 3:4]
        )
        return ok

    def _aspect_ratios_ok(self, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
        return np.ones(heights.shape, dtype=bool)

    def _draw_candidates(self, count: int) -> np.ndarray:
        return np.array([self.patch_coord_generator() for _ in range(count)]).reshape(count, 4)

    def _search(self, corners: np.ndarray | None) -> np.ndarray | None:
        """The first accepted candidate among `n_trials_max` draws, or None.

        Candidates are drawn in chunks and validated together. When one is accepted, the RNG is
        rewound and replayed up to it, so the draws consumed are exactly those of trying the
        candidates one by one.
        """
        remaining = max(1, self.n_trials_max)
        while remaining > 0:
            count = min(_CANDIDATE_CHUNK, remaining)
            state = rng_state()
            candidates = self._draw_candidates(count)
            ok = self._candidates_ok(candidates, corners)
            if ok.any():
                first = int(np.argmax(ok))
                set_rng_state(state)
                self._draw_candidates(first + 1)
                return candidates[first]
            remaining -= count
        return None

    def _sequential_search(self, corners: np.ndarray | None) -> np.ndarray | None:
        """As `_search`, trying one candidate at a time."""
        for _ in range(max(1, self.n_trials_max)):
            candidate = self._draw_candidates(1)
            if self._candidates_ok(candidate, corners)[0]:
                return candidate[0]
        return None

    def _try_patches(self, image: np.ndarray, labels: np.ndarray | None, return_inverter: bool):
        """Result of the first accepted candidate among `n_trials_max` draws, else None."""
        corners = self._box_corners(labels)
        # Batches only pay off when candidates need validating, and a validator drawing random
        # bounds per call must see the candidates one at a time to keep the draw order.
        batched = corners is not None and not isinstance(
            self.image_validator.bounds, BoundGenerator
        )
        candidate = self._search(corners) if batched else self._sequential_search(corners)
        if candidate is None:
            return None
        patch = self.sample_patch
        patch.patch_ymin, patch.patch_xmin, patch.patch_height, patch.patch_width = (
            int(value) for value in candidate
        )
        return patch(image, labels, return_inverter)


class RandomPatch(_PatchSampler):
    """Crops/pads a random patch drawn by `patch_coord_generator`, with probability `prob`.

    Up to `n_trials_max` candidates are drawn; the first whose shifted boxes satisfy
    `image_validator` (any candidate if there are no labels or no validator) is cut out. If
    all fail: with `can_fail` every output is None, else the input is returned unchanged (with
    a None inverter). When the op does not fire, the input is returned with the identity
    inverter.

    Args:
        patch_coord_generator: a `PatchCoordinateGenerator`; its image size is set per call.
        box_filter: optional `BoxFilter` applied to the boxes of the patch.
        image_validator: optional `ImageValidator` that accepts or rejects a candidate.
        n_trials_max: number of candidates before giving up (at least 1).
        clip_boxes: clip boxes to the patch.
        prob: probability of sampling a patch.
        background: fill value per channel.
        can_fail: return None outputs instead of the input when every candidate fails.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: on wrong generator, validator or filter types, or `prob` outside [0, 1].
    """

    def __init__(
        self,
        patch_coord_generator: PatchCoordinateGenerator,
        box_filter: BoxFilter | None = None,
        image_validator: ImageValidator | None = None,
        n_trials_max: int = 3,
        clip_boxes: bool = True,
        prob: float = 1.0,
        background: Sequence[float] = (0, 0, 0),
        can_fail: bool = False,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.patch_coord_generator = patch_coord_generator
        self.box_filter = box_filter
        self.image_validator = image_validator
        self.n_trials_max = n_trials_max
        self.clip_boxes = clip_boxes
        self.prob = prob
        self.background = background
        self.can_fail = can_fail
        self.labels_format = resolve_labels_format(labels_format)
        self._check_components()
        self.sample_patch = self._make_cropper()

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Samples a patch; returns `image` [, `labels`] [, `inverter`]."""
        if not happens(self.prob):
            return pack(image, labels, identity_inverter, return_inverter)
        self._prepare(image)
        result = self._try_patches(image, labels, return_inverter)
        if result is not None:
            return result
        if self.can_fail:
            return pack(None, None, None, return_inverter, with_labels=labels is not None)
        return pack(image, labels, None, return_inverter)


class RandomPatchInf(_PatchSampler):
    """Samples patches until one is accepted, or returns the input (the SSD random crop).

    Each round fires with probability `prob`; if it does not, the input is returned unchanged
    (with the identity inverter). If it does, new validator bounds are drawn from
    `bound_generator` (when both are given) and up to `n_trials_max` candidates are tried;
    candidates whose width/height ratio is outside the generator's
    `[min_aspect_ratio, max_aspect_ratio]` are skipped. Rounds repeat until a candidate is
    accepted or a round does not fire.

    Args:
        patch_coord_generator: a `PatchCoordinateGenerator`; its image size is set per call.
        box_filter: optional `BoxFilter` applied to the boxes of the patch.
        image_validator: optional `ImageValidator` that accepts or rejects a candidate.
        bound_generator: optional `BoundGenerator` drawing the validator's bounds per round.
        n_trials_max: candidates per round (at least 1).
        clip_boxes: clip boxes to the patch.
        prob: probability that a round samples a patch.
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.

    Raises:
        ValueError: on wrong generator, validator, bound generator or filter types, or `prob`
            outside [0, 1].
    """

    def __init__(
        self,
        patch_coord_generator: PatchCoordinateGenerator,
        box_filter: BoxFilter | None = None,
        image_validator: ImageValidator | None = None,
        bound_generator: BoundGenerator | None = None,
        n_trials_max: int = 50,
        clip_boxes: bool = True,
        prob: float = 0.857,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.patch_coord_generator = patch_coord_generator
        self.box_filter = box_filter
        self.image_validator = image_validator
        self.bound_generator = bound_generator
        self.n_trials_max = n_trials_max
        self.clip_boxes = clip_boxes
        self.prob = prob
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self._check_components()
        check_type("bound_generator", bound_generator, BoundGenerator)
        self.sample_patch = self._make_cropper()

    def _aspect_ratios_ok(self, heights: np.ndarray, widths: np.ndarray) -> np.ndarray:
        generator = self.patch_coord_generator
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = widths / heights
        return (
            (heights > 0)
            & (generator.min_aspect_ratio <= ratios)
            & (ratios <= generator.max_aspect_ratio)
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Samples a patch; returns `image` [, `labels`] [, `inverter`]."""
        self._prepare(image)
        while happens(self.prob):
            if self.image_validator is not None and self.bound_generator is not None:
                self.image_validator.bounds = self.bound_generator()
            result = self._try_patches(image, labels, return_inverter)
            if result is not None:
                return result
        return pack(image, labels, identity_inverter, return_inverter)


def _fixed_patch_generator(image: np.ndarray, patch_height: int, patch_width: int):
    img_height, img_width = image.shape[:2]
    return PatchCoordinateGenerator(
        img_height=img_height,
        img_width=img_width,
        must_match="h_w",
        patch_height=patch_height,
        patch_width=patch_width,
    )


class RandomMaxCropFixedAR:
    """Crops the largest patch of aspect ratio `patch_aspect_ratio` at a random position.

    If `W / H < patch_aspect_ratio` the patch is `W` wide and `round(W / ar)` high, else
    `H` high and `round(H * ar)` wide. Placement goes through `RandomPatch` (prob 1,
    `can_fail=False`) with the given filter and validator.

    Args:
        patch_aspect_ratio: width/height ratio of the patch.
        box_filter: optional `BoxFilter`.
        image_validator: optional `ImageValidator`.
        n_trials_max: number of positions tried.
        clip_boxes: clip boxes to the patch.
        labels_format: column of each box coordinate; `None` means the default layout.
    """

    def __init__(
        self,
        patch_aspect_ratio: float,
        box_filter: BoxFilter | None = None,
        image_validator: ImageValidator | None = None,
        n_trials_max: int = 3,
        clip_boxes: bool = True,
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if not patch_aspect_ratio > 0:
            raise ValueError(f"`patch_aspect_ratio` must be > 0, got {patch_aspect_ratio!r}.")
        self.patch_aspect_ratio = patch_aspect_ratio
        self.box_filter = box_filter
        self.image_validator = image_validator
        self.n_trials_max = n_trials_max
        self.clip_boxes = clip_boxes
        self.labels_format = resolve_labels_format(labels_format)
        self.random_patch = RandomPatch(
            patch_coord_generator=PatchCoordinateGenerator(),
            box_filter=box_filter,
            image_validator=image_validator,
            n_trials_max=n_trials_max,
            clip_boxes=clip_boxes,
            prob=1.0,
            can_fail=False,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Crops; returns `image` [, `labels`] [, `inverter`]."""
        img_height, img_width = image.shape[:2]
        if img_width / img_height < self.patch_aspect_ratio:
            patch_width = img_width
            patch_height = int(np.round(patch_width / self.patch_aspect_ratio))
        else:
            patch_height = img_height
            patch_width = int(np.round(patch_height * self.patch_aspect_ratio))
        self.random_patch.patch_coord_generator = _fixed_patch_generator(
            image, patch_height, patch_width
        )
        self.random_patch.labels_format = self.labels_format
        return self.random_patch(image, labels, return_inverter)


class RandomPadFixedAR:
    """Pads the image to aspect ratio `patch_aspect_ratio` at a random position.

    As the original, the side that is kept is chosen by `W < H` (not by comparing aspect
    ratios): for `W < H` the patch is `H` high and `round(H * ar)` wide, else `W` wide and
    `round(W / ar)` high. For `ar == 1` this always pads; for other ratios it can crop, in
    which case a `UserWarning` is issued (docs/differences.md#random-pad-fixed-ar).

    Args:
        patch_aspect_ratio: width/height ratio of the output.
        background: fill value per channel.
        labels_format: column of each box coordinate; `None` means the default layout.
    """

    def __init__(
        self,
        patch_aspect_ratio: float,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if not patch_aspect_ratio > 0:
            raise ValueError(f"`patch_aspect_ratio` must be > 0, got {patch_aspect_ratio!r}.")
        self.patch_aspect_ratio = patch_aspect_ratio
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self.random_patch = RandomPatch(
            patch_coord_generator=PatchCoordinateGenerator(),
            box_filter=None,
            image_validator=None,
            n_trials_max=1,
            clip_boxes=False,
            background=background,
            prob=1.0,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Pads; returns `image` [, `labels`] [, `inverter`]."""
        img_height, img_width = image.shape[:2]
        if img_width < img_height:
            patch_height = img_height
            patch_width = int(np.round(patch_height * self.patch_aspect_ratio))
        else:
            patch_width = img_width
            patch_height = int(np.round(patch_width / self.patch_aspect_ratio))
        if patch_height < img_height or patch_width < img_width:
            warnings.warn(
                f"RandomPadFixedAR(patch_aspect_ratio={self.patch_aspect_ratio}) crops the "
                f"{img_height}x{img_width} image to {patch_height}x{patch_width} (the side is "
                "chosen by W < H, as in the original).",
                UserWarning,
                stacklevel=2,
            )
        self.random_patch.patch_coord_generator = _fixed_patch_generator(
            image, patch_height, patch_width
        )
        self.random_patch.labels_format = self.labels_format
        return self.random_patch(image, labels, return_inverter)
