"""Mapping decoded predictions back through the inverters of a transformation chain."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np


def _flat_inverters(inverters: Iterable[Any]) -> list[Callable[[np.ndarray], np.ndarray]]:
    """The non-None inverters of a possibly nested list, in order."""
    flat = []
    for inverter in inverters:
        if isinstance(inverter, (list, tuple)):
            flat.extend(_flat_inverters(inverter))
        elif inverter is not None:
            flat.append(inverter)
    return flat


def _invert_item(predictions: np.ndarray, inverters: Iterable[Any]) -> np.ndarray:
    predictions = np.copy(predictions)
    if predictions.size == 0:
        return predictions
    for inverter in _flat_inverters(inverters):
        predictions = inverter(predictions)
    return predictions


def apply_inverse_transforms(
    y_pred_decoded: list[np.ndarray] | np.ndarray,
    inverse_transforms: Sequence[Sequence[Callable[[np.ndarray], np.ndarray] | None]],
) -> list[np.ndarray] | np.ndarray:
    """Maps decoded predictions from the transformed images back to the original images.

    Args:
        y_pred_decoded: per batch item, a `(k, 6)` array of decoded predictions
            `[class_id, confidence, xmin, ymin, xmax, ymax]` in absolute pixels of the
            transformed image: a list of such arrays, or one `(B, k, 6)` array.
        inverse_transforms: per batch item, the inverters in the order they must be applied
            (as `DataGenerator.generate` returns them for `'inverse_transform'`). `None`
            entries are skipped and nested lists are flattened.

    Returns:
        The same structure (list or array) with inverted copies; items without predictions are
        copied unchanged. The input is not modified.

    Raises:
        ValueError: if `y_pred_decoded` is neither a list nor a numpy array.
    """
    if not isinstance(y_pred_decoded, (list, np.ndarray)):
        raise ValueError(
            f"`y_pred_decoded` must be a list or a numpy array, got "
            f"{type(y_pred_decoded).__name__}."
        )
    if len(inverse_transforms) < len(y_pred_decoded):
        raise ValueError(
            f"`inverse_transforms` has {len(inverse_transforms)} items, fewer than the "
            f"{len(y_pred_decoded)} items of `y_pred_decoded`."
        )
    if isinstance(y_pred_decoded, list):
        return [
            _invert_item(item, inverse_transforms[index])
            for index, item in enumerate(y_pred_decoded)
        ]
    inverted = np.copy(y_pred_decoded)
    for index in range(len(inverted)):
        inverted[index] = _invert_item(inverted[index], inverse_transforms[index])
    return inverted
