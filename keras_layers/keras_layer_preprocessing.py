"""Input pre-processing layers of the SSD models, and the rebuild of old `Lambda` layers.

The SSD builders normalise their input inside the graph in a fixed order:

    identity_layer -> input_mean_normalization -> input_stddev_normalization -> input_channel_swap

The old library realised the last three steps with `Lambda` layers. Those cannot be reloaded
safely (Keras 3 refuses Python bytecode in `safe_mode`, and the bytecode of one Python version is
unreadable by another), so the models use the small registered layers of this module instead,
under the same layer names.

Old full-model `.h5` files still contain the four `Lambda` layers. Their configs keep the values
captured by the original closures (the mean, the standard deviation, the channel order), which is
all that is needed to rebuild them. `LegacyPreprocessingLambda` does that when Keras's legacy HDF5
loader asks for a `Lambda`; it never runs the stored bytecode, and any other `Lambda` is handed to
Keras unchanged. Importing this module registers it under the name `Lambda` in Keras's global
custom-object dictionary (`keras.saving.get_custom_objects()`), which only the legacy `.h5` / JSON
loaders consult by bare class name; the native `.keras` format is not affected.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
from keras import ops

IDENTITY_LAYER_NAME = "identity_layer"
MEAN_LAYER_NAME = "input_mean_normalization"
STDDEV_LAYER_NAME = "input_stddev_normalization"
CHANNEL_SWAP_LAYER_NAME = "input_channel_swap"

_PACKAGE = "ssd_keras"


def _as_nested_floats(value: Any, argument: str) -> float | list:
    """Returns `value` as a float or nested list of floats (JSON-friendly), or raises."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"`{argument}` must be a number or a sequence of numbers, got {value!r}."
        ) from error
    return array.tolist()


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InputMeanNormalization(keras.layers.Layer):
    """Subtracts a constant mean from the input: `y = x - mean`.

    Args:
        mean: float or nested sequence of floats, broadcastable against the input
            (for instance one value per channel, in the channel order of the input).
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: image tensor `(batch, height, width, channels)`.

    Returns:
        Tensor of the same shape as `inputs`.
    """

    def __init__(self, mean: float | list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.mean = _as_nested_floats(mean, "mean")

    def build(self, input_shape: tuple) -> None:
        self._mean = np.asarray(self.mean, dtype=self.compute_dtype)
        self.built = True

    def call(self, inputs):
        return inputs - ops.convert_to_tensor(self._mean, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"mean": self.mean})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InputStddevNormalization(keras.layers.Layer):
    """Divides the input by a constant standard deviation: `y = x / stddev`.

    Args:
        stddev: float or nested sequence of floats, broadcastable against the input.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: image tensor `(batch, height, width, channels)`.

    Returns:
        Tensor of the same shape as `inputs`.
    """

    def __init__(self, stddev: float | list, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stddev = _as_nested_floats(stddev, "stddev")

    def build(self, input_shape: tuple) -> None:
        self._stddev = np.asarray(self.stddev, dtype=self.compute_dtype)
        self.built = True

    def call(self, inputs):
        return inputs / ops.convert_to_tensor(self._stddev, dtype=inputs.dtype)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"stddev": self.stddev})
        return config


