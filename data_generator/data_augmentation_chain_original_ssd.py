"""The data augmentation pipeline of the original SSD paper (Liu et al., 2016).

Photometric distortions, a random zoom-out ("expand"), the SSD random crop that keeps enough of
at least one box, a random horizontal flip and a resize to the model's input size with a random
interpolation mode. Boxes are rows of a `(k, n)` labels array in absolute pixel `corners`
coordinates located by `labels_format`; all randomness comes from the global numpy RNG.

Reference:
    W. Liu et al., "SSD: Single Shot MultiBox Detector", ECCV 2016, section 2.2 "Data
    augmentation".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from data_generator._chain_utils import (
    PhotometricStages,
    run_sequence,
    run_sequence_with_inverter,
    share_labels_format,
)
from data_generator._op_utils import choice, resolve_labels_format
from data_generator.object_detection_2d_geometric_ops import RandomFlip, ResizeRandomInterp
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoundGenerator,
    BoxFilter,
    ImageValidator,
)
from data_generator.object_detection_2d_patch_sampling_ops import (
    PatchCoordinateGenerator,
    RandomPatch,
    RandomPatchInf,
)
from data_generator.object_detection_2d_photometric_ops import RandomChannelSwap


class SSDRandomCrop:
    """The SSD random crop: a `RandomPatchInf` over patches of 0.3-1.0 of each side.

    Each round (probability 0.857) draws a minimum IoU from {none, 0.1, 0.3, 0.5, 0.7, 0.9}
    and tries up to 50 patches with aspect ratio in [0.5, 2] until at least one box reaches it;
    boxes whose centre leaves the patch are dropped, the rest are clipped.

    Args:
        labels_format: column of each box coordinate; `None` means
            `{'class_id': 0, 'xmin': 1, 'ymin': 2, 'xmax': 3, 'ymax': 4}`.

    Call arguments:
        image: `(H, W[, C])` array.
        labels: optional `(k, n)` array.
        return_inverter: also return the inverter (patch coordinates to image coordinates).
    """

    def __init__(self, labels_format: Mapping[str, int] | None = None) -> None:
        self.labels_format = resolve_labels_format(labels_format)
        self.bound_generator = BoundGenerator(
            sample_space=(
                (None, None),
                (0.1, None),
                (0.3, None),
                (0.5, None),
                (0.7, None),
                (0.9, None),
            ),
            weights=None,
        )
        self.patch_coord_generator = PatchCoordinateGenerator(
            must_match="h_w",
            min_scale=0.3,
            max_scale=1.0,
            scale_uniformly=False,
            min_aspect_ratio=0.5,
            max_aspect_ratio=2.0,
        )
        self.box_filter = BoxFilter(
            check_overlap=True,
            check_min_area=False,
            check_degenerate=False,
            overlap_criterion="center_point",
            labels_format=self.labels_format,
        )
        self.image_validator = ImageValidator(
            overlap_criterion="iou",
            n_boxes_min=1,
            labels_format=self.labels_format,
            border_pixels="half",
        )
        self.random_crop = RandomPatchInf(
            patch_coord_generator=self.patch_coord_generator,
            box_filter=self.box_filter,
            image_validator=self.image_validator,
            bound_generator=self.bound_generator,
            n_trials_max=50,
            clip_boxes=True,
            prob=0.857,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Crops; returns `image` [, `labels`] [, `inverter`]."""
        self.random_crop.labels_format = self.labels_format
        return self.random_crop(image, labels, return_inverter)


