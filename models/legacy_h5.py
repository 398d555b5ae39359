"""Loading `.h5` files written by the old (Keras 2) version of this library.

Weights only
    `model.load_weights(path, by_name=True)` works unchanged on the new models: Keras 3 keeps
    name-based loading for legacy `.h5` / `.hdf5` files (plain weight files and the
    `model_weights` group of full-model files). Weights are matched by layer name, and within a
    layer by position (trainable weights first, then non-trainable ones, which is the old order
    for `BatchNormalization` and for `L2Normalization`'s single `gamma`).

Full models
    `keras.models.load_model(path, custom_objects={'AnchorBoxes': AnchorBoxes,
    'compute_loss': ssd_loss.compute_loss})`, as the old tutorials call it, works once
    `keras_layers.keras_layer_preprocessing` has been imported (the model builders import it):
    the four pre-processing `Lambda` layers are rebuilt from their stored values, and the model
    predicts as before. Three limits of Keras 3.15's legacy loader remain, which happen before
    any code of this library runs: it accepts (and ignores, with a warning) an optimizer
    `decay` but rejects the `lr` argument of Keras < 2.3 files; it cannot restore the optimizer
    state; and the optimizer it restores is built without the model's variables, so `fit` on
    the loaded model raises "Unknown variable" until the model is compiled again.
    `load_legacy_model` below avoids all three: it needs no `custom_objects`, turns `lr` and
    `decay` into `learning_rate` and the equivalent schedule, restores the optimizer state when
    the slot names match, and returns a model that can go on training.
"""

from __future__ import annotations

import json
import os
from typing import Any

import h5py
import keras

from keras_layers.keras_layer_AnchorBoxes import AnchorBoxes
from keras_layers.keras_layer_DecodeDetections import DecodeDetections
from keras_layers.keras_layer_DecodeDetectionsFast import DecodeDetectionsFast
from keras_layers.keras_layer_L2Normalization import L2Normalization
from keras_layers.keras_layer_preprocessing import LegacyPreprocessingLambda
from keras_loss_function.keras_ssd_loss import SSDLoss

_SSD_LOSS_NAME = "compute_loss"  # how the old files name the loss passed to compile


def legacy_custom_objects(loss: Any = None) -> dict:
    """The custom objects the old library's full-model files refer to, by their old names.

    Args:
        loss: the callable to use for the loss saved as `'compute_loss'`; defaults to
            `SSDLoss().compute_loss` (neg_pos_ratio=3, n_neg_min=0, alpha=1.0).

    Returns:
        dict for `custom_objects` / `keras.saving.custom_object_scope`.
    """
    return {
        "AnchorBoxes": AnchorBoxes,
        "L2Normalization": L2Normalization,
        "DecodeDetections": DecodeDetections,
        "DecodeDetectionsFast": DecodeDetectionsFast,
        "Lambda": LegacyPreprocessingLambda,
        _SSD_LOSS_NAME: loss if loss is not None else SSDLoss().compute_loss,
    }


def optimizer_from_legacy_config(optimizer_config: dict) -> keras.optimizers.Optimizer:
    """Builds a Keras 3 optimizer from an optimizer config saved by Keras 2.

    `lr` becomes `learning_rate`; a non-zero `decay` (Keras 2 used
    `lr / (1 + decay * iterations)`) becomes an `InverseTimeDecay(lr, 1, decay)` schedule, which
    is the same formula; `decay == 0` is dropped.

    Args:
        optimizer_config: `{'class_name': ..., 'config': {...}}` as stored in `training_config`.

    Returns:
        The optimizer.

    Raises:
        ValueError: unknown optimizer or arguments Keras 3 does not accept.
    """
    config = dict(optimizer_config["config"])
    if "lr" in config:
        config["learning_rate"] = config.pop("lr")
    decay = float(config.pop("decay", 0.0) or 0.0)
    if decay:
        config["learning_rate"] = keras.optimizers.schedules.InverseTimeDecay(
            initial_learning_rate=config["learning_rate"], decay_steps=1, decay_rate=decay
        )
    return keras.optimizers.deserialize(
        {"class_name": optimizer_config["class_name"], "config": config}
    )


def _read_json_attr(filepath: str, name: str) -> dict | None:
    with h5py.File(filepath, "r") as f:
        value = f.attrs.get(name)
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    return json.loads(value)


# Keras 2 optimizer slot names (`Adam/conv1/kernel/m:0`) -> Keras 3 names (`conv1_kernel_momentum`).
_SLOT_SUFFIXES = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat", "momentum": "momentum"}
_ITERATIONS_NAMES = ("iter", "iterations")


