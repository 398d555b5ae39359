"""Sub- and up-sampling of weight tensors along chosen axes, consistently across tensors.

Typical use: shrink the classification layers of a trained SSD to a subset of its classes (keep
the kernel's output channels and the bias entries of those classes), or grow them for more
classes. Random choices use NumPy's global random state (`np.random.seed` reproduces them).
"""

# Random choices deliberately use NumPy's global random state (seeded runs reproduce the
# original library's choices), hence the legacy `np.random` API.
# ruff: noqa: NPY002

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_INITS = ("gaussian", "zeros")


def _random_positions(length: int, count: int) -> np.ndarray:
    """Position 0 plus `count - 1` sorted distinct random positions from `1..length-1`."""
    others = np.sort(np.random.choice(np.arange(1, length), count - 1, replace=False))
    return np.concatenate([np.array([0]), others])


def _axis_indices(instruction: Any, length: int, axis: int) -> tuple[np.ndarray, bool]:
    """Indices kept along one axis of the first tensor, and whether the axis is up-sampled."""
    if isinstance(instruction, (list, tuple)):
        indices = np.array(instruction)
        if indices.size == 0:
            raise ValueError(f"The sampling instructions for dimension {axis} are an empty list.")
        if np.amax(indices) >= length:
            raise ValueError(
                f"The sampling instructions for dimension {axis} contain index "
                f"{np.amax(indices)}, which is greater than the length of that dimension "
                f"({length})."
            )
        return indices, False
    if isinstance(instruction, int):
        if instruction < 1:
            raise ValueError(
                f"The sampling instruction for dimension {axis} must be at least 1, "
                f"got {instruction}."
            )
        if instruction < length:
            return _random_positions(length, instruction), False
        return np.arange(length), instruction > length
    raise ValueError(
        "Each element of the sampling instructions must be either a Python int or a list/tuple "
        f"of integers, but received {type(instruction)} for dimension {axis}."
    )


def _check_axes(weights_list: Sequence[np.ndarray], axes: Sequence[Sequence[int]] | None) -> None:
    first = weights_list[0]
    if len(weights_list) > 1 and (axes is None or len(axes) != len(weights_list) - 1):
        raise ValueError(
            "`axes` must hold one list of first-tensor axes for each tensor after the first "
            f"({len(weights_list) - 1}), got {axes!r}."
        )
    for j, tensor in enumerate(weights_list[1:], start=1):
        mapping = list(axes[j - 1])
        valid = len(mapping) == tensor.ndim and all(0 <= a < first.ndim for a in mapping)
        if not valid or tuple(first.shape[a] for a in mapping) != tensor.shape:
            raise ValueError(
                f"`axes[{j - 1}]` = {mapping} does not map tensor {j} of shape {tensor.shape} onto "
                f"axes of the first tensor of shape {first.shape}."
            )


def _check_init(init: Sequence[str] | None, n_tensors: int) -> list[str]:
    if init is None:
        return ["gaussian"] * n_tensors
    if len(init) != n_tensors:
        raise ValueError(
            "`init` must either be `None` or a list of strings that has the same length as "
            f"`weights_list` ({n_tensors}), got {init!r}."
        )
    for kind in init:
        if kind not in _INITS:
            raise ValueError(
                f"Valid initializations are 'gaussian' and 'zeros', but received {kind!r}."
            )
    return list(init)


def _new_tensor(kind: str, shape: Sequence[int], mean: float, stddev: float) -> np.ndarray:
    if kind == "gaussian":
        return np.random.normal(loc=mean, scale=stddev, size=tuple(shape))
    return np.zeros(tuple(shape))