class SSDExpand:
    """The SSD zoom-out: with probability 0.5 place the image on a canvas 1-4 times its size.

    Args:
        background: fill value per channel of the canvas (the ImageNet mean by default).
        labels_format: column of each box coordinate; `None` means the default layout.

    Call arguments:
        image: `(H, W[, C])` array.
        labels: optional `(k, n)` array.
        return_inverter: also return the inverter.
    """

    def __init__(
        self,
        background: Sequence[float] = (123, 117, 104),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.labels_format = resolve_labels_format(labels_format)
        self.patch_coord_generator = PatchCoordinateGenerator(
            must_match="h_w", min_scale=1.0, max_scale=4.0, scale_uniformly=True
        )
        self.expand = RandomPatch(
            patch_coord_generator=self.patch_coord_generator,
            box_filter=None,
            image_validator=None,
            n_trials_max=1,
            clip_boxes=False,
            prob=0.5,
            background=background,
            labels_format=self.labels_format,
        )

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Expands; returns `image` [, `labels`] [, `inverter`]."""
        self.expand.labels_format = self.labels_format
        return self.expand(image, labels, return_inverter)


class SSDPhotometricDistortions(PhotometricStages):
    """The SSD colour distortions, each applied with probability 0.5.

    Brightness delta in [-32, 32], contrast and saturation factors in [0.5, 1.5], hue shift up
    to 18; with probability 1/2 (`np.random.choice(2)`) contrast comes before the HSV stages
    (`sequence1`), else after them (`sequence2`). A channel swap stage is present with
    probability 0, as in the original.

    Call arguments:
        image: `(H, W[, C])` RGB array; the output is a `(H, W, 3)` `uint8` image.
        labels: optional `(k, n)` array, passed through.
    """

    def __init__(self) -> None:
        self._init_photometric((-32, 32, 0.5), (0.5, 1.5, 0.5), (0.5, 1.5, 0.5), (18, 0.5))
        self.random_channel_swap = RandomChannelSwap(prob=0.0)
        self.sequence1 = [*self.photometric_sequence(True), self.random_channel_swap]
        self.sequence2 = [*self.photometric_sequence(False), self.random_channel_swap]

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Distorts; returns `image` or `(image, labels)`."""
        sequence = self.sequence1 if choice(2) else self.sequence2
        return run_sequence(sequence, image, labels)


class SSDDataAugmentation:
    """The full SSD training augmentation, ending in an `img_height x img_width` image.

    Photometric distortions, `SSDExpand`, `SSDRandomCrop`, a horizontal flip with
    probability 0.5 and `ResizeRandomInterp` (nearest, linear, cubic, area or Lanczos),
    after which degenerate boxes are removed.

    Args:
        img_height: output height in pixels.
        img_width: output width in pixels.
        background: fill value per channel for the expand canvas.
        labels_format: column of each box coordinate; `None` means the default layout.

    Call arguments:
        image: `(H, W[, C])` RGB array.
        labels: optional `(k, n)` array.
        return_inverter: also return one inverter for the whole chain (the original returned a
            list of inverters here, which `apply_inverse_transforms` could not call).

    Returns:
        `image` [, `labels`] [, `inverter`]; the image is `uint8`
        `(img_height, img_width, 3)`.
    """

    def __init__(
        self,
        img_height: int = 300,
        img_width: int = 300,
        background: Sequence[float] = (123, 117, 104),
        labels_format: Mapping[str, int] | None = None,
    ) -> None:
        self.labels_format = resolve_labels_format(labels_format)
        self.photometric_distortions = SSDPhotometricDistortions()
        self.expand = SSDExpand(background=background, labels_format=self.labels_format)
        self.random_crop = SSDRandomCrop(labels_format=self.labels_format)
        self.random_flip = RandomFlip(dim="horizontal", prob=0.5, labels_format=self.labels_format)
        self.box_filter = BoxFilter(
            check_overlap=False,
            check_min_area=False,
            check_degenerate=True,
            labels_format=self.labels_format,
        )
        self.resize = ResizeRandomInterp(
            height=img_height,
            width=img_width,
            interpolation_modes=[
                cv2.INTER_NEAREST,
                cv2.INTER_LINEAR,
                cv2.INTER_CUBIC,
                cv2.INTER_AREA,
                cv2.INTER_LANCZOS4,
            ],
            box_filter=self.box_filter,
            labels_format=self.labels_format,
        )
        self.sequence = [
            self.photometric_distortions,
            self.expand,
            self.random_crop,
            self.random_flip,
            self.resize,
        ]

    def __call__(
        self, image: np.ndarray, labels: np.ndarray | None = None, return_inverter: bool = False
    ) -> Any:
        """Augments; returns `image` [, `labels`] [, `inverter`]."""
        share_labels_format(self.labels_format, self.sequence)
        if return_inverter:
            return run_sequence_with_inverter(self.sequence, image, labels)
        return run_sequence(self.sequence, image, labels)
