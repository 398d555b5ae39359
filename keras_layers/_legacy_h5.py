"""Keras's `.h5` full-model loader, completed for the files SSD users have on disk.

`keras.models.load_model(path.h5, ...)` hands an `.h5` file to Keras's legacy loader. On the
files this library's users have, that loader fails in three places, all after the model has been
rebuilt:

* files of Keras 2.0-2.2.4 (the old library was used with Keras 2.1.x) store the optimizer with
  Keras 2's argument names (`lr`, `decay`), which Keras 3 refuses ("Argument(s) not recognized");
* it builds the restored optimizer on `model._trainable_variables`, which for a functional model
  is the model's own (empty) list, so setting the saved optimizer state fails, and the first
  `fit` raises "Unknown variable" (also for `.h5` files written by Keras 3 itself, such as the
  tutorials' `ModelCheckpoint` files);
* the optimizer state of Keras 2 files is stored under names Keras 3 does not know.

`load_model_from_hdf5` does what Keras's loader does, with those three steps done right: the
model is rebuilt and its weights loaded by Keras (with the old library's layer names known and
the pre-processing `Lambda` layers rebuilt, see `keras_layer_preprocessing`), the optimizer is
created from the saved configuration with Keras 2 argument names translated, and the saved
optimizer state is matched to the model's variables (`saved_optimizer_slots`). Importing
`keras_layers` puts it in place of Keras's loader (`install`), so the tutorials' own
`load_model(path, custom_objects={...})` call works unchanged.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import warnings
from collections.abc import Iterator
from typing import Any

import h5py
import keras
import numpy as np

from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes
from keras_layers.keras_layer_DecodeDetections import DecodeDetections
from keras_layers.keras_layer_DecodeDetectionsFast import DecodeDetectionsFast
from keras_layers.keras_layer_L2Normalization import L2Normalization
from keras_loss_function.keras_ssd_loss import SSDLoss

_LOGGER = logging.getLogger(__name__)

SSD_LOSS_NAME = "compute_loss"
"""How the old library's files name the loss they were compiled with."""

KERAS2_EPSILON = 1e-7
"""`keras.backend.epsilon()` of Keras 2, used where an old optimizer config has `epsilon=None`."""


def legacy_custom_objects(loss: Any = None) -> dict:
    """The custom objects the old library's full-model files refer to, by their old names.

    Args:
        loss: the callable to use for the loss saved as `'compute_loss'`; defaults to
            `SSDLoss().compute_loss` (neg_pos_ratio=3, n_neg_min=0, alpha=1.0, the tutorials'
            settings).

    Returns:
        dict for `custom_objects` / `keras.saving.custom_object_scope`.
    """
    return {
        "AnchorBoxes": AnchorBoxes,
        "L2Normalization": L2Normalization,
        "DecodeDetections": DecodeDetections,
        "DecodeDetectionsFast": DecodeDetectionsFast,
        SSD_LOSS_NAME: loss if loss is not None else SSDLoss().compute_loss,
    }


# ----------------------------------------------------------------------------------------------
# Optimizer configuration


def modern_optimizer_config(optimizer_config: dict) -> dict:
    """Translates a Keras 2 optimizer config into one Keras 3 accepts.

    `lr` becomes `learning_rate`; a non-zero `decay` (Keras 2 used
    `lr / (1 + decay * iterations)`) becomes the same formula as an
    `InverseTimeDecay(lr, decay_steps=1, decay_rate=decay)` schedule; `decay == 0` is dropped;
    `epsilon=None` (Keras 2's "use `K.epsilon()`") becomes 1e-7. Keras 3 configs pass unchanged.

    Args:
        optimizer_config: `{'class_name': ..., 'config': {...}}` as stored in a file's
            `training_config`.

    Returns:
        A new config dict (the argument is not modified).
    """
    config = dict(optimizer_config.get("config") or {})
    if "lr" in config:
        lr = config.pop("lr")
        config.setdefault("learning_rate", lr)
    decay = float(config.pop("decay", 0.0) or 0.0)
    if decay:
        schedule = keras.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=config["learning_rate"], decay_steps=1, decay_rate=decay
        )
        config["learning_rate"] = keras.optimizers.schedules.serialize(schedule)
    if "epsilon" in config and config["epsilon"] is None:
        config["epsilon"] = KERAS2_EPSILON
    return {**optimizer_config, "config": config}


