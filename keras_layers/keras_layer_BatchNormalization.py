"""`BatchNormalization`: `keras.layers.BatchNormalization` that trains with one fused kernel.

The class keeps Keras's name so that weight files, which Keras keys by class name
(`layers/batch_normalization/...` in `.weights.h5` and `.keras`), stay interchangeable between
SSD7 models built with this layer and with Keras's own. It is registered as
`ssd_keras>BatchNormalization`.
"""

from __future__ import annotations

import keras
from keras import ops

from keras_layers import _fused_kernels


@keras.saving.register_keras_serializable(package="ssd_keras")
class BatchNormalization(keras.layers.BatchNormalization):
    """Batch normalization with the same arguments, weights and results as Keras's, trained faster.

    A drop-in subclass of `keras.layers.BatchNormalization`: the constructor arguments,
    `get_config()`, the four weights (`gamma`, `beta`, `moving_mean`, `moving_variance`, in that
    order) and the inference computation are Keras's own. Only a training-mode call of a
    channels-last image tensor on the TensorFlow backend differs in how it is computed: it runs
    TensorFlow's fused batch-normalization kernel (one kernel forward and one backward instead
    of about ten separate ones), then updates the moving averages exactly as Keras does, with the
    biased batch variance. Everything else (other backends, where the compiler fuses the Keras
    computation itself; masks; `renorm`; `synchronized`; other ranks or axes) is handled by
    `keras.layers.BatchNormalization.call`.

    SSD7 uses it for its seven `bn` layers; with Keras's computation, the batch normalization of
    SSD7's 300x480 first block alone took about 40% of a float32 training step, see
    `benchmarks/bench_demo_training.py`.

    Args:
        **kwargs: Exactly those of `keras.layers.BatchNormalization` (`axis`, `momentum`,
            `epsilon`, `center`, `scale`, initializers, regularizers, constraints, `renorm`,
            `synchronized`, `name`, ...).

    Call arguments:
        inputs: Tensor of any rank; the fused path takes `(batch, height, width, channels)`
            normalized along `channels` (`axis=3` or `-1`).
        training: bool. Batch statistics and moving-average updates when True (and the layer is
            trainable), the moving statistics otherwise.
        mask: Optional mask, as for `keras.layers.BatchNormalization`.

    Returns:
        Tensor of the shape of `inputs`, in the layer's compute dtype.

    Example:
        >>> import numpy as np
        >>> layer = BatchNormalization(axis=3, momentum=0.99)
        >>> x = np.arange(16, dtype="float32").reshape(2, 2, 2, 2)
        >>> y = keras.ops.convert_to_numpy(layer(x, training=True))
        >>> np.abs(y.mean(axis=(0, 1, 2))).max() < 1e-6
        np.True_
    """

    def call(self, inputs, training=None, mask=None):
        if training and self.trainable and self._can_fuse(inputs, mask):
            return self._fused_training_call(inputs)
        return super().call(inputs, training=training, mask=mask)

    def _can_fuse(self, inputs, mask) -> bool:
        ndim = len(inputs.shape)
        return (
            mask is None
            and not self.renorm
            and not self.synchronized
            and _fused_kernels.fused_batch_norm_available(
                ndim, self.axis % ndim, keras.backend.standardize_dtype(inputs.dtype), self.epsilon
            )
        )

    def _fused_training_call(self, inputs):
        channels = inputs.shape[-1]
        scale = self.gamma if self.scale else ops.ones((channels,), "float32")
        offset = self.beta if self.center else ops.zeros((channels,), "float32")
        outputs, mean, variance = _fused_kernels.fused_batch_norm_training(
            inputs, ops.cast(scale, "float32"), ops.cast(offset, "float32"), self.epsilon
        )
        self._update_moving_statistics(mean, variance)
        return ops.cast(outputs, self.compute_dtype)

    def _update_moving_statistics(self, mean, variance) -> None:
        momentum = self.momentum
        for moving, batch in ((self.moving_mean, mean), (self.moving_variance, variance)):
            batch = ops.cast(batch, moving.dtype)
            moving.assign(moving * momentum + batch * (1.0 - momentum))
