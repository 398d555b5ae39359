"""Sub-sampling the classification layers of an old-format (Keras 2) `.h5` weights file.

Fine-tuning a detector trained on many classes (e.g. SSD300 on MS COCO, 81 classes with the
background) for a few of them starts best from its trained weights. The classification
predictor layers (`*_mbox_conf` in SSD300/512, `classes4..7` in SSD7) have
`n_boxes * n_classes` output channels, laid out box by box; keeping the channels of the chosen
classes for every box gives layers for the smaller model. `subsample_weights_file` writes
such a file; load it with `model.load_weights(path, by_name=True)` into a model built with the
smaller number of classes.

Old-format layout (`model.save` / `save_weights` of Keras 2): the weights root is the file
(weights-only files) or its `model_weights` group (full model files); it has the attribute
`layer_names` and one group per layer whose attribute `weight_names` lists the layer's
datasets (paths relative to the layer group, e.g. `classes4/kernel:0`) in weight order.
"""

# Random choices deliberately use NumPy's global random state (seeded runs reproduce the
# original library's choices), hence the legacy `np.random` API.
# ruff: noqa: NPY002

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from misc_utils.atomic_write import atomic_path
from misc_utils.tensor_sampling_utils import sample_tensors

SSD300_CLASSIFIER_NAMES = (
    "conv4_3_norm_mbox_conf",
    "fc7_mbox_conf",
    "conv6_2_mbox_conf",
    "conv7_2_mbox_conf",
    "conv8_2_mbox_conf",
    "conv9_2_mbox_conf",
)
"""Classification predictor layers of `ssd_300`."""
SSD512_CLASSIFIER_NAMES = (*SSD300_CLASSIFIER_NAMES, "conv10_2_mbox_conf")
"""Classification predictor layers of `ssd_512`."""
SSD7_CLASSIFIER_NAMES = ("classes4", "classes5", "classes6", "classes7")
"""Classification predictor layers of the SSD7 `build_model`."""


def _text(value: bytes | str) -> str:
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def _weights_root(handle: h5py.File) -> h5py.Group:
    if "layer_names" not in handle.attrs and "model_weights" in handle:
        return handle["model_weights"]
    return handle


def _weight_names(group: h5py.Group) -> list[str]:
    return [_text(name) for name in group.attrs.get("weight_names", [])]


def read_legacy_weights(path: str | os.PathLike) -> dict[str, dict[str, np.ndarray]]:
    """All weights of an old-format `.h5` file.

    Args:
        path: A Keras 2 weights file or full model file.

    Returns:
        `{layer_name: {weight_name: array}}` in the file's layer and weight order (layers
        without weights included, with empty dicts).

    Raises:
        ValueError: If the file has no `layer_names` attribute (not an old-format file).
    """
    with h5py.File(path, "r") as handle:
        root = _weights_root(handle)
        if "layer_names" not in root.attrs:
            raise ValueError(f"{path}: no `layer_names` attribute, not a Keras 2 weights file.")
        return {
            _text(layer): {
                name: root[_text(layer)][name][()] for name in _weight_names(root[_text(layer)])
            }
            for layer in root.attrs["layer_names"]
        }


