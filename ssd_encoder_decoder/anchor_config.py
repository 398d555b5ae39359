"""One anchor configuration for a whole SSD model: checked once, shared by model and encoder.

The three model builders, `SSDInputEncoder` and the `AnchorBoxes` layers all describe the same
anchors with the same ten arguments (`scales` or `min_scale`/`max_scale`, `aspect_ratios_global`
or `aspect_ratios_per_layer`, `two_boxes_for_ar1`, `steps`, `offsets`, `clip_boxes`,
`variances`, `coords`, `normalize_coords`). `AnchorConfig` is the single place where these are
checked and expanded into per-predictor-layer values:

* `AnchorConfig.from_arguments(...)` takes the builders' / encoder's arguments;
* `AnchorConfig.from_model(model)` reads them back from the `AnchorBoxes` layers of a built model,
  so that an encoder made with `SSDInputEncoder.from_model` can never disagree with the model;
* `config.layer_arguments(i)` gives the keyword arguments of the `i`-th `AnchorBoxes` layer;
* `config.encoder_arguments()` gives the anchor keyword arguments of `SSDInputEncoder`.

Box formats: `centroids` = (cx, cy, w, h), `corners` = (xmin, ymin, xmax, ymax), `minmax` =
(xmin, xmax, ymin, ymax). Scales are fractions of the shorter image side; steps are in pixels;
offsets are in units of a step.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ssd_encoder_decoder.anchor_boxes import BOX_FORMATS, boxes_per_cell, height_width_pair


def _plain(value: Any) -> Any:
    """None, a number or a (nested) sequence as None, a Python float or (nested) lists."""
    if value is None:
        return None
    if np.ndim(value) == 0:
        return float(value)
    return [_plain(item) for item in value]


def _shown(value: Any) -> Any:
    """`value` for an error message: arrays and nested sequences of numbers as plain lists."""
    try:
        return np.asarray(value).tolist()
    except (TypeError, ValueError):
        return value


def _given(value: Any) -> bool:
    """True unless `value` is None or an empty sequence (both mean "not given")."""
    return value is not None and len(value) > 0


def check_scales(scales: Any, min_scale: Any, max_scale: Any, n_layers: int) -> list[float]:
    """Checks the scale arguments and returns the `n_layers + 1` scales.

    Args:
        scales: None (or empty) to interpolate, else `n_layers + 1` positive numbers.
        min_scale: Smallest scale, used with `max_scale` when `scales` is not given.
        max_scale: Largest scale; the scales are `linspace(min_scale, max_scale, n_layers + 1)`.
        n_layers: Number of predictor layers.

    Returns:
        The scales as Python floats.

    Raises:
        ValueError: Naming the offending argument and its value.
    """
    if _given(scales):
        if len(scales) != n_layers + 1:
            raise ValueError(
                f"`scales` must have n_predictor_layers + 1 = {n_layers + 1} entries, "
                f"got {len(scales)}: {_shown(scales)!r}."
            )
        values = [float(s) for s in scales]
        if any(not s > 0 for s in values):
            raise ValueError(f"All values in `scales` must be > 0, got {values!r}.")
        return values
    if min_scale is None or max_scale is None:
        raise ValueError(
            "Either `scales` or both `min_scale` and `max_scale` must be given, got "
            f"min_scale={min_scale!r}, max_scale={max_scale!r}, scales={scales!r}."
        )
    if not 0 < min_scale <= max_scale:
        raise ValueError(
            "It must be 0 < `min_scale` <= `max_scale`, but min_scale = "
            f"{min_scale} and max_scale = {max_scale}."
        )
    return [float(s) for s in np.linspace(min_scale, max_scale, n_layers + 1)]


def check_aspect_ratios(
    aspect_ratios_global: Any, aspect_ratios_per_layer: Any, n_layers: int
) -> list[list[float]]:
    """Checks the aspect-ratio arguments and returns one list of ratios per predictor layer.

    Args:
        aspect_ratios_global: Ratios (width / height) used by every layer, or None.
        aspect_ratios_per_layer: One list per layer, or None (or empty); overrides the global one.
        n_layers: Number of predictor layers.

    Returns:
        Per layer, the aspect ratios as Python floats.

    Raises:
        ValueError: Naming the offending argument and its value.
    """
    if _given(aspect_ratios_per_layer):
        if len(aspect_ratios_per_layer) != n_layers:
            raise ValueError(
                f"`aspect_ratios_per_layer` must have one list per predictor layer ({n_layers}), "
                f"got {len(aspect_ratios_per_layer)}: {_shown(aspect_ratios_per_layer)!r}."
            )
        for layer, ratios in enumerate(aspect_ratios_per_layer):
            check_ratio_list(f"aspect_ratios_per_layer[{layer}]", ratios)
        return [[float(ar) for ar in ratios] for ratios in aspect_ratios_per_layer]
    if aspect_ratios_global is None:
        raise ValueError(
            "`aspect_ratios_global` and `aspect_ratios_per_layer` cannot both be None."
        )
    check_ratio_list("aspect_ratios_global", aspect_ratios_global)
    return [[float(ar) for ar in aspect_ratios_global] for _ in range(n_layers)]


def check_ratio_list(name: str, ratios: Any) -> None:
    """Raises ValueError naming `name` unless `ratios` is a non-empty list of positive numbers."""
    values = np.asarray(ratios, dtype=np.float64).ravel() if len(ratios) else np.zeros(0)
    if values.size == 0 or np.any(~(values > 0)):
        raise ValueError(
            f"All aspect ratios must be > 0 (and at least one given), got "
            f"{name}={_shown(ratios)!r}."
        )


def check_variances(variances: Any) -> list[float]:
    """Checks `variances` (4 positive numbers) and returns them as Python floats.

    Raises:
        ValueError: Naming the value.
    """
    values = np.asarray(variances, dtype=np.float64).ravel()
    if values.size != 4:
        raise ValueError(
            f"`variances` must have 4 entries, got {values.size}: variances={_shown(variances)!r}."
        )
    if np.any(~(values > 0)):
        raise ValueError(f"All `variances` must be > 0, got variances={values.tolist()!r}.")
    return values.tolist()


def check_coords(coords: Any) -> str:
    """Checks that `coords` is one of `'centroids'`, `'corners'`, `'minmax'` and returns it."""
    if coords not in BOX_FORMATS:
        raise ValueError(f"`coords` must be one of {BOX_FORMATS}, but received coords={coords!r}.")
    return coords


def check_per_layer(name: str, values: Any, n_layers: int, default: float | None) -> list:
    """Checks a per-layer `steps` or `offsets` argument and returns one entry per layer.

    Args:
        name: `'steps'` or `'offsets'`, for error messages.
        values: None (every layer uses its default), or one entry per layer: None, a number or
            a `(height, width)` pair.
        n_layers: Number of predictor layers.
        default: The per-layer default, for checking the entries.

    Returns:
        Per layer None, a float or a `[height, width]` list.

    Raises:
        ValueError: Naming the argument, the layer and the value.
    """
    if values is None:
        return [None] * n_layers
    if len(values) != n_layers:
        raise ValueError(
            f"`{name}` must have one entry per predictor layer ({n_layers}), "
            f"got {len(values)}: {_shown(values)!r}."
        )
    for layer, value in enumerate(values):
        height_width_pair(f"{name}[{layer}]", value, default)
    return [_plain(value) for value in values]


@dataclass(frozen=True)
class AnchorConfig:
    """The checked anchor configuration of an SSD model, one entry per predictor layer.

    Attributes:
        img_height: Input image height in pixels.
        img_width: Input image width in pixels.
        scales: `n_layers + 1` scales, fractions of `min(img_height, img_width)`; layer `i` uses
            `scales[i]` and `scales[i + 1]` (the latter for its second aspect-ratio-1 box).
        aspect_ratios: Per layer, the width/height ratios of its boxes.
        two_boxes_for_ar1: Whether aspect ratio 1 gets a second box.
        steps: Per layer None (image size / feature-map size), a number or `[step_h, step_w]`,
            in pixels.
        offsets: Per layer None (0.5), a number or `[offset_h, offset_w]`, in steps.
        clip_boxes: Whether anchors are clipped to the image.
        variances: The 4 variances the encoded offsets are divided by.
        coords: Anchor box format: `'centroids'`, `'corners'` or `'minmax'`.
        normalize_coords: Whether anchors are relative to the image size instead of pixels.
    """

    img_height: int
    img_width: int
    scales: tuple
    aspect_ratios: tuple
    two_boxes_for_ar1: bool
    steps: tuple
    offsets: tuple
    clip_boxes: bool
    variances: tuple
    coords: str
    normalize_coords: bool

    @classmethod
    def from_arguments(
        cls,
        n_layers: int,
        img_height: int,
        img_width: int,
        min_scale: float | None = 0.1,
        max_scale: float | None = 0.9,
        scales: Sequence[float] | None = None,
        aspect_ratios_global: Sequence[float] | None = (0.5, 1.0, 2.0),
        aspect_ratios_per_layer: Sequence[Sequence[float]] | None = None,
        two_boxes_for_ar1: bool = True,
        steps: Sequence[Any] | None = None,
        offsets: Sequence[Any] | None = None,
        clip_boxes: bool = False,
        variances: Sequence[float] = (0.1, 0.1, 0.2, 0.2),
        coords: str = "centroids",
        normalize_coords: bool = False,
    ) -> AnchorConfig:
        """Checks the builders' / `SSDInputEncoder`'s anchor arguments and expands them per layer.

        Args:
            n_layers: Number of predictor layers.
            img_height: Input image height in pixels.
            img_width: Input image width in pixels.
            min_scale, max_scale, scales, aspect_ratios_global, aspect_ratios_per_layer,
            two_boxes_for_ar1, steps, offsets, clip_boxes, variances, coords, normalize_coords:
                As in `SSDInputEncoder` and the model builders.

        Returns:
            The configuration.

        Raises:
            ValueError: Naming the first offending argument and its value.
        """
        ratios = check_aspect_ratios(aspect_ratios_global, aspect_ratios_per_layer, n_layers)
        return cls(
            img_height=int(img_height),
            img_width=int(img_width),
            scales=tuple(check_scales(scales, min_scale, max_scale, n_layers)),
            aspect_ratios=tuple(tuple(r) for r in ratios),
            two_boxes_for_ar1=bool(two_boxes_for_ar1),
            steps=tuple(check_per_layer("steps", steps, n_layers, None)),
            offsets=tuple(check_per_layer("offsets", offsets, n_layers, 0.5)),
            clip_boxes=bool(clip_boxes),
            variances=tuple(check_variances(variances)),
            coords=check_coords(coords),
            normalize_coords=bool(normalize_coords),
        )

    @property
    def n_layers(self) -> int:
        """Number of predictor layers."""
        return len(self.aspect_ratios)

    @property
    def n_boxes(self) -> list[int]:
        """Anchor boxes per feature-map cell, per predictor layer."""
        return [boxes_per_cell(ratios, self.two_boxes_for_ar1) for ratios in self.aspect_ratios]

    def layer_arguments(self, layer: int) -> dict:
        """Keyword arguments of the `AnchorBoxes` layer of predictor layer `layer`."""
        return {
            "img_height": self.img_height,
            "img_width": self.img_width,
            "this_scale": self.scales[layer],
            "next_scale": self.scales[layer + 1],
            "aspect_ratios": list(self.aspect_ratios[layer]),
            "two_boxes_for_ar1": self.two_boxes_for_ar1,
            "this_steps": self.steps[layer],
            "this_offsets": self.offsets[layer],
            "clip_boxes": self.clip_boxes,
            "variances": list(self.variances),
            "coords": self.coords,
            "normalize_coords": self.normalize_coords,
        }

    def encoder_arguments(self) -> dict:
        """The anchor keyword arguments of `SSDInputEncoder` (without image size and classes)."""
        return {
            "min_scale": None,
            "max_scale": None,
            "scales": list(self.scales),
            "aspect_ratios_global": None,
            "aspect_ratios_per_layer": [list(r) for r in self.aspect_ratios],
            "two_boxes_for_ar1": self.two_boxes_for_ar1,
            "steps": list(self.steps),
            "offsets": list(self.offsets),
            "clip_boxes": self.clip_boxes,
            "variances": list(self.variances),
            "coords": self.coords,
            "normalize_coords": self.normalize_coords,
        }

    @classmethod
    def from_model(cls, model: Any) -> tuple[AnchorConfig, np.ndarray]:
        """Reads the anchor configuration back from the `AnchorBoxes` layers of a built model.

        Args:
            model: A Keras model built by `build_model`, `ssd_300` or `ssd_512` (any mode, also
                one loaded from `.keras` or legacy `.h5`), or any model whose anchor layers
                provide `anchor_parameters()` (as `AnchorBoxes` does).

        Returns:
            `(config, predictor_sizes)`: the configuration and an int array
            `(n_layers, 2)` of the feature-map `(height, width)` of each predictor layer, in
            the order the model concatenates its anchors.

        Raises:
            ValueError: If the model has no anchor layers, or its layers disagree on a setting
                that the configuration holds once (image size, variances, `coords`, ...), or
                the scales do not chain (`next_scale` of a layer differs from `this_scale` of
                the next one).
        """
        layers = anchor_layers(model)
        if not layers:
            raise ValueError(
                f"Model {getattr(model, 'name', model)!r} has no AnchorBoxes layers, so its "
                "anchor configuration cannot be read."
            )
        params = [layer.anchor_parameters() for layer in layers]
        shared = {}
        for key in (
            "img_height", "img_width", "two_boxes_for_ar1", "clip_boxes", "variances", "coords",
            "normalize_coords",
        ):  # fmt: skip
            values = [_plain(p[key]) if key == "variances" else p[key] for p in params]
            if any(v != values[0] for v in values):
                raise ValueError(
                    f"The AnchorBoxes layers of model {model.name!r} disagree on `{key}`: "
                    f"{values!r}; one anchor configuration cannot describe them."
                )
            shared[key] = values[0]
        for i in range(len(params) - 1):
            if not np.isclose(params[i]["next_scale"], params[i + 1]["this_scale"]):
                raise ValueError(
                    f"AnchorBoxes layer {layers[i].name!r} has next_scale="
                    f"{params[i]['next_scale']} but the next layer {layers[i + 1].name!r} has "
                    f"this_scale={params[i + 1]['this_scale']}; the scales do not chain."
                )
        scales = [p["this_scale"] for p in params] + [params[-1]["next_scale"]]
        config = cls.from_arguments(
            n_layers=len(params),
            min_scale=None,
            max_scale=None,
            scales=scales,
            aspect_ratios_global=None,
            aspect_ratios_per_layer=[p["aspect_ratios"] for p in params],
            steps=[p["this_steps"] for p in params],
            offsets=[p["this_offsets"] for p in params],
            **shared,
        )
        sizes = np.array([p["feature_map_size"] for p in params], dtype=int).reshape(-1, 2)
        return config, sizes


def anchor_layers(model: Any) -> list:
    """The anchor layers of a model, in the order their anchors are concatenated.

    An anchor layer is one with an `anchor_parameters()` method (the `AnchorBoxes` layer). The
    order is the order of the model's layer list, which for a functional model follows the
    order of the inputs of the concatenation the anchors flow into.

    Args:
        model: A Keras model.

    Returns:
        The layers (possibly empty).
    """
    return [layer for layer in getattr(model, "layers", []) if _is_anchor_layer(layer)]


def _is_anchor_layer(layer: Any) -> bool:
    return callable(getattr(layer, "anchor_parameters", None))
