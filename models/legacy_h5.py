"""Loading `.h5` files written by the old (Keras 2) version of this library, and by Keras 3.

Weights only
    `model.load_weights(path, by_name=True)` works unchanged on the new models: Keras 3 keeps
    name-based loading for legacy `.h5` / `.hdf5` files (plain weight files and the
    `model_weights` group of full-model files). Weights are matched by layer name, and within a
    layer by position (trainable weights first, then non-trainable ones, which is the old order
    for `BatchNormalization` and for `L2Normalization`'s single `gamma`).

Full models
    `keras.models.load_model(path, custom_objects={'AnchorBoxes': AnchorBoxes,
    'compute_loss': ssd_loss.compute_loss})`, as the old tutorials call it, works on files of
    Keras 2.0 and later once `keras_layers` has been imported (every module of this library
    that builds or loads models imports it): the four pre-processing `Lambda` layers are rebuilt
    from their stored values without running their bytecode, the optimizer is created from the
    saved configuration (Keras 2's `lr` and `decay` translated), its saved state is restored,
    and the model predicts as before and can go on training with `fit`. The custom objects may
    also be left out. `load_legacy_model` is the same loader as a plain function.

    What happens to the optimizer state: the step count and the Adam moments or SGD momenta are
    restored from files of Keras 2.0-2.2 (stored by position, matched in Keras 2's weight
    order and checked against the weights' shapes), tf.keras 2.3+ (stored by name) and Keras 3.
    If the stored state does not fit the model, or the optimizer is another one, training goes
    on with a fresh optimizer and a warning says why. A non-zero Keras 2 `decay` becomes the
    equivalent `InverseTimeDecay` schedule, continuing from the restored step count.
"""

from __future__ import annotations

import importlib
import os

import h5py
import keras

from keras_layers import _legacy_h5
from keras_layers._legacy_h5 import legacy_custom_objects, optimizer_from_legacy_config

__all__ = [
    "legacy_custom_objects",
    "load_legacy_model",
    "optimizer_from_legacy_config",
    "restore_legacy_optimizer_state",
]


def restore_legacy_optimizer_state(model: keras.Model, filepath: str | os.PathLike) -> bool:
    """Copies the optimizer state of a full-model `.h5` file into `model.optimizer`.

    The state is restored only if every slot of the compiled optimizer is found in the file
    with the right shape (see `keras_layers._legacy_h5.saved_optimizer_slots` for the three
    layouts read); otherwise the optimizer is left as it is.

    Args:
        model: a compiled model built like the one in the file.
        filepath: the full-model `.h5` file.

    Returns:
        True if the state was restored.
    """
    with h5py.File(filepath, "r") as f:
        training_config = _legacy_h5._json_attr(f, "training_config") or {}
        optimizer_config = training_config.get(
            "optimizer_config", keras.optimizers.serialize(model.optimizer)
        )
        return _legacy_h5.restore_optimizer_state(model, f, optimizer_config) is None


def load_legacy_model(
    filepath: str | os.PathLike,
    custom_objects: dict | None = None,
    compile: bool = True,
) -> keras.Model:
    """Loads a full SSD model `.h5` file written by the old library (Keras 2) or by Keras 3.

    The same as `keras.models.load_model(filepath, custom_objects=...)` once `keras_layers` is
    imported, but it refuses a weights-only file with a clear message. The loss saved as
    `'compute_loss'` is `SSDLoss()` with its defaults unless `custom_objects` maps it to another
    callable.

    Args:
        filepath: path of the `.h5` file.
        custom_objects: extra or overriding name -> object mappings.
        compile: compile the model from the file's training configuration, if it has one, and
            restore the optimizer state.

    Returns:
        The `keras.Model`.

    Raises:
        ValueError: not a full-model file, or a layer Keras cannot rebuild.
    """
    filepath = os.fspath(filepath)
    with h5py.File(filepath, "r") as f:
        if _legacy_h5._json_attr(f, "model_config") is None:
            raise ValueError(f"{filepath!r} holds no model configuration (a weights-only file?).")
    return _legacy_h5.load_model_from_hdf5(filepath, custom_objects=custom_objects, compile=compile)


_SSD_OBJECT_MODULES = (
    "keras_layers.keras_layer_AnchorBoxes",
    "keras_layers.keras_layer_DecodeDetections",
    "keras_layers.keras_layer_DecodeDetectionsFast",
    "keras_layers.keras_layer_L2Normalization",
    "keras_layers.keras_layer_preprocessing",
    "keras_loss_function.keras_ssd_loss",
    "models.keras_ssd7",
)
"""Modules whose import registers the library's serializable objects with Keras."""


def load_ssd_model(filepath: str | os.PathLike, compile: bool = False) -> keras.Model:
    """Loads an SSD model of this library from a `.keras` or `.h5` file, whatever Keras wrote it.

    Registers the library's custom objects, tries `keras.models.load_model` and, for an `.h5`
    file it cannot read, `load_legacy_model` (Keras 2 files).

    Args:
        filepath: Path of the `.keras` or `.h5` file.
        compile: Whether to restore the training configuration (loss, optimizer).

    Returns:
        The loaded `keras.Model`.

    Raises:
        ValueError: If neither loader can read the file; the message names the file and gives
            the first line of Keras's own error.
    """
    path = os.fspath(filepath)
    for module in _SSD_OBJECT_MODULES:
        importlib.import_module(module)
    try:
        return keras.models.load_model(path, compile=compile)
    except Exception as error:
        if path.lower().endswith(".h5"):
            try:
                return load_legacy_model(path, compile=compile)
            except Exception:
                pass
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise ValueError(f"cannot load model {path}: {message}") from error