def _keras3_slot_name(old_name: str, optimizer_name: str) -> str | None:
    """`'Adam/conv1/kernel/m:0'` -> `'conv1_kernel_momentum'`; `'Adam/iter:0'` -> `'iter'`.

    None for names of another optimizer (`optimizer_name` is the saved optimizer's name).
    """
    prefix, *parts = old_name.split(":")[0].split("/")
    if prefix != optimizer_name:
        return None
    if len(parts) == 1 and parts[0] in _ITERATIONS_NAMES:
        return parts[0]
    if len(parts) < 2 or parts[-1] not in _SLOT_SUFFIXES:
        return None
    return "_".join(parts[:-1]) + "_" + _SLOT_SUFFIXES[parts[-1]]


def _read_optimizer_weights(filepath: str) -> dict:
    with h5py.File(filepath, "r") as f:
        if "optimizer_weights" not in f:
            return {}
        group = f["optimizer_weights"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        return {name: group[name][()] for name in names}


def restore_legacy_optimizer_state(model: keras.Model, filepath: str | os.PathLike) -> bool:
    """Copies a Keras 2 optimizer state (`optimizer_weights` of an `.h5`) into `model.optimizer`.

    Slots are matched by name (`Adam/conv1/kernel/m:0` -> the Adam momentum of `conv1/kernel`,
    `v` -> velocity, `vhat` -> velocity_hat, SGD `momentum`, `iter` -> iterations), which is
    how tf.keras 2.x names them, and only from slots of the optimizer saved in the file's
    `training_config` (its `name`, else its class name). The state is restored only if every
    slot of the compiled optimizer is found with the right shape; otherwise it is left fresh.

    Args:
        model: a compiled model.
        filepath: the old full-model `.h5` file.

    Returns:
        True if the state was restored.
    """
    filepath = os.fspath(filepath)
    optimizer = model.optimizer
    optimizer.build(model.trainable_variables)
    training_config = _read_json_attr(filepath, "training_config") or {}
    saved_optimizer = training_config.get("optimizer_config", {})
    saved_name = saved_optimizer.get("config", {}).get("name") or saved_optimizer.get("class_name")
    saved = {}
    for old_name, value in _read_optimizer_weights(filepath).items():
        new_name = _keras3_slot_name(old_name, saved_name)
        if new_name is not None:
            saved[new_name] = value
    slots = [v for v in optimizer.variables if v.name not in ("iteration", "learning_rate")]
    if not saved or any(
        v.name not in saved or tuple(saved[v.name].shape) != tuple(v.shape) for v in slots
    ):
        return False
    for variable in slots:
        variable.assign(saved[variable.name])
    iterations = next((saved[n] for n in _ITERATIONS_NAMES if n in saved), None)
    if iterations is not None:
        optimizer.iterations.assign(int(iterations))
    return True


def _resolve_loss(loss_config: Any, custom_objects: dict) -> Any:
    if isinstance(loss_config, str) and loss_config in custom_objects:
        return custom_objects[loss_config]
    return keras.losses.get(loss_config)


def load_legacy_model(
    filepath: str | os.PathLike,
    custom_objects: dict | None = None,
    compile: bool = True,
) -> keras.Model:
    """Loads a full SSD model `.h5` file written by the old library with Keras 2.

    The pre-processing `Lambda` layers are rebuilt from their stored values (their bytecode is
    never run), the library's layers are found by their old names, and the weights are loaded.
    With `compile=True` the model is compiled with the saved optimizer settings (see
    `optimizer_from_legacy_config`) and the saved loss: `'compute_loss'` is `SSDLoss()` with
    its defaults unless `custom_objects` maps it to another callable. The optimizer state
    (moments, iteration count) is restored when its slot names can be matched (see
    `restore_legacy_optimizer_state`), else it starts fresh.

    Args:
        filepath: path of the `.h5` file.
        custom_objects: extra or overriding name -> object mappings.
        compile: compile the model from the file's training configuration, if it has one.

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: not a full-model file, or a layer Keras cannot rebuild.
    """
    filepath = os.fspath(filepath)
    objects = {**legacy_custom_objects(), **(custom_objects or {})}
    if _read_json_attr(filepath, "model_config") is None:
        raise ValueError(f"{filepath!r} holds no model configuration (a weights-only file?).")
    with keras.saving.custom_object_scope({"Lambda": LegacyPreprocessingLambda}):
        model = keras.models.load_model(filepath, custom_objects=objects, compile=False)
    training_config = _read_json_attr(filepath, "training_config") if compile else None
    if training_config is not None:
        model.compile(
            optimizer=optimizer_from_legacy_config(training_config["optimizer_config"]),
            loss=_resolve_loss(training_config.get("loss"), objects),
        )
        restore_legacy_optimizer_state(model, filepath)
    return model
