"""Shared plumbing of the image/box transformations in `data_generator`.

Every transformation works on an image (`(H, W)` or `(H, W, C)` array) and optional labels,
a `(k, n)` array with one box per row in absolute pixel `corners` coordinates. Which column
holds which coordinate is given by a `labels_format` mapping (`'xmin'`, `'ymin'`, `'xmax'`,
`'ymax'` and usually `'class_id'` to column indices).

Inverters work on decoded predictions, whose layout is the labels layout with a confidence
column inserted at index 1, so every coordinate column sits one position further right.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

#: The default `labels_format` of every transformation: `(class_id, xmin, ymin, xmax, ymax)`.
DEFAULT_LABELS_FORMAT: tuple[tuple[str, int], ...] = (
    ("class_id", 0),
    ("xmin", 1),
    ("ymin", 2),
    ("xmax", 3),
    ("ymax", 4),
)

#: Position of the confidence column in decoded predictions; coordinate columns move right by it.
PREDICTION_COLUMN_OFFSET = 1

_BOX_KEYS = ("xmin", "ymin", "xmax", "ymax")


def default_labels_format() -> dict[str, int]:
    """A fresh copy of the default `labels_format` dictionary."""
    return dict(DEFAULT_LABELS_FORMAT)


def resolve_labels_format(labels_format: Mapping[str, int] | None) -> Mapping[str, int]:
    """Returns `labels_format` itself, or the default dictionary for `None`.

    Raises:
        ValueError: if `labels_format` is not a mapping or lacks one of the four box keys.
    """
    if labels_format is None:
        return default_labels_format()
    if not isinstance(labels_format, Mapping):
        raise ValueError(f"`labels_format` must be a dict, got {labels_format!r}.")
    missing = [key for key in _BOX_KEYS if key not in labels_format]
    if missing:
        raise ValueError(f"`labels_format` lacks the keys {missing}; got {dict(labels_format)!r}.")
    return labels_format


class BoxColumns(NamedTuple):
    """Column indices of the four box coordinates inside a labels (or predictions) array."""

    xmin: int
    ymin: int
    xmax: int
    ymax: int

    @property
    def xs(self) -> list[int]:
        """`[xmin, xmax]`."""
        return [self.xmin, self.xmax]

    @property
    def ys(self) -> list[int]:
        """`[ymin, ymax]`."""
        return [self.ymin, self.ymax]

    @property
    def top_left(self) -> list[int]:
        """`[xmin, ymin]`."""
        return [self.xmin, self.ymin]

    @property
    def bottom_right(self) -> list[int]:
        """`[xmax, ymax]`."""
        return [self.xmax, self.ymax]

    @property
    def corners(self) -> list[int]:
        """`[xmin, ymin, xmax, ymax]`."""
        return [self.xmin, self.ymin, self.xmax, self.ymax]


def box_columns(labels_format: Mapping[str, int], offset: int = 0) -> BoxColumns:
    """The coordinate columns named by `labels_format`, each moved right by `offset`.

    Use `offset=PREDICTION_COLUMN_OFFSET` for decoded predictions.
    """
    return BoxColumns(*(int(labels_format[key]) + offset for key in _BOX_KEYS))


def prediction_columns(labels_format: Mapping[str, int]) -> BoxColumns:
    """The coordinate columns of decoded predictions (confidence column at index 1)."""
    return box_columns(labels_format, PREDICTION_COLUMN_OFFSET)


def as_label_array(labels: Any, labels_format: Mapping[str, int]) -> np.ndarray:
    """A 2-D copy of `labels`; an empty 1-D array becomes `(0, n)` with `n` label columns."""
    array = np.array(labels)
    if array.ndim == 1 and array.size == 0:
        n_columns = max(int(index) for index in labels_format.values()) + 1
        array = array.reshape(0, n_columns)
    if array.ndim != 2:
        raise ValueError(f"`labels` must be a 2-D array (boxes, columns), got shape {array.shape}.")
    return array


# Random draws. The original library draws from numpy's global RNG (`np.random.seed` makes a
# run reproducible) and users rely on that, so the legacy functions are used on purpose.


def uniform(low: float, high: float) -> float:
    """One draw of `U(low, high)` from the global numpy RNG."""
    return np.random.uniform(low, high)  # noqa: NPY002


def randint(low: int, high: int | None = None) -> int:
    """One draw of `np.random.randint(low, high)` from the global numpy RNG."""
    return int(np.random.randint(low, high))  # noqa: NPY002


def choice(options: Any, p: Any = None) -> Any:
    """`np.random.choice(options, p=p)` on the global numpy RNG."""
    return np.random.choice(options, p=p)  # noqa: NPY002


def rng_state() -> Any:
    """The global numpy RNG state (to replay draws exactly)."""
    return np.random.get_state()  # noqa: NPY002


def set_rng_state(state: Any) -> None:
    """Restores a state returned by `rng_state`."""
    np.random.set_state(state)  # noqa: NPY002


def happens(prob: float) -> bool:
    """Draws `U(0, 1)` from the global numpy RNG; true with probability `prob`."""
    return bool(uniform(0, 1) >= 1.0 - prob)


def pack(
    image: Any,
    labels: Any = None,
    inverter: Callable | None = None,
    return_inverter: bool = False,
    with_labels: bool | None = None,
) -> Any:
    """Builds a transformation's return value.

    Returns `image`, `(image, labels)`, `(image, inverter)` or `(image, labels, inverter)`:
    the labels appear when `with_labels` (default: `labels is not None`), the inverter when
    `return_inverter`.
    """
    if with_labels is None:
        with_labels = labels is not None
    outputs: tuple = (image, labels) if with_labels else (image,)
    if return_inverter:
        outputs = (*outputs, inverter)
    return outputs if len(outputs) > 1 else image


def identity_inverter(predictions: np.ndarray) -> np.ndarray:
    """An inverter that changes nothing (used when a random transformation did not fire)."""
    return predictions


class ComposedInverter:
    """Applies several inverters one after the other (`None` entries are skipped).

    Args:
        inverters: callables mapping a `(k, 6+)` predictions array to another one, in the
            order they must be applied (the reverse of the forward transformations).
    """

    def __init__(self, inverters: Sequence[Callable | None]) -> None:
        self.inverters = [inverter for inverter in inverters if inverter is not None]

    def __call__(self, predictions: np.ndarray) -> np.ndarray:
        for inverter in self.inverters:
            predictions = inverter(predictions)
        return predictions


def check_type(
    name: str, value: Any, types: type | tuple[type, ...], allow_none: bool = True
) -> None:
    """Raises ValueError unless `value` is an instance of `types` (or `None` if allowed)."""
    if (value is None and allow_none) or isinstance(value, types):
        return
    names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
    suffix = " or None" if allow_none else ""
    raise ValueError(f"`{name}` must be a {names}{suffix}, got {value!r}.")


def check_probability(name: str, value: float) -> None:
    """Raises ValueError unless `0 <= value <= 1`."""
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"`{name}` must be a probability in [0, 1], got {value!r}.")


def check_range(lower_name: str, lower: float, upper_name: str, upper: float) -> None:
    """Raises ValueError unless `lower < upper`."""
    if not lower < upper:
        raise ValueError(
            f"`{lower_name}` must be smaller than `{upper_name}`, got {lower!r} and {upper!r}."
        )


def integral_uint8_fill(image: np.ndarray, background: Any) -> tuple[int, ...] | None:
    """`background` as one int per channel of a `(H, W, C)` `uint8` image with
    `C <= 4`, or `None` unless every value is an integer in `[0, 255]`.

    For such values, filling borders with `cv2.copyMakeBorder` gives exactly what
    `cv2.warpAffine` or a numpy assignment of `background` give.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or not 1 <= image.shape[2] <= 4:
        return None
    values = np.atleast_1d(np.asarray(background, dtype=np.float64))
    if values.ndim != 1 or len(values) < image.shape[2]:
        return None
    values = values[: image.shape[2]]
    if not np.all((values == np.round(values)) & (values >= 0) & (values <= 255)):
        return None
    return tuple(int(value) for value in values)