@keras.saving.register_keras_serializable(package=_PACKAGE)
class InputChannelSwap(keras.layers.Layer):
    """Reorders the channels of the input: output channel `i` is input channel `swap_channels[i]`.

    With `swap_channels=[2, 1, 0]` an RGB image becomes BGR.

    Args:
        swap_channels: sequence of 3 or 4 channel indices.
        **kwargs: standard layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: image tensor `(batch, height, width, channels)`.

    Returns:
        Tensor `(batch, height, width, len(swap_channels))`.

    Raises:
        ValueError: if `swap_channels` does not hold 3 or 4 integers.
    """

    def __init__(self, swap_channels: list | tuple, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(swap_channels, (str, bytes)) or not hasattr(swap_channels, "__len__"):
            raise ValueError(
                "`swap_channels` must be a sequence of 3 or 4 channel indices, "
                f"got {swap_channels!r}."
            )
        if len(swap_channels) not in (3, 4):
            raise ValueError(
                "`swap_channels` must hold 3 or 4 channel indices, "
                f"got {len(swap_channels)}: {list(swap_channels)!r}."
            )
        self.swap_channels = [int(index) for index in swap_channels]

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[-1]
        if channels is not None and any(i < 0 or i >= channels for i in self.swap_channels):
            raise ValueError(
                f"`swap_channels`={self.swap_channels} refers to a channel outside the "
                f"{channels} channels of the input."
            )
        self.built = True

    def call(self, inputs):
        return ops.take(inputs, self.swap_channels, axis=-1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*tuple(input_shape)[:-1], len(self.swap_channels))

    def get_config(self) -> dict:
        config = super().get_config()
        config.update({"swap_channels": list(self.swap_channels)})
        return config


def build_preprocessing_layer(name: str, closure_values: list | tuple | None) -> keras.layers.Layer:
    """Builds the layer that replaces one of the old library's pre-processing `Lambda` layers.

    Args:
        name: the `Lambda` layer's name, one of `identity_layer`, `input_mean_normalization`,
            `input_stddev_normalization`, `input_channel_swap`.
        closure_values: the values the old `Lambda` function had captured (as stored in the
            `.h5` file): nothing for the identity, else exactly one value (the mean, the standard
            deviation or the channel order).

    Returns:
        An unbuilt layer with the same name.

    Raises:
        ValueError: unknown name, or closure values that do not fit the layer.
    """
    values = list(closure_values or [])
    if name == IDENTITY_LAYER_NAME:
        if values:
            raise ValueError(f"Layer '{name}' should capture no values, found {values!r}.")
        return keras.layers.Identity(name=name)
    factories = {
        MEAN_LAYER_NAME: InputMeanNormalization,
        STDDEV_LAYER_NAME: InputStddevNormalization,
        CHANNEL_SWAP_LAYER_NAME: InputChannelSwap,
    }
    if name not in factories:
        raise ValueError(
            f"'{name}' is not one of the SSD pre-processing layers "
            f"{[IDENTITY_LAYER_NAME, *factories]}."
        )
    if len(values) != 1:
        raise ValueError(
            f"Layer '{name}' should capture exactly one value, found {len(values)}: {values!r}."
        )
    return factories[name](values[0], name=name)


PREPROCESSING_LAYER_NAMES = (
    IDENTITY_LAYER_NAME,
    MEAN_LAYER_NAME,
    STDDEV_LAYER_NAME,
    CHANNEL_SWAP_LAYER_NAME,
)


def _legacy_closure(config: dict) -> tuple[bool, list | None]:
    """Finds the captured values in a legacy `Lambda` config: `(found, values)`."""
    function = config.get("function")
    # Keras 3's legacy loader turns the stored [code, defaults, closure] list into this dict.
    if isinstance(function, dict) and function.get("class_name") == "__lambda__":
        return True, function.get("config", {}).get("closure")
    if isinstance(function, (list, tuple)) and len(function) == 3:
        return True, function[2]
    return False, None


class LegacyPreprocessingLambda:
    """Resolves `Lambda` layers while Keras's legacy loader rebuilds a model.

    The four pre-processing `Lambda` layers of the old library (recognised by their layer names
    and their stored closure values) become the registered layers of this module; the stored
    bytecode is ignored. Every other `Lambda` config goes to `keras.layers.Lambda.from_config`
    untouched, so its usual `safe_mode` rules apply.
    """

    @classmethod
    def from_config(cls, config: dict, custom_objects: dict | None = None) -> keras.layers.Layer:
        """Builds the layer described by a legacy `Lambda` config.

        Args:
            config: the layer config as the legacy loader passes it.
            custom_objects: forwarded to `keras.layers.Lambda.from_config` for other Lambdas.

        Returns:
            A Keras layer.
        """
        found, closure = _legacy_closure(config)
        if found and config.get("name") in PREPROCESSING_LAYER_NAMES:
            return build_preprocessing_layer(config["name"], closure)
        return keras.layers.Lambda.from_config(config, custom_objects=custom_objects)


def register_legacy_lambda() -> None:
    """Makes Keras's legacy `.h5` loader rebuild the old pre-processing `Lambda` layers.

    Called when this module is imported; calling it again is harmless.
    """
    keras.saving.get_custom_objects()["Lambda"] = LegacyPreprocessingLambda


register_legacy_lambda()
