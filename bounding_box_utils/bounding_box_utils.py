"""Box-format conversion, intersection areas and IoU for axis-aligned boxes.

Three box formats are used throughout the library, always as four consecutive values on the last
axis of an array:

* `'centroids'`: `(cx, cy, w, h)`
* `'corners'`: `(xmin, ymin, xmax, ymax)`
* `'minmax'`: `(xmin, xmax, ymin, ymax)`

Coordinates may be absolute pixels or relative to the image size; the functions here do not care.

`border_pixels` says whether the last row/column of a box belongs to it. A side length
`max - min` gets `d` added: `'half'` (the default) adds 0, `'include'` adds 1 and
`'exclude'` subtracts 1. Conversions *into* centroids apply `d` to the width and height;
conversions *out of* centroids do not.

`iou` keeps a property of the original library that published mAP figures depend on: the
intersection is always measured with `d = 0` while the two box areas use `border_pixels`. Two
identical 10x10-pixel boxes therefore have an IoU of 1.0 with `'half'` but about 0.704 with
`'include'` (see docs/differences.md#iou-border-pixels).
"""

from __future__ import annotations

import numpy as np

BORDER_PIXEL_OFFSETS = {"half": 0, "include": 1, "exclude": -1}
BOX_FORMATS = ("centroids", "corners", "minmax")
IOU_MODES = ("outer_product", "element-wise")

# Position of (xmin, ymin, xmax, ymax) inside the four coordinates of the two corner-based formats.
_CORNER_POSITIONS = {"corners": (0, 1, 2, 3), "minmax": (0, 2, 1, 3)}

_CONVERSIONS = (
    "minmax2centroids",
    "centroids2minmax",
    "corners2centroids",
    "centroids2corners",
    "minmax2corners",
    "corners2minmax",
)


def border_pixel_offset(border_pixels: str) -> int:
    """Returns the side-length correction `d` for a `border_pixels` mode.

    Args:
        border_pixels: One of `'half'` (0), `'include'` (+1) or `'exclude'` (-1).

    Raises:
        ValueError: If `border_pixels` is not one of the three modes.
    """
    try:
        return BORDER_PIXEL_OFFSETS[border_pixels]
    except (KeyError, TypeError):
        raise ValueError(
            f"`border_pixels` must be one of {sorted(BORDER_PIXEL_OFFSETS)}, "
            f"but got {border_pixels!r}."
        ) from None


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"`{name}` must be one of {list(allowed)}, but got {value!r}.")


def _to_corners(coords: np.ndarray, source: str) -> np.ndarray:
    """Converts `(..., 4)` coordinates in `source` format to corners (the hub format)."""
    if source == "corners":
        return coords
    if source == "minmax":
        return coords[..., [0, 2, 1, 3]]
    cx, cy, w, h = np.moveaxis(coords, -1, 0)
    return np.stack([cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0], axis=-1)


def _from_corners(corners: np.ndarray, target: str, d: int) -> np.ndarray:
    """Converts `(..., 4)` corners into `target` format, adding `d` to centroid sizes."""
    if target == "corners":
        return corners
    if target == "minmax":
        return corners[..., [0, 2, 1, 3]]
    xmin, ymin, xmax, ymax = np.moveaxis(corners, -1, 0)
    return np.stack(
        [(xmin + xmax) / 2.0, (ymin + ymax) / 2.0, xmax - xmin + d, ymax - ymin + d], axis=-1
    )


def _coordinate_positions(tensor: np.ndarray, start_index: int) -> list[int]:
    """The four last-axis positions starting at `start_index` (negative indices allowed)."""
    width = tensor.shape[-1]
    first = start_index + width if start_index < 0 else start_index
    if not 0 <= first <= width - 4:
        raise ValueError(
            f"`start_index` {start_index} does not leave four coordinates on a last axis of "
            f"length {width}."
        )
    return [first, first + 1, first + 2, first + 3]