def optimizer_from_legacy_config(optimizer_config: dict) -> keras.optimizers.Optimizer:
    """Builds a Keras 3 optimizer from an optimizer config saved by Keras 2 or 3.

    Args:
        optimizer_config: `{'class_name': ..., 'config': {...}}` as stored in `training_config`.

    Returns:
        The optimizer (see `modern_optimizer_config` for the translation).

    Raises:
        ValueError: unknown optimizer or arguments Keras 3 does not accept.
    """
    return keras.optimizers.deserialize(modern_optimizer_config(optimizer_config))


# ----------------------------------------------------------------------------------------------
# Reading the file


@contextlib.contextmanager
def _opened(filepath: str | os.PathLike | h5py.File) -> Iterator[h5py.File]:
    if isinstance(filepath, h5py.File):
        yield filepath
    else:
        with h5py.File(filepath, "r") as f:
            yield f


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _json_attr(f: h5py.File, name: str) -> dict | None:
    value = f.attrs.get(name)
    return None if value is None else json.loads(_text(value))


def _saved_slots(f: h5py.File) -> list[tuple[str, np.ndarray]]:
    """`(name, value)` of every stored optimizer weight, in stored order."""
    if "optimizer_weights" not in f:
        return []
    group = f["optimizer_weights"]
    names = [_text(name) for name in group.attrs["weight_names"]]
    return [(name, np.asarray(group[name][()])) for name in names]


def _keras2_trainable_order(model: keras.Model, f: h5py.File) -> list:
    """The model's trainable variables in Keras 2's `model.trainable_weights` order.

    Keras 2 listed a model's trainable weights layer by layer in `model.layers` order, which is
    the file's `layer_names` order (Keras 3 orders layers differently).
    """
    variables = []
    for name in (_text(n) for n in f["model_weights"].attrs.get("layer_names", [])):
        try:
            variables.extend(model.get_layer(name).trainable_weights)
        except ValueError:
            continue
    return variables


# ----------------------------------------------------------------------------------------------
# Optimizer state: the three layouts


def _slot_key(variable: Any, slot: str) -> str:
    """The name Keras 3 gives an optimizer slot of `variable` (`conv1_kernel_momentum`)."""
    return f"{variable.path.replace('/', '_')}_{slot}"


def _iterations(value: np.ndarray) -> dict:
    return {"iteration": np.asarray(value).astype("int64").reshape(())}


def _keras3_slots(saved: list, optimizer_name: str) -> dict | None:
    """Keras 3 stores `<optimizer name>/<slot name>`: `adam/conv1_kernel_momentum`."""
    slots = {}
    for name, value in saved:
        prefix, _, slot = name.partition("/")
        if prefix != optimizer_name or not slot or "/" in slot or ":" in name:
            return None
        slots[slot] = value
    return slots


# tf.keras 2.x slot suffixes (`Adam/conv1/kernel/m:0`) -> Keras 3 slot names.
_TFKERAS_SLOTS = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat", "momentum": "momentum"}


def _tfkeras_slots(saved: list, optimizer_name: str) -> dict | None:
    """tf.keras 2.3+ stores `Adam/iter:0` and `Adam/<layer>/<weight>/<slot>:0`."""
    slots = {}
    for name, value in saved:
        prefix, *parts = name.split(":")[0].split("/")
        if prefix != optimizer_name:
            return None
        if parts in (["iter"], ["iterations"]):
            slots.update(_iterations(value))
        elif len(parts) >= 2 and parts[-1] in _TFKERAS_SLOTS:
            slots["_".join(parts[:-1]) + "_" + _TFKERAS_SLOTS[parts[-1]]] = value
        else:
            return None
    return slots


# Keras 2.0-2.2 keep the slots in lists, one entry per trainable weight, after the iterations:
# Adam [m..., v..., vhat...] (vhat, a (1,) placeholder unless amsgrad, since Keras 2.1.3),
# SGD [momentum...]. Each list maps to one Keras 3 slot name.
_KERAS2_SLOT_LISTS = {
    "Adam": (("momentum", "velocity", "velocity_hat"), ("momentum", "velocity")),
    "SGD": (("momentum",),),
}


