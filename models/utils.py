"""Helpers for built SSD models."""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

# Names of the layer concatenating the class predictions, in SSD7 and in SSD300/SSD512.
_CONF_CONCAT_NAMES = ("classes_concat", "mbox_conf")


def _producers(model: keras.Model) -> dict:
    """Maps `id(output tensor)` -> layer, for the layers of a functional model."""
    return {id(layer.output): layer for layer in model.layers}


def _conf_layer_names(model: keras.Model) -> list[str]:
    """Names of the conf predictor convolutions, in the order their outputs are concatenated."""
    layer_names = {layer.name for layer in model.layers}
    concat_name = next((n for n in _CONF_CONCAT_NAMES if n in layer_names), None)
    if concat_name is None:
        raise ValueError(
            f"Model '{model.name}' has no layer named {' or '.join(_CONF_CONCAT_NAMES)}; "
            "pass `layer_names` explicitly."
        )
    producers = _producers(model)
    names = []
    for reshaped in model.get_layer(concat_name).input:  # one Reshape output per predictor
        reshape_layer = producers[id(reshaped)]
        names.append(producers[id(reshape_layer.input)].name)
    return names


def get_predictor_sizes(model: keras.Model, layer_names: Sequence[str] | None = None) -> np.ndarray:
    """Feature-map sizes of the predictor layers of a built model, for `SSDInputEncoder`.

    This replaces the old tutorials' `model.get_layer(name).output_shape[1:3]` (Keras 3 layers
    have no `output_shape`).

    Args:
        model: a model built by `build_model`, `ssd_300` or `ssd_512` (any mode), or any
            functional model when `layer_names` is given.
        layer_names: names of the conf predictor layers, in predictor order. By default they
            are found from the class-prediction concatenation (`classes4` ... `classes7` for
            SSD7, `conv4_3_norm_mbox_conf` ... for SSD300/SSD512).

    Returns:
        int array `(n_predictor_layers, 2)` of `(feature map height, feature map width)`.

    Raises:
        ValueError: no such layer in the model.
    """
    names = list(layer_names) if layer_names is not None else _conf_layer_names(model)
    sizes = []
    for name in names:
        try:
            layer = model.get_layer(name)
        except ValueError as error:
            raise ValueError(f"`layer_names`: model has no layer named {name!r}.") from error
        sizes.append(tuple(layer.output.shape[1:3]))
    return np.array(sizes, dtype=int).reshape(-1, 2)
