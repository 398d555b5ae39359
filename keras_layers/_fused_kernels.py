"""Backend kernels that `keras.ops` has no single-kernel form of.

This module is the project's one deliberate exception to writing layers with `keras.ops` alone:
on the TensorFlow backend, Keras 3 computes a training-mode batch normalization from about ten
separate element-wise and reduction kernels (forward and gradient), each a full pass over the
feature map, while TensorFlow has one fused kernel for each direction. For SSD7's first block
(300x480x32 feature maps) that difference was about 40% of a float32 training step, see
`benchmarks/bench_demo_training.py`.

Every kernel here is optional: `fused_batch_norm_available(...)` says whether the running backend
has it for a given input, and callers fall back to Keras's portable computation when it does
not. Backend libraries are imported lazily, so the module imports on any Keras backend.
"""

from __future__ import annotations

import keras

# Dtypes TensorFlow's fused batch normalization accepts for its input (statistics are float32).
_FUSED_INPUT_DTYPES = ("float16", "bfloat16", "float32")
# TensorFlow's fused kernel silently raises a smaller epsilon to this value.
_FUSED_MIN_EPSILON = 1.001e-5


def fused_batch_norm_available(ndim: int, axis: int, dtype: str, epsilon: float) -> bool:
    """Whether `fused_batch_norm_training` can normalize this input on the running backend.

    Args:
        ndim: Rank of the input; the kernel takes rank-4 (batch, height, width, channels).
        axis: The normalized (channel) axis, as a non-negative index.
        dtype: The input's dtype name.
        epsilon: The layer's epsilon; values below TensorFlow's minimum would change the result.

    Returns:
        True on the TensorFlow backend for a channels-last rank-4 float input.
    """
    return (
        keras.backend.backend() == "tensorflow"
        and ndim == 4
        and axis == 3
        and dtype in _FUSED_INPUT_DTYPES
        and epsilon >= _FUSED_MIN_EPSILON
    )


def fused_batch_norm_training(x, scale, offset, epsilon: float):
    """Training-mode batch normalization over all axes but the last, in one kernel.

    Computes `y = (x - mean) / sqrt(variance + epsilon) * scale + offset` with the batch
    statistics of `x`, exactly like `keras.layers.BatchNormalization` in training mode, and is
    differentiable with respect to `x`, `scale` and `offset`.

    Args:
        x: Tensor `(batch, height, width, channels)`, float16, bfloat16 or float32.
        scale: float32 tensor `(channels,)` (gamma).
        offset: float32 tensor `(channels,)` (beta).
        epsilon: Added to the variance; at least 1.001e-5.

    Returns:
        `(y, mean, variance)`: `y` with the shape and dtype of `x`; the float32 batch mean and
        the biased (divided by the element count) batch variance per channel, the statistics
        Keras feeds into the moving averages.
    """
    import tensorflow as tf

    y, mean, unbiased_variance = tf.compat.v1.nn.fused_batch_norm(
        x, scale, offset, epsilon=epsilon, data_format="NHWC", is_training=True
    )
    # In training mode the kernel reports the Bessel-corrected variance; Keras averages the
    # biased one into `moving_variance`.
    count = tf.cast(tf.size(x) // tf.shape(x)[-1], unbiased_variance.dtype)
    variance = unbiased_variance * tf.maximum(count - 1.0, 0.0) / count
    return y, mean, variance