def _keras2_slots(saved: list, class_name: str, model: keras.Model, f: h5py.File) -> dict | None:
    """Keras 2.0-2.2 store `Adam/iterations:0` and positional `training/Adam/Variable_k:0`."""
    layouts = _KERAS2_SLOT_LISTS.get(class_name)
    if layouts is None or len(saved) < 1 or not saved[0][0].endswith("iterations:0"):
        return None
    variables = _keras2_trainable_order(model, f)
    values = [value for _, value in saved[1:]]
    layout = next((lists for lists in layouts if len(lists) * len(variables) == len(values)), None)
    if layout is None or not variables:
        return None
    slots = _iterations(saved[0][1])
    for k, slot in enumerate(layout):
        for variable, value in zip(variables, values[k * len(variables) :], strict=False):
            if tuple(value.shape) != tuple(variable.shape):
                if slot == "velocity_hat":
                    continue  # Keras 2's (1,) placeholder when amsgrad is off
                return None
            slots[_slot_key(variable, slot)] = value
    return slots


def saved_optimizer_slots(
    model: keras.Model, f: h5py.File, optimizer_config: dict
) -> tuple[dict | None, str]:
    """Reads the optimizer state of a full-model `.h5` file, keyed by Keras 3 slot names.

    Three layouts are known: Keras 3 (`adam/conv1_kernel_momentum`), tf.keras 2.3+
    (`Adam/conv1/kernel/m:0`) and Keras 2.0-2.2 (Adam or SGD slots by position, in the order of
    Keras 2's `model.trainable_weights`, checked against the shapes of the model's weights).

    Args:
        model: the rebuilt model.
        f: the open file.
        optimizer_config: the file's optimizer config (for its class and name).

    Returns:
        `(slots, layout)`: `slots` maps Keras 3 slot names (`'iteration'`,
        `'conv1_kernel_momentum'`, ...) to arrays, or is None when the layout is not recognised;
        `layout` says which layout was read (or why none was).
    """
    saved = _saved_slots(f)
    if not saved:
        return None, "the file holds no optimizer state"
    class_name = optimizer_config.get("class_name", "")
    name = (optimizer_config.get("config") or {}).get("name") or class_name
    readers = (
        ("Keras 3", lambda: _keras3_slots(saved, name)),
        ("tf.keras 2", lambda: _tfkeras_slots(saved, name)),
        ("Keras 2.0-2.2", lambda: _keras2_slots(saved, class_name, model, f)),
    )
    for layout, read in readers:
        slots = read()
        if slots is not None:
            return slots, layout
    return None, f"its {len(saved)} stored optimizer weights are in an unknown layout"


def assign_optimizer_slots(model: keras.Model, slots: dict) -> str | None:
    """Builds `model.optimizer` on the model's trainable variables and assigns `slots`.

    Nothing is assigned unless every slot of the optimizer is found with the right shape.

    Args:
        model: a compiled model.
        slots: Keras 3 slot names -> values (`saved_optimizer_slots`); `'iteration'` sets the
            step count, `'learning_rate'` is ignored (the configuration already holds it).

    Returns:
        None when the state was assigned, else the reason it was not.
    """
    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    targets = [v for v in optimizer.variables if v.name not in ("iteration", "learning_rate")]
    missing = [v.name for v in targets if v.name not in slots]
    if missing:
        return f"no saved value for {len(missing)} optimizer slots (first: {missing[0]!r})"
    wrong = [v.name for v in targets if tuple(np.shape(slots[v.name])) != tuple(v.shape)]
    if wrong:
        return f"saved optimizer slot {wrong[0]!r} has another shape than the model's weight"
    for variable in targets:
        variable.assign(slots[variable.name])
    if "iteration" in slots:
        optimizer.iterations.assign(int(slots["iteration"]))
    return None


def restore_optimizer_state(model: keras.Model, f: h5py.File, optimizer_config: dict) -> str | None:
    """Restores the optimizer state stored in `f` into the compiled `model`.

    Returns:
        None when restored, else why the optimizer starts fresh.
    """
    slots, layout = saved_optimizer_slots(model, f, optimizer_config)
    if slots is None:
        return layout
    reason = assign_optimizer_slots(model, slots)
    return None if reason is None else f"{reason} ({layout} layout)"


# ----------------------------------------------------------------------------------------------
# The loader


def _keras_loader():
    from keras.src.legacy.saving import legacy_h5_format

    return legacy_h5_format


# Keras's own loader (also when this module is imported a second time, after `install`).
_ORIGINAL_LOADER = getattr(
    _keras_loader().load_model_from_hdf5,
    "keras_loader",
    _keras_loader().load_model_from_hdf5,
)


def _compile_from_training_config(model: keras.Model, training_config: dict, objects: dict):
    from keras.src.legacy.saving import saving_utils

    config = dict(training_config)
    config["optimizer_config"] = modern_optimizer_config(config["optimizer_config"])
    config.setdefault("loss_weights", None)
    all_objects = {**objects, **keras.saving.get_custom_objects()}
    model.compile(**saving_utils.compile_args_from_training_config(config, all_objects))