def convert_coordinates(
    tensor: np.ndarray, start_index: int, conversion: str, border_pixels: str = "half"
) -> np.ndarray:
    """Converts boxes between the centroids, corners and minmax formats.

    Args:
        tensor: Array of any rank whose last axis holds, from `start_index` on, four box
            coordinates. Other columns are copied unchanged.
        start_index: Position of the first coordinate on the last axis (may be negative).
        conversion: `'<source>2<target>'` with source and target among `'minmax'`,
            `'centroids'` and `'corners'` (and different), e.g. `'corners2centroids'`.
        border_pixels: `'half'`, `'include'` or `'exclude'`; only conversions into centroids
            use it (added to the width and height).

    Returns:
        A float64 copy of `tensor` with the four coordinates converted.

    Raises:
        ValueError: If `conversion` or `border_pixels` is unknown.
    """
    _check_choice("conversion", conversion, _CONVERSIONS)
    d = border_pixel_offset(border_pixels)
    source, target = conversion.split("2")
    converted = np.array(tensor, dtype=float)
    positions = _coordinate_positions(converted, start_index)
    corners = _to_corners(converted[..., positions], source)
    converted[..., positions] = _from_corners(corners, target, d)
    return converted


# Matrices that map minmax rows to centroid rows and back by a single product (no border term).
_MINMAX2CENTROIDS = np.array(
    [[0.5, 0.0, -1.0, 0.0], [0.5, 0.0, 1.0, 0.0], [0.0, 0.5, 0.0, -1.0], [0.0, 0.5, 0.0, 1.0]]
)
_CENTROIDS2MINMAX = np.array(
    [[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [-0.5, 0.5, 0.0, 0.0], [0.0, 0.0, -0.5, 0.5]]
)


def convert_coordinates2(tensor: np.ndarray, start_index: int, conversion: str) -> np.ndarray:
    """Matrix-product variant of `convert_coordinates` for minmax <-> centroids.

    Equivalent to `convert_coordinates` with `border_pixels='half'`.

    Args:
        tensor: Array whose last axis holds, from `start_index` on, four box coordinates.
        start_index: Position of the first coordinate on the last axis.
        conversion: `'minmax2centroids'` or `'centroids2minmax'`.

    Returns:
        A float64 copy of `tensor` with the four coordinates converted.

    Raises:
        ValueError: For any other `conversion`.
    """
    matrices = {"minmax2centroids": _MINMAX2CENTROIDS, "centroids2minmax": _CENTROIDS2MINMAX}
    _check_choice("conversion", conversion, tuple(matrices))
    converted = np.array(tensor, dtype=float)
    positions = _coordinate_positions(converted, start_index)
    converted[..., positions] = converted[..., positions] @ matrices[conversion]
    return converted


def _as_box_matrix(name: str, boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes)
    if boxes.ndim > 2:
        raise ValueError(f"`{name}` must have rank 1 or 2, but has rank {boxes.ndim}.")
    return boxes.reshape(1, -1) if boxes.ndim == 1 else boxes


def _validated_pair(
    boxes1: np.ndarray, boxes2: np.ndarray, coords: str, mode: str
) -> tuple[np.ndarray, np.ndarray, str]:
    """Checks the arguments shared by `intersection_area` and `iou`.

    Returns both box sets as 2-D arrays, converted to corners if they were centroids, together
    with the coordinate format they are now in.
    """
    boxes1 = _as_box_matrix("boxes1", boxes1)
    boxes2 = _as_box_matrix("boxes2", boxes2)
    if not boxes1.shape[1] == boxes2.shape[1] == 4:
        raise ValueError(
            "All boxes must consist of 4 coordinates, but the boxes in `boxes1` and `boxes2` "
            f"have {boxes1.shape[1]} and {boxes2.shape[1]} coordinates."
        )
    _check_choice("mode", mode, IOU_MODES)
    _check_choice("coords", coords, BOX_FORMATS)
    if coords == "centroids":
        boxes1 = convert_coordinates(boxes1, 0, "centroids2corners")
        boxes2 = convert_coordinates(boxes2, 0, "centroids2corners")
        coords = "corners"
    return boxes1, boxes2, coords


def _pair_up(boxes1: np.ndarray, boxes2: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """Adds the axes that make `(m, 4)` and `(n, 4)` broadcast to `(m, n, 4)` if needed."""
    if mode == "outer_product":
        return boxes1[:, None, :], boxes2[None, :, :]
    return boxes1, boxes2


def intersection_area_(
    boxes1: np.ndarray,
    boxes2: np.ndarray,
    coords: str = "corners",
    mode: str = "outer_product",
    border_pixels: str = "half",
) -> np.ndarray:
    """Intersection areas without argument checks or centroid conversion (internal fast path).

    Args:
        boxes1: `(m, 4)` boxes in `coords` format.
        boxes2: `(n, 4)` boxes (`mode='outer_product'`) or boxes broadcastable against
            `boxes1` (`mode='element-wise'`).
        coords: `'corners'` or `'minmax'`.
        mode: `'outer_product'` gives an `(m, n)` matrix, `'element-wise'` an `(m,)`
            vector.
        border_pixels: `'half'`, `'include'` or `'exclude'` (side-length correction).

    Returns:
        The intersection areas, in the squared unit of the coordinates.
    """
    if coords not in _CORNER_POSITIONS:
        raise ValueError(f"`coords` must be one of {list(_CORNER_POSITIONS)}, but got {coords!r}.")
    d = border_pixel_offset(border_pixels)
    xmin, ymin, xmax, ymax = _CORNER_POSITIONS[coords]
    first, second = _pair_up(np.asarray(boxes1), np.asarray(boxes2), mode)
    # One 2-D array per axis keeps the temporaries small: (m, n) rather than (m, n, 2).
    width = _overlap(first[..., xmin], first[..., xmax], second[..., xmin], second[..., xmax], d)
    height = _overlap(first[..., ymin], first[..., ymax], second[..., ymin], second[..., ymax], d)
    return width * height


def _overlap(low1: np.ndarray, high1: np.ndarray, low2: np.ndarray, high2: np.ndarray, d: int):
    """Length of the overlap of two intervals along one axis, never negative."""
    return np.maximum(0, np.minimum(high1, high2) - np.maximum(low1, low2) + d)


def intersection_area(
    boxes1: np.ndarray,
    boxes2: np.ndarray,
    coords: str = "centroids",
    mode: str = "outer_product",
    border_pixels: str = "half",
) -> np.ndarray:
    """Intersection areas of two sets of axis-aligned boxes.

    Args:
        boxes1: One box `(4,)` or `m` boxes `(m, 4)` in `coords` format.
        boxes2: One box `(4,)` or `n` boxes `(n, 4)` in `coords` format. In
            `'element-wise'` mode it must broadcast against `boxes1`.
        coords: `'centroids'`, `'corners'` or `'minmax'`.
        mode: `'outer_product'` returns an `(m, n)` matrix of all pairs (a 1-D box counts as
            `m = 1`); `'element-wise'` returns an `(m,)` vector of row-by-row areas.
        border_pixels: `'half'`, `'include'` or `'exclude'`, the side-length correction.

    Returns:
        The intersection areas, in the squared unit of the coordinates.

    Raises:
        ValueError: For a rank above 2, a last axis other than 4, or an unknown `mode`,
            `coords` or `border_pixels`.
    """
    boxes1, boxes2, coords = _validated_pair(boxes1, boxes2, coords, mode)
    return intersection_area_(boxes1, boxes2, coords, mode, border_pixels)


def _areas(boxes: np.ndarray, coords: str, d: int) -> np.ndarray:
    xmin, ymin, xmax, ymax = _CORNER_POSITIONS[coords]
    return (boxes[..., xmax] - boxes[..., xmin] + d) * (boxes[..., ymax] - boxes[..., ymin] + d)


def iou(
    boxes1: np.ndarray,
    boxes2: np.ndarray,
    coords: str = "centroids",
    mode: str = "outer_product",
    border_pixels: str = "half",
) -> np.ndarray:
    """Intersection over union (Jaccard similarity) of two sets of axis-aligned boxes.

    The intersection is always measured with `border_pixels='half'`; the two areas in the union
    use `border_pixels`. This reproduces the original library's numbers (see the module
    docstring). Pairs whose union is zero (two identical zero-area boxes) give NaN.

    Args:
        boxes1: One box `(4,)` or `m` boxes `(m, 4)` in `coords` format.
        boxes2: One box `(4,)` or `n` boxes `(n, 4)` in `coords` format. In
            `'element-wise'` mode it must broadcast against `boxes1`.
        coords: `'centroids'`, `'corners'` or `'minmax'`.
        mode: `'outer_product'` returns an `(m, n)` matrix, `'element-wise'` an `(m,)`
            vector.
        border_pixels: `'half'`, `'include'` or `'exclude'`, applied to the box areas.

    Returns:
        Float IoU values in `[0, 1]`.

    Raises:
        ValueError: For a rank above 2, a last axis other than 4, or an unknown `mode`,
            `coords` or `border_pixels`.
    """
    boxes1, boxes2, coords = _validated_pair(boxes1, boxes2, coords, mode)
    d = border_pixel_offset(border_pixels)
    intersection = intersection_area_(boxes1, boxes2, coords, mode, "half")
    first, second = _pair_up(boxes1, boxes2, mode)
    union = _areas(first, coords, d) + _areas(second, coords, d) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return intersection / union