def classifier_channel_indices(
    out_channels: int, n_classes_source: int, classes: Sequence[int]
) -> list[int]:
    """Output channels of a classification layer that belong to `classes`.

    Channel `b * n_classes_source + c` is class `c` of box `b`.

    Args:
        out_channels: The layer's output channel count, `n_boxes * n_classes_source`.
        n_classes_source: Classes of the source model including the background.
        classes: Class ids to keep, in the order of the new model (background first).

    Returns:
        `[c + b * n_classes_source for b in boxes for c in classes]`.

    Raises:
        ValueError: If `out_channels` is not a multiple of `n_classes_source` or a class
            id is out of range or repeated.
    """
    if out_channels % n_classes_source:
        raise ValueError(
            f"{out_channels} output channels are not a multiple of n_classes_source = "
            f"{n_classes_source}."
        )
    classes = np.asarray(classes, dtype=np.int64)
    if classes.ndim != 1 or classes.size == 0:
        raise ValueError(f"`classes_of_interest` must be a non-empty list, got {classes!r}.")
    if classes.min() < 0 or classes.max() >= n_classes_source:
        raise ValueError(
            f"`classes_of_interest` {classes.tolist()} must lie in [0, {n_classes_source - 1}]."
        )
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"`classes_of_interest` {classes.tolist()} repeats a class.")
    boxes = np.arange(out_channels // n_classes_source) * n_classes_source
    return (boxes[:, None] + classes[None, :]).reshape(-1).tolist()


def _chosen_classes(classes_of_interest: Sequence[int] | int, n_classes_source: int) -> list[int]:
    if isinstance(classes_of_interest, (list, tuple, np.ndarray)):
        return [int(c) for c in classes_of_interest]
    if isinstance(classes_of_interest, (int, np.integer)):
        if not 1 <= classes_of_interest <= n_classes_source:
            raise ValueError(
                f"`classes_of_interest` = {classes_of_interest} must lie in "
                f"[1, n_classes_source = {n_classes_source}] (it counts the background)."
            )
        others = np.random.choice(
            np.arange(1, n_classes_source), classes_of_interest - 1, replace=False
        )
        return [0, *np.sort(others).tolist()]
    raise ValueError(
        "`classes_of_interest` must be a list of class ids or an int, got "
        f"{type(classes_of_interest)}."
    )


def _sampled_layer(group: h5py.Group, layer: str, n_classes_source: int, classes: list[int]):
    """`[(weight_name, new_array), ...]` for the kernel and bias of one classifier layer."""
    names = _weight_names(group)
    if len(names) != 2:
        raise ValueError(f"Layer {layer!r} has weights {names}; expected a kernel and a bias.")
    kernel, bias = group[names[0]][()], group[names[1]][()]
    if kernel.ndim != 4 or bias.shape != kernel.shape[-1:]:
        raise ValueError(
            f"Layer {layer!r}: expected a conv kernel (h, w, in, out) and a bias (out,), got "
            f"shapes {kernel.shape} and {bias.shape}."
        )
    height, width, in_channels, out_channels = kernel.shape
    indices = classifier_channel_indices(out_channels, n_classes_source, classes)
    new_kernel, new_bias = sample_tensors(
        weights_list=[kernel, bias],
        sampling_instructions=[height, width, in_channels, indices],
        axes=[[3]],
    )
    return [(names[0], new_kernel), (names[1], new_bias)]


def _write_weights(
    source_root: h5py.Group, destination: h5py.File, replaced: dict[str, list]
) -> None:
    """Copies the weights root into a weights-only file, with some datasets replaced."""
    for key, value in source_root.attrs.items():
        destination.attrs[key] = value
    for layer in source_root.attrs["layer_names"]:
        layer = _text(layer)
        source_root.copy(source_root[layer], destination, name=layer)
        for name, array in replaced.get(layer, []):
            del destination[layer][name]
            destination[layer].create_dataset(name, data=array)


def subsample_weights_file(
    source_path: str | os.PathLike,
    destination_path: str | os.PathLike,
    classifier_names: Sequence[str] = SSD300_CLASSIFIER_NAMES,
    n_classes_source: int = 81,
    classes_of_interest: Sequence[int] | int = (0, 3, 8, 1, 2, 10, 4, 6, 12),
    verbose: bool = False,
) -> dict[str, tuple[tuple[int, ...], tuple[int, ...]]]:
    """Writes a weights file whose classification layers keep only some classes.

    The defaults are those of the weight sampling tutorial (SSD300 trained on MS COCO, reduced to
    background + 8 classes). All other layers are copied unchanged. The output is a Keras 2
    weights-only `.h5` file (`layer_names` + one group per layer), written to a temporary
    name next to `destination_path` and then renamed, so an interrupted run never leaves a
    half-written file. Load it with `model.load_weights(destination_path, by_name=True)` into
    a model with `len(classes) - 1` positive classes.

    Args:
        source_path: Old-format weights file or full model file.
        destination_path: The file to write (`.h5`); may equal `source_path`.
        classifier_names: Names of the classification layers to sub-sample.
        n_classes_source: Classes of the source model including the background.
        classes_of_interest: Class ids to keep (background 0 first, then the classes in the
            order of the new model), or an int: keep the background plus `n - 1` random
            classes (sorted; drawn once with `np.random` and used for every layer).
        verbose: Print the new shapes.

    Returns:
        `{layer: (kernel_shape, bias_shape)}` of the sub-sampled layers.

    Raises:
        ValueError: For a file without `layer_names`, a missing layer or a layer whose
            weights do not fit `n_classes_source`, or invalid `classes_of_interest`.
    """
    classes = _chosen_classes(classes_of_interest, n_classes_source)
    destination_path = Path(destination_path)
    with h5py.File(source_path, "r") as source:
        root = _weights_root(source)
        if "layer_names" not in root.attrs:
            raise ValueError(f"{source_path}: no `layer_names` attribute, not a Keras 2 file.")
        missing = [name for name in classifier_names if name not in root]
        if missing:
            raise ValueError(f"{source_path}: no layer(s) {missing} in the weights file.")
        replaced = {
            name: _sampled_layer(root[name], name, n_classes_source, classes)
            for name in classifier_names
        }
        with atomic_path(destination_path) as temporary, h5py.File(temporary, "w") as destination:
            _write_weights(root, destination, replaced)
    shapes = {name: (new[0][1].shape, new[1][1].shape) for name, new in replaced.items()}
    if verbose:
        for name, (kernel_shape, bias_shape) in shapes.items():
            print(f"{name}: kernel {kernel_shape}, bias {bias_shape}")
    return shapes