def _file_name(filepath: Any) -> str:
    return os.fspath(getattr(filepath, "filename", filepath))


def anchor_layers_without_steps(model_config: dict) -> list[str]:
    """Names of SSD300/SSD512 anchor layers whose saved config lacks `this_steps`.

    The old library did not save the anchor steps and offsets of `AnchorBoxes`, so such a layer
    derives them from the image and feature-map sizes (300 / 38 instead of the builder's 8 for
    SSD300's first layer), shifting every decoded box. SSD7's anchors (`steps=None`) are derived
    that way anyway, so only the layers the VGG builders name `*_mbox_priorbox` are listed.

    Args:
        model_config: the file's `model_config`.

    Returns:
        The layer names, in the config's order.
    """
    layers = (model_config.get("config") or {}).get("layers") or []
    return [
        layer["config"].get("name", "")
        for layer in layers
        if str(layer.get("class_name", "")).split(">")[-1] == "AnchorBoxes"
        and "this_steps" not in layer.get("config", {})
        and layer["config"].get("name", "").endswith("_mbox_priorbox")
    ]


def _warn_about_unrecorded_anchor_steps(f: h5py.File, filepath: Any) -> None:
    names = anchor_layers_without_steps(_json_attr(f, "model_config") or {})
    if names:
        warnings.warn(
            f"{_file_name(filepath)!r} does not record the anchor steps and offsets of its "
            f"{len(names)} anchor layers ({names[0]!r}, ...): they are derived from the "
            "feature-map sizes, not the steps the model was built with (ssd_300 and ssd_512 "
            "default to steps [8, 16, 32, ...]), so the decoded boxes are shifted. Build the "
            "model with ssd_300 / ssd_512 and load this file with "
            "`model.load_weights(path, by_name=True)` instead.",
            stacklevel=3,
        )


def load_model_from_hdf5(
    filepath: str | os.PathLike | h5py.File,
    custom_objects: dict | None = None,
    compile: bool = True,
    safe_mode: bool = True,
) -> keras.Model:
    """Loads a full model from an `.h5` file written by Keras 2 (2.0 and later) or Keras 3.

    The model and its weights are loaded by Keras's own legacy loader, with the old library's
    layer and loss names known (`legacy_custom_objects`, overridden by `custom_objects`). With
    `compile`, the model is compiled from the file's training configuration (Keras 2 optimizer
    arguments translated by `modern_optimizer_config`) and the saved optimizer state (moments,
    step count) is restored when its layout is known and fits the model; otherwise the optimizer
    starts fresh, with a warning saying why. SSD300/SSD512 files of the old library, which lack
    the anchor steps, load with a warning (see `anchor_layers_without_steps`).

    Args:
        filepath: path of the `.h5` file, or an open `h5py.File`.
        custom_objects: name -> object mappings, as for `keras.models.load_model`.
        compile: compile the model from the file's training configuration, if it has one.
        safe_mode: as for `keras.models.load_model` (the old pre-processing `Lambda` layers are
            rebuilt without running their code, so they load in safe mode).

    Returns:
        The `keras.Model`.
    """
    objects = {**legacy_custom_objects(), **(custom_objects or {})}
    model = _ORIGINAL_LOADER(filepath, custom_objects=objects, compile=False, safe_mode=safe_mode)
    with _opened(filepath) as f:
        _warn_about_unrecorded_anchor_steps(f, filepath)
        if not compile:
            return model
        training_config = _json_attr(f, "training_config")
        if training_config is None:
            _LOGGER.warning(
                "No training configuration found in %s, so the model was *not* compiled. "
                "Compile it manually.",
                filepath,
            )
            return model
        _compile_from_training_config(model, training_config, objects)
        reason = restore_optimizer_state(model, f, training_config["optimizer_config"])
    if reason is not None and "holds no optimizer state" not in reason:
        warnings.warn(
            f"The optimizer state in {_file_name(filepath)!r} "
            f"was not restored: {reason}. Training continues with a fresh optimizer.",
            stacklevel=2,
        )
    return model


load_model_from_hdf5.keras_loader = _ORIGINAL_LOADER


def install() -> None:
    """Makes `keras.models.load_model` use `load_model_from_hdf5` for `.h5` / `.hdf5` files.

    Called when `keras_layers` is imported; calling it again is harmless.
    """
    _keras_loader().load_model_from_hdf5 = load_model_from_hdf5


install()
