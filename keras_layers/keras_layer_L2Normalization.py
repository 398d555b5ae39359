"""The `L2Normalization` layer used on SSD's `conv4_3` features."""

from __future__ import annotations

import keras
from keras import ops

# Lower bound of the squared L2 norm, which keeps all-zero feature vectors finite.
_MIN_SQUARED_NORM = 1e-12


@keras.saving.register_keras_serializable(package="ssd_keras")
class L2Normalization(keras.layers.Layer):
    """Scales every feature vector to unit L2 norm along the channels, then by a learned `gamma`.

    `y = x / sqrt(max(sum_c x_c^2, 1e-12)) * gamma`, with one trainable scale per channel.

    Args:
        gamma_init: float. Initial value of every entry of `gamma`. Defaults to `20`.
        **kwargs: Standard `keras.layers.Layer` arguments such as `name`.

    Call arguments:
        x: Tensor `(batch, height, width, channels)` (channels last).

    Returns:
        Tensor of the same shape as `x`.

    Example:
        >>> import numpy as np
        >>> layer = L2Normalization(gamma_init=2)
        >>> y = keras.ops.convert_to_numpy(layer(np.array([[[[3.0, 4.0]]]], "float32")))
        >>> y.astype(float).round(4).tolist()
        [[[[1.2, 1.6]]]]

    Reference:
        Liu, Rabinovich, Berg, "ParseNet: Looking Wider to See Better", 2015.
    """

    def __init__(self, gamma_init: float = 20, **kwargs):
        super().__init__(**kwargs)
        self.gamma_init = gamma_init

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(
                "L2Normalization needs a known number of channels (last axis), but received "
                f"input_shape={input_shape}."
            )
        self.gamma = self.add_weight(
            name="gamma",
            shape=(channels,),
            initializer=keras.initializers.Constant(self.gamma_init),
            trainable=True,
        )

    def call(self, x):
        squared_norm = ops.sum(ops.square(x), axis=-1, keepdims=True)
        return x * ops.rsqrt(ops.maximum(squared_norm, _MIN_SQUARED_NORM)) * self.gamma

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update({"gamma_init": self.gamma_init})
        return config
