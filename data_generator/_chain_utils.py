"""Building blocks shared by the data augmentation chains."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from data_generator._op_utils import ComposedInverter, pack
from data_generator.object_detection_2d_geometric_ops import RandomFlip, Resize
from data_generator.object_detection_2d_image_boxes_validation_utils import (
    BoxFilter,
    ImageValidator,
)
from data_generator.object_detection_2d_patch_sampling_ops import (
    PatchCoordinateGenerator,
    RandomPatch,
)
from data_generator.object_detection_2d_photometric_ops import (
    Brightness,
    Contrast,
    ConvertColor,
    ConvertDataType,
    ConvertTo3Channels,
    Gamma,
    Hue,
    RandomBrightness,
    RandomContrast,
    RandomGamma,
    RandomHue,
    RandomSaturation,
    Saturation,
)

# Photometric ops whose output pixel depends only on the same pixel's value in the same channel.
_POINTWISE_OPS = (
    Brightness,
    Contrast,
    Saturation,
    Hue,
    Gamma,
    RandomBrightness,
    RandomContrast,
    RandomSaturation,
    RandomHue,
    RandomGamma,
)
_LUT_SIZE = 256


def build_component(name: str, value: Any, factory: Callable[..., Any]) -> Any:
    """`factory(*value)`; a bad `value` raises a ValueError naming the chain argument."""
    try:
        return factory(*value)
    except (ValueError, TypeError, IndexError) as error:
        raise ValueError(f"Invalid `{name}`={value!r}: {error}") from error


class PhotometricStages:
    """The colour distortion stages shared by the chains (same attribute names as the original).

    `photometric_sequence(contrast_first)` returns the original's order of operations: 3
    channels, float32, brightness, [contrast], uint8, RGB->HSV, float32, saturation, hue, uint8,
    HSV->RGB, [float32, contrast, uint8].
    """

    def _init_photometric(
        self,
        random_brightness: Sequence[float],
        random_contrast: Sequence[float],
        random_saturation: Sequence[float],
        random_hue: Sequence[float],
    ) -> None:
        self.convert_RGB_to_HSV = ConvertColor(current="RGB", to="HSV")
        self.convert_HSV_to_RGB = ConvertColor(current="HSV", to="RGB")
        self.convert_to_float32 = ConvertDataType(to="float32")
        self.convert_to_uint8 = ConvertDataType(to="uint8")
        self.convert_to_3_channels = ConvertTo3Channels()
        self.random_brightness = build_component(
            "random_brightness", random_brightness, RandomBrightness
        )
        self.random_contrast = build_component("random_contrast", random_contrast, RandomContrast)
        self.random_saturation = build_component(
            "random_saturation", random_saturation, RandomSaturation
        )
        self.random_hue = build_component("random_hue", random_hue, RandomHue)

    def photometric_sequence(self, contrast_first: bool) -> list[Callable]:
        """The photometric stages, with contrast before or after the HSV stages."""
        head = [self.convert_to_3_channels, self.convert_to_float32, self.random_brightness]
        hsv = [
            self.convert_to_uint8,
            self.convert_RGB_to_HSV,
            self.convert_to_float32,
            self.random_saturation,
            self.random_hue,
            self.convert_to_uint8,
            self.convert_HSV_to_RGB,
        ]
        if contrast_first:
            return [*head, self.random_contrast, *hsv]
        return [
            *head,
            *hsv,
            self.convert_to_float32,
            self.random_contrast,
            self.convert_to_uint8,
        ]


def _is_conversion(transform: Callable, target: str) -> bool:
    return isinstance(transform, ConvertDataType) and transform.to == target


def _pointwise_segment_end(transforms: Sequence[Callable], start: int) -> int | None:
    """End (exclusive) of a `float32 -> pointwise ops -> uint8` segment starting at `start`."""
    if not _is_conversion(transforms[start], "float32"):
        return None
    for index in range(start + 1, len(transforms)):
        if _is_conversion(transforms[index], "uint8"):
            return index + 1
        if not isinstance(transforms[index], _POINTWISE_OPS):
            return None
    return None


def _apply_as_lookup_table(segment: Sequence[Callable], image: np.ndarray) -> np.ndarray:
    """Runs `segment` on a `uint8` image through a per-channel look-up table.

    Every stage of the segment maps each value of each channel independently, so running the
    stages (with their random draws, in the same order) on a ramp of the 256 possible values gives
    the exact per-channel table of the whole segment. A segment in which no stage changed a
    value (every random op skipped) only copies the image.
    """
    n_channels = image.shape[2]
    identity = np.repeat(np.arange(_LUT_SIZE, dtype=np.uint8)[None, :, None], n_channels, axis=2)
    ramp = identity
    for stage in segment:
        ramp = stage(ramp)
    if np.array_equal(ramp, identity):
        return image.copy()
    if n_channels > 1 and np.all(ramp == ramp[:, :, :1]):
        # One table for every channel: OpenCV's single-table path is several times faster.
        return cv2.LUT(image, np.ascontiguousarray(ramp[:, :, 0]))
    # OpenCV drops a channel axis of size 1; keep the image's shape.
    return cv2.LUT(image, ramp).reshape(image.shape)


def _lookup_table_applies(image: np.ndarray) -> bool:
    return image.dtype == np.uint8 and image.ndim == 3 and 1 <= image.shape[2] <= 4


def share_labels_format(labels_format: Mapping[str, int], *sequences: Sequence[Any]) -> None:
    """Gives every stage of `sequences` that reads labels the chain's `labels_format`.

    Chains read their `labels_format` attribute at call time, so a user may reassign it after
    construction; this passes the current value on to the stages that move boxes.
    """
    for sequence in sequences:
        for stage in sequence:
            if hasattr(stage, "labels_format"):
                stage.labels_format = labels_format


def run_sequence(
    transforms: Sequence[Callable], image: np.ndarray, labels: np.ndarray | None
) -> Any:
    """Applies `transforms` in order; returns `image` or `(image, labels)`.

    A run `ConvertDataType('float32')`, pointwise photometric ops, `ConvertDataType('uint8')`
    applied to a `uint8` image is computed through a look-up table, with the same random draws
    and bit-identical results, several times faster than converting the whole image to float.
    """
    with_labels = labels is not None
    index = 0
    while index < len(transforms):
        end = _pointwise_segment_end(transforms, index)
        if end is not None and _lookup_table_applies(image):
            image = _apply_as_lookup_table(transforms[index:end], image)
            index = end
            continue
        if with_labels:
            image, labels = transforms[index](image, labels)
        else:
            image = transforms[index](image)
        index += 1
    return (image, labels) if with_labels else image


def _accepts_inverter(transform: Callable) -> bool:
    return "return_inverter" in inspect.signature(transform).parameters


def run_sequence_with_inverter(
    transforms: Sequence[Callable], image: np.ndarray, labels: np.ndarray | None
) -> Any:
    """Like `run_sequence` but also returns one `ComposedInverter` of the whole sequence.

    Only transformations that accept `return_inverter` contribute; their inverters are
    applied in reverse order.
    """
    inverters = []
    with_labels = labels is not None
    for transform in transforms:
        args = (image, labels) if with_labels else (image,)
        if _accepts_inverter(transform):
            *outputs, inverter = transform(*args, return_inverter=True)
            inverters.append(inverter)
        else:
            outputs = transform(*args)
            outputs = outputs if with_labels else (outputs,)
        image, labels = (outputs[0], outputs[1]) if with_labels else (outputs[0], None)
    return pack(image, labels, ComposedInverter(inverters[::-1]), True, with_labels)


class PatchResizeStages(PhotometricStages):
    """Shared parts of the variable-input-size chains: patch sampling, filters and resizing.

    Sets `box_filter_patch` (overlap only), `box_filter_resize` (minimum area 16 and
    degeneracy), `image_validator`, `patch_coord_generator` (`'w_ar'`), `random_patch`
    (probability 1, never fails) and `resize`.
    """

    def _init_patch_resize(
        self,
        resize_height: int,
        resize_width: int,
        scales: tuple[float, float],
        aspect_ratios: tuple[float, float],
    ) -> None:
        self.box_filter_patch = BoxFilter(
            check_overlap=True,
            check_min_area=False,
            check_degenerate=False,
            overlap_criterion=self.overlap_criterion,
            overlap_bounds=self.bounds_box_filter,
            labels_format=self.labels_format,
        )
        self.box_filter_resize = BoxFilter(
            check_overlap=False,
            check_min_area=True,
            check_degenerate=True,
            min_area=16,
            labels_format=self.labels_format,
        )
        self.image_validator = ImageValidator(
            overlap_criterion=self.overlap_criterion,
            bounds=self.bounds_validator,
            n_boxes_min=self.n_boxes_min,
            labels_format=self.labels_format,
        )
        self.resize = build_component(
            "resize_height, resize_width",
            (resize_height, resize_width),
            lambda height, width: Resize(
                height=height,
                width=width,
                box_filter=self.box_filter_resize,
                labels_format=self.labels_format,
            ),
        )
        self.patch_coord_generator = PatchCoordinateGenerator(
            must_match="w_ar",
            min_scale=scales[0],
            max_scale=scales[1],
            scale_uniformly=False,
            min_aspect_ratio=aspect_ratios[0],
            max_aspect_ratio=aspect_ratios[1],
        )
        self.random_patch = RandomPatch(
            patch_coord_generator=self.patch_coord_generator,
            box_filter=self.box_filter_patch,
            image_validator=self.image_validator,
            n_trials_max=self.n_trials_max,
            clip_boxes=self.clip_boxes,
            prob=1.0,
            can_fail=False,
            labels_format=self.labels_format,
        )

    def _random_flip(self, name: str, prob: float, dim: str) -> RandomFlip:
        return build_component(
            name, (prob,), lambda p: RandomFlip(dim=dim, prob=p, labels_format=self.labels_format)
        )