def sample_tensors(
    weights_list: Sequence[np.ndarray],
    sampling_instructions: Sequence[Any],
    axes: Sequence[Sequence[int]] | None = None,
    init: Sequence[str] | None = None,
    mean: float = 0.0,
    stddev: float = 0.005,
) -> list[np.ndarray]:
    """Sub-samples and/or up-samples tensors consistently along corresponding axes.

    The instructions describe the first tensor, one per axis: a list/tuple of indices keeps
    exactly those elements; a Python `int` equal to the axis length keeps the axis, a smaller
    one keeps element 0 plus `n - 1` random others (sorted), a larger one up-samples: the old
    elements go to position 0 and `length - 1` sorted random positions of a new axis of
    length `n` whose other entries are initialised per `init`. The other tensors follow
    along the axes they map to (`axes`). Random draws use `np.random` in a fixed order (all
    sub-sampling axes, the first tensor's fill, the up-sampling positions, the other tensors'
    fills), so a seeded run gives the same result as the original library.

    Args:
        weights_list: NumPy arrays, the one of highest rank first (e.g. `[kernel, bias]` of a
            conv layer with kernel `(h, w, in_channels, out_channels)`).
        sampling_instructions: One instruction per axis of the first tensor.
        axes: For each tensor after the first, the first-tensor axis of each of its axes
            (`[[3]]` for a bias that follows the kernel's output channels).
        init: Only for up-sampling: per tensor `'gaussian'` (normal with `mean` and
            `stddev`) or `'zeros'`; None means all `'gaussian'`.
        mean: Mean of the gaussian fill.
        stddev: Standard deviation of the gaussian fill.

    Returns:
        The sampled tensors in input order (copies; float64 where up-sampled).

    Raises:
        ValueError: For a wrong number of instructions, indices beyond an axis, instructions
            that are neither lists/tuples nor Python ints, inconsistent `axes` or bad `init`.
    """
    first = weights_list[0]
    if (
        not isinstance(sampling_instructions, (list, tuple))
        or len(sampling_instructions) != first.ndim
    ):
        raise ValueError(
            "The sampling instructions must be a list whose length is the number of dimensions "
            f"of the first tensor in `weights_list` ({first.ndim})."
        )
    kinds = _check_init(init, len(weights_list))
    _check_axes(weights_list, axes)
    slices, up_sampled = [], []
    for axis, instruction in enumerate(sampling_instructions):
        indices, grow = _axis_indices(instruction, first.shape[axis], axis)
        slices.append(indices)
        if grow:
            up_sampled.append(axis)
    mappings = [list(mapping) for mapping in (axes or [])]
    subsampled = [np.copy(first[np.ix_(*slices)])]
    for tensor, mapping in zip(weights_list[1:], mappings, strict=True):
        subsampled.append(np.copy(tensor[np.ix_(*[slices[a] for a in mapping])]))
    if not up_sampled:
        return subsampled
    return _up_sample(subsampled, sampling_instructions, up_sampled, mappings, kinds, mean, stddev)


def _up_sample(
    subsampled: list[np.ndarray],
    sampling_instructions: Sequence[Any],
    up_sampled: list[int],
    mappings: list[list[int]],
    kinds: list[str],
    mean: float,
    stddev: float,
) -> list[np.ndarray]:
    """Scatters the sub-sampled tensors into new, larger tensors (see `sample_tensors`)."""
    small = subsampled[0]
    out_shape = [
        len(inst) if isinstance(inst, (list, tuple)) else inst for inst in sampling_instructions
    ]
    grown = _new_tensor(kinds[0], out_shape, mean, stddev)
    positions = [np.arange(length) for length in small.shape]
    for axis in up_sampled:
        positions[axis] = _random_positions(out_shape[axis], small.shape[axis])
    grown[np.ix_(*positions)] = small
    results = [grown]
    for tensor, mapping, kind in zip(subsampled[1:], mappings, kinds[1:], strict=True):
        other = _new_tensor(kind, [out_shape[a] for a in mapping], mean, stddev)
        other[np.ix_(*[positions[a] for a in mapping])] = tensor
        results.append(other)
    return results
