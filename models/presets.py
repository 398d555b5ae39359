"""Ready-made model configurations: the SSD7 road-traffic tutorial and SSD300/SSD512 on VOC/COCO.

Each `ModelPreset` holds everything the model builder and `SSDInputEncoder` need, written
once: the input size, the class count, the anchor arguments (shared by the model and the
encoder), the other builder arguments (regularisation and input pre-processing) and the
encoder's matching thresholds. The values are those of the original SSD papers' models and of
the tutorials:

* `SSD7_ROAD_TRAFFIC`: the SSD7 training tutorial (300x480 images, 5 road-traffic classes);
* `SSD300_VOC`, `SSD300_COCO`: SSD300 for Pascal VOC (20 classes) and MS COCO (80 classes);
* `SSD512_VOC`, `SSD512_COCO`: SSD512 likewise.

Example:
    >>> from models.presets import SSD7_ROAD_TRAFFIC
    >>> model = SSD7_ROAD_TRAFFIC.build_model()
    >>> encoder = SSD7_ROAD_TRAFFIC.input_encoder(model)
    >>> encoder.predictor_sizes.tolist()
    [[37, 60], [18, 30], [9, 15], [4, 7]]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

BUILDERS = ("ssd7", "ssd300", "ssd512")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    """A read-only copy whose (nested) lists are tuples, so a preset cannot be changed."""

    def freeze(value: Any) -> Any:
        return tuple(freeze(v) for v in value) if isinstance(value, (list, tuple)) else value

    return MappingProxyType({key: freeze(value) for key, value in mapping.items()})


@dataclass(frozen=True)
class ModelPreset:
    """One model configuration, shared by the model builder and the input encoder.

    Attributes:
        name: Short name, e.g. `'ssd300_voc'`.
        builder: `'ssd7'` (`models.keras_ssd7.build_model`), `'ssd300'` (`ssd_300`) or
            `'ssd512'` (`ssd_512`).
        image_size: `(height, width, channels)` of the model input, in pixels.
        n_classes: Number of positive classes.
        anchor_kwargs: The anchor arguments of the builder and of `SSDInputEncoder`
            (`scales`, aspect ratios, `two_boxes_for_ar1`, `steps`, `offsets`, `clip_boxes`,
            `variances`, `coords`, `normalize_coords`).
        model_kwargs: The builder's other arguments (`l2_regularization`, `subtract_mean`,
            `divide_by_stddev`, `swap_channels`).
        matching_kwargs: The encoder's matching arguments (`pos_iou_threshold`,
            `neg_iou_limit`).
    """

    name: str
    builder: str
    image_size: tuple
    n_classes: int
    anchor_kwargs: Mapping[str, Any]
    model_kwargs: Mapping[str, Any]
    matching_kwargs: Mapping[str, Any]

    @property
    def img_height(self) -> int:
        """Model input height in pixels."""
        return int(self.image_size[0])

    @property
    def img_width(self) -> int:
        """Model input width in pixels."""
        return int(self.image_size[1])

    def builder_arguments(self, **overrides: Any) -> dict:
        """Keyword arguments of the builder: `image_size`, `n_classes`, anchors, the rest.

        Args:
            **overrides: Builder arguments replacing the preset's (e.g. `n_classes`, `mode`).

        Returns:
            A new dict.
        """
        arguments = {"image_size": tuple(self.image_size), "n_classes": self.n_classes}
        arguments.update(_copied(self.anchor_kwargs))
        arguments.update(_copied(self.model_kwargs))
        arguments.update(overrides)
        return arguments

    def encoder_arguments(self, **overrides: Any) -> dict:
        """Keyword arguments of `SSDInputEncoder` except `predictor_sizes`.

        Prefer `input_encoder(model)`, which reads the anchors from the built model.

        Args:
            **overrides: Encoder arguments replacing the preset's.

        Returns:
            A new dict with `img_height`, `img_width`, `n_classes`, the anchor and the
            matching arguments.
        """
        arguments = {
            "img_height": self.img_height,
            "img_width": self.img_width,
            "n_classes": self.n_classes,
        }
        arguments.update(_copied(self.anchor_kwargs))
        arguments.update(_copied(self.matching_kwargs))
        arguments.update(overrides)
        return arguments

    def build_model(self, mode: str = "training", **overrides: Any) -> Any:
        """Builds the model with the preset's arguments.

        Args:
            mode: `'training'`, `'inference'` or `'inference_fast'`.
            **overrides: Builder arguments replacing the preset's (e.g. `n_classes=3`,
                `image_size=(240, 320, 3)`, `confidence_thresh=0.5`).

        Returns:
            The Keras model (or `(model, predictor_sizes)` with `return_predictor_sizes=True`).
        """
        if self.builder == "ssd7":
            from models.keras_ssd7 import build_model as builder
        elif self.builder == "ssd300":
            from models.keras_ssd300 import ssd_300 as builder
        else:
            from models.keras_ssd512 import ssd_512 as builder
        return builder(**self.builder_arguments(mode=mode, **overrides))

    def input_encoder(self, model: Any, **matching_overrides: Any) -> Any:
        """The `SSDInputEncoder` of `model`, with the preset's matching thresholds.

        The anchors, image size and class count are read from `model`
        (`SSDInputEncoder.from_model`), so they match it even after overrides.

        Args:
            model: A built SSD model (any mode).
            **matching_overrides: `matching_type`, `pos_iou_threshold`, `neg_iou_limit`,
                `border_pixels` or `background_id` replacing the preset's.

        Returns:
            The encoder.
        """
        from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

        return SSDInputEncoder.from_model(
            model, **{**_copied(self.matching_kwargs), **matching_overrides}
        )


def _copied(mapping: Mapping[str, Any]) -> dict:
    """A dict copy whose list values are new lists, so callers may change them freely."""
    return {
        key: [list(v) if isinstance(v, (list, tuple)) else v for v in value]
        if isinstance(value, (list, tuple))
        else value
        for key, value in mapping.items()
    }


_VGG_MODEL_KWARGS = _frozen(
    {"l2_regularization": 0.0005, "subtract_mean": [123, 117, 104], "swap_channels": [2, 1, 0]}
)
_VGG_MATCHING = _frozen({"pos_iou_threshold": 0.5, "neg_iou_limit": 0.5})
_RATIOS_3 = [1.0, 2.0, 0.5]
_RATIOS_5 = [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0]


def _vgg_anchors(scales: list[float], ratios: list[list[float]], steps: list[int]) -> Mapping:
    return _frozen(
        {
            "scales": scales,
            "aspect_ratios_per_layer": ratios,
            "two_boxes_for_ar1": True,
            "steps": steps,
            "offsets": [0.5] * len(steps),
            "clip_boxes": False,
            "variances": [0.1, 0.1, 0.2, 0.2],
            "coords": "centroids",
            "normalize_coords": True,
        }
    )


SSD7_ROAD_TRAFFIC = ModelPreset(
    name="ssd7_road_traffic",
    builder="ssd7",
    image_size=(300, 480, 3),
    n_classes=5,
    anchor_kwargs=_frozen(
        {
            "scales": [0.08, 0.16, 0.32, 0.64, 0.96],
            "aspect_ratios_global": [0.5, 1.0, 2.0],
            "two_boxes_for_ar1": True,
            "steps": None,
            "offsets": None,
            "clip_boxes": False,
            "variances": [1.0, 1.0, 1.0, 1.0],
            "coords": "centroids",
            "normalize_coords": True,
        }
    ),
    model_kwargs=_frozen(
        {"l2_regularization": 0.0005, "subtract_mean": 127.5, "divide_by_stddev": 127.5}
    ),
    matching_kwargs=_frozen({"pos_iou_threshold": 0.5, "neg_iou_limit": 0.3}),
)
"""SSD7 of the training tutorial: 300x480 road-traffic images, 5 classes."""

_SSD300_RATIOS = [_RATIOS_3, _RATIOS_5, _RATIOS_5, _RATIOS_5, _RATIOS_3, _RATIOS_3]
_SSD300_STEPS = [8, 16, 32, 64, 100, 300]

SSD300_VOC = ModelPreset(
    name="ssd300_voc",
    builder="ssd300",
    image_size=(300, 300, 3),
    n_classes=20,
    anchor_kwargs=_vgg_anchors(
        [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05], _SSD300_RATIOS, _SSD300_STEPS
    ),
    model_kwargs=_VGG_MODEL_KWARGS,
    matching_kwargs=_VGG_MATCHING,
)
"""SSD300 for Pascal VOC (20 classes)."""

SSD300_COCO = ModelPreset(
    name="ssd300_coco",
    builder="ssd300",
    image_size=(300, 300, 3),
    n_classes=80,
    anchor_kwargs=_vgg_anchors(
        [0.07, 0.15, 0.33, 0.51, 0.69, 0.87, 1.05], _SSD300_RATIOS, _SSD300_STEPS
    ),
    model_kwargs=_VGG_MODEL_KWARGS,
    matching_kwargs=_VGG_MATCHING,
)
"""SSD300 for MS COCO (80 classes)."""

_SSD512_RATIOS = [_RATIOS_3, _RATIOS_5, _RATIOS_5, _RATIOS_5, _RATIOS_5, _RATIOS_3, _RATIOS_3]
_SSD512_STEPS = [8, 16, 32, 64, 128, 256, 512]

SSD512_VOC = ModelPreset(
    name="ssd512_voc",
    builder="ssd512",
    image_size=(512, 512, 3),
    n_classes=20,
    anchor_kwargs=_vgg_anchors(
        [0.07, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05], _SSD512_RATIOS, _SSD512_STEPS
    ),
    model_kwargs=_VGG_MODEL_KWARGS,
    matching_kwargs=_VGG_MATCHING,
)
"""SSD512 for Pascal VOC (20 classes)."""

SSD512_COCO = ModelPreset(
    name="ssd512_coco",
    builder="ssd512",
    image_size=(512, 512, 3),
    n_classes=80,
    anchor_kwargs=_vgg_anchors(
        [0.04, 0.1, 0.26, 0.42, 0.58, 0.74, 0.9, 1.06], _SSD512_RATIOS, _SSD512_STEPS
    ),
    model_kwargs=_VGG_MODEL_KWARGS,
    matching_kwargs=_VGG_MATCHING,
)
"""SSD512 for MS COCO (80 classes)."""

PRESETS = MappingProxyType(
    {
        preset.name: preset
        for preset in (SSD7_ROAD_TRAFFIC, SSD300_VOC, SSD300_COCO, SSD512_VOC, SSD512_COCO)
    }
)
"""Every preset by name."""
