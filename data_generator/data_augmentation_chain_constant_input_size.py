"""Augmentation chain for datasets whose images already have the model's input size.

Colour distortions followed by a random shift, a random zoom and a random horizontal flip; the
image size never changes. Boxes are rows of a `(k, n)` labels array in absolute pixel
`corners` coordinates located by `labels_format`; all randomness comes from the global numpy
RNG.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from data_generator._chain_utils import (
    PhotometricStages,
    build_component,
    run_sequence,
    share_labels_format,
)
from data_generator._op_utils import choice, resolve_labels_format
from data_generator.object_detection_2d_geometric_ops import (
    RandomFlip,
    RandomScale,
    RandomTranslate,
)
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoxFilter,
    ImageValidator,
)


class DataAugmentationConstantInputSize(PhotometricStages):
    """Photometric distortions, random translation, random zoom and a random horizontal flip.

    With probability 1/2 (`np.random.choice(2)`) the chain is `sequence1`: brightness,
    contrast, saturation, hue, translate, zoom in (factor in `[1, random_scale[1]]`), flip;
    otherwise `sequence2`: brightness, saturation, hue, contrast, zoom out (factor in
    `[random_scale[0], 1]`), translate, flip. Shifted or zoomed boxes go through a
    `BoxFilter` (all checks, `overlap_criterion`, `bounds_box_filter`, minimum area 16)
    and a shift or zoom is only accepted if an `ImageValidator` (`overlap_criterion`,
    `bounds_validator`, `n_boxes_min`) accepts it within `n_trials_max` draws.

    Args:
        random_brightness: `(lower, upper, prob)` of the brightness delta.
        random_contrast: `(lower, upper, prob)` of the contrast factor.
        random_saturation: `(lower, upper, prob)` of the saturation factor.
        random_hue: `(max_delta, prob)` of the hue shift.
        random_flip: probability of a horizontal flip.
        random_translate: `((dy_min, dy_max), (dx_min, dx_max), prob)`, fractions of the size.
        random_scale: `(min_factor, max_factor, prob)` with `min_factor < 1 < max_factor`.
        n_trials_max: draws of a shift or zoom before giving up.
        clip_boxes: clip boxes to the image after shifting or zooming.
        overlap_criterion: `'area'`, `'iou'` or `'center_point'` for filter and validator.
        bounds_box_filter: `(lower, upper)` overlap bounds of the box filter.
        bounds_validator: `(lower, upper)` overlap bounds of the image validator.
        n_boxes_min: boxes that must meet `bounds_validator` (int or `'all'`).
        background: fill value per channel for uncovered borders.
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.

    Call arguments:
        image: `(H, W[, C])` RGB array.
        labels: optional `(k, n)` array.

    Returns:
        `image` (`uint8`, `(H, W, 3)`) or `(image, labels)`.

    Raises:
        ValueError: unless `random_scale[0] < 1 < random_scale[1]`, or if any tuple is invalid
            for its transformation (the message names the argument).
    """

    def __init__(
        self,
        random_brightness: Sequence[float] = (-48, 48, 0.5),
        random_contrast: Sequence[float] = (0.5, 1.8, 0.5),
        random_saturation: Sequence[float] = (0.5, 1.8, 0.5),
        random_hue: Sequence[float] = (18, 0.5),
        random_flip: float = 0.5,
        random_translate: Sequence[Any] = ((0.03, 0.5), (0.03, 0.5), 0.5),
        random_scale: Sequence[float] = (0.5, 2.0, 0.5),
        n_trials_max: int = 3,
        clip_boxes: bool = True,
        overlap_criterion: str = "area",
        bounds_box_filter: Sequence[float] = (0.3, 1.0),
        bounds_validator: Sequence[float] = (0.5, 1.0),
        n_boxes_min: int | str = 1,
        background: Sequence[float] = (0, 0, 0),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        if len(random_scale) != 3 or random_scale[0] >= 1 or random_scale[1] <= 1:
            raise ValueError(
                "`random_scale` must be (min_factor, max_factor, prob) with "
                f"min_factor < 1 < max_factor, got {random_scale!r}."
            )
        self.n_trials_max = n_trials_max
        self.clip_boxes = clip_boxes
        self.overlap_criterion = overlap_criterion
        self.bounds_box_filter = bounds_box_filter
        self.bounds_validator = bounds_validator
        self.n_boxes_min = n_boxes_min
        self.background = background
        self.labels_format = resolve_labels_format(labels_format)
        self.box_filter = BoxFilter(
            check_overlap=True,
            check_min_area=True,
            check_degenerate=True,
            overlap_criterion=overlap_criterion,
            overlap_bounds=bounds_box_filter,
            min_area=16,
            labels_format=self.labels_format,
        )
        self.image_validator = ImageValidator(
            overlap_criterion=overlap_criterion,
            bounds=bounds_validator,
            n_boxes_min=n_boxes_min,
            labels_format=self.labels_format,
        )
        self._init_photometric(random_brightness, random_contrast, random_saturation, random_hue)
        self.random_flip = build_component(
            "random_flip",
            (random_flip,),
            lambda prob: RandomFlip("horizontal", prob, self.labels_format),
        )
        geometric = {
            "clip_boxes": clip_boxes,
            "box_filter": self.box_filter,
            "image_validator": self.image_validator,
            "n_trials_max": n_trials_max,
            "background": background,
            "labels_format": self.labels_format,
        }

        def translate(dy_minmax, dx_minmax, prob):
            return RandomTranslate(dy_minmax=dy_minmax, dx_minmax=dx_minmax, prob=prob, **geometric)

        def zoom(min_factor, max_factor, prob):
            return RandomScale(min_factor=min_factor, max_factor=max_factor, prob=prob, **geometric)

        self.random_translate = build_component("random_translate", random_translate, translate)
        self.random_zoom_in = build_component(
            "random_scale", (1.0, random_scale[1], random_scale[2]), zoom
        )
        self.random_zoom_out = build_component(
            "random_scale", (random_scale[0], 1.0, random_scale[2]), zoom
        )
        self.sequence1 = [
            *self.photometric_sequence(contrast_first=True),
            self.random_translate,
            self.random_zoom_in,
            self.random_flip,
        ]
        self.sequence2 = [
            *self.photometric_sequence(contrast_first=False),
            self.random_zoom_out,
            self.random_translate,
            self.random_flip,
        ]

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Augments; returns `image` or `(image, labels)`."""
        share_labels_format(self.labels_format, self.sequence1, self.sequence2)
        sequence = self.sequence1 if choice(2) else self.sequence2
        return run_sequence(sequence, image, labels)
