"""Augmentation chain for datasets with images of varying sizes.

Colour distortions, a random patch (crop or pad) with a random width and aspect ratio, a random
horizontal flip and a resize to a fixed output size. Boxes are rows of a `(k, n)` labels array
in absolute pixel `corners` coordinates located by `labels_format`; all randomness comes from
the global numpy RNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_generator._chain_utils import PatchResizeStages, run_sequence, share_labels_format
from data_generator._op_utils import resolve_labels_format


class DataAugmentationVariableInputSize(PatchResizeStages):
    """Photometric distortions, a random patch, a random horizontal flip and a resize.

    The patch width is `U(min_scale, max_scale)` times the image width and its height follows
    from an aspect ratio `U(min_aspect_ratio, max_aspect_ratio)`; up to `n_trials_max`
    patches are drawn until an `ImageValidator` (`overlap_criterion`, `bounds_validator`,
    `n_boxes_min`) accepts one (else the image is kept whole). Boxes of the patch are filtered
    by overlap (`bounds_box_filter`) and clipped; after resizing, boxes smaller than 16 square
    pixels or degenerate are removed.

    Args:
        resize_height: output height in pixels.
        resize_width: output width in pixels.
        random_brightness: `(lower, upper, prob)` of the brightness delta.
        random_contrast: `(lower, upper, prob)` of the contrast factor.
        random_saturation: `(lower, upper, prob)` of the saturation factor.
        random_hue: `(max_delta, prob)` of the hue shift.
        random_flip: probability of a horizontal flip.
        min_scale: smallest patch width as a fraction of the image width.
        max_scale: largest patch width as a fraction of the image width.
        min_aspect_ratio: smallest patch width/height ratio.
        max_aspect_ratio: largest patch width/height ratio.
        n_trials_max: patches drawn before keeping the whole image.
        clip_boxes: clip boxes to the patch.
        overlap_criterion: `'area'`, `'iou'` or `'center_point'`.
        bounds_box_filter: `(lower, upper)` overlap bounds of the patch box filter.
        bounds_validator: `(lower, upper)` overlap bounds of the image validator.
        n_boxes_min: boxes that must meet `bounds_validator` (int or `'all'`).
        background: stored for compatibility; unused (patches are filled with black, see
            docs/differences.md#chain-background-unused).
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.

    Call arguments:
        image: `(H, W[, C])` RGB array.
        labels: optional `(k, n)` array.

    Returns:
        `image` (`uint8`, `(resize_height, resize_width, 3)`) or `(image, labels)`.

    Raises:
        ValueError: on invalid arguments (the message names the argument).
    """

    def __init__(
        self,
        resize_height: int,
        resize_width: int,
        random_brightness: Sequence[float] = (-48, 48, 0.5),
        random_contrast: Sequence[float] = (0.5, 1.8, 0.5),
        random_saturation: Sequence[float] = (0.5, 1.8, 0.5),
        random_hue: Sequence[float] = (18, 0.5),
        random_flip: float = 0.5,
        min_scale: float = 0.3,
        max_scale: float = 2.0,
        min_aspect_ratio: float = 0.5,
        max_aspect_ratio: float = 2.0,
        n_trials_max: int = 3,
        clip_boxes: bool = True,
        overlap_criterion: str = "area",
        bounds_box_filter: Sequence[float] = (0.3, 1.0),
        bounds_validator: Sequence[float] = (0.5, 1.0),
        n_boxes_min: int | str = 1,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.n_trials_max = n_trials_max
        self.clip_boxes = clip_boxes
        self.overlap_criterion = overlap_criterion
        self.bounds_box_filter = bounds_box_filter
        self.bounds_validator = bounds_validator
        self.n_boxes_min = n_boxes_min
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self._init_patch_resize(
            resize_height,
            resize_width,
            (min_scale, max_scale),
            (min_aspect_ratio, max_aspect_ratio),
        )
        self._init_photometric(random_brightness, random_contrast, random_saturation, random_hue)
        self.random_flip = self._random_flip("random_flip", random_flip, "horizontal")
        self.transformations = [
            *self.photometric_sequence(contrast_first=True),
            self.random_patch,
            self.random_flip,
            self.resize,
        ]

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Augments; returns `image` or `(image, labels)`."""
        share_labels_format(self.labels_format, self.transformations)
        return run_sequence(self.transformations, image, labels)
