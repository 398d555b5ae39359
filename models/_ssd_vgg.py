"""The VGG-16 based SSD network shared by SSD300 and SSD512.

Both models use the same reduced VGG-16 base (conv1_1 ... conv5_3, pool5 3x3/1, dilated fc6, fc7,
an L2-normalised conv4_3) and differ only in their extra feature layers, which are described by
a tuple of `ExtraBlock`s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import keras

from keras_layers.keras_layer_L2Normalization import L2Normalization
from models._ssd_common import VGG_HEAD_NAMES, apply_checked, build_ssd, conv2d

# (block index, number of 3x3 convolutions, filters) of the VGG-16 base.
_VGG_BLOCKS = ((1, 2, 64), (2, 2, 128), (3, 3, 256), (4, 3, 512), (5, 3, 512))
_L2_NORM_GAMMA_INIT = 20


@dataclass(frozen=True)
class ExtraBlock:
    """One extra feature block: `conv{index}_1` (1x1) -> [`conv{index}_padding`] -> `conv{index}_2`.

    Attributes:
        index: the block number in the layer names.
        reduce_filters: filters of the 1x1 convolution.
        filters: filters of the second convolution, which is a predictor source.
        kernel_size: kernel of the second convolution (always 'valid' padding).
        strides: stride of the second convolution.
        padded: whether a 1-pixel `ZeroPadding2D` precedes the second convolution.
    """

    index: int
    reduce_filters: int
    filters: int
    kernel_size: int
    strides: int
    padded: bool


SSD300_EXTRAS = (
    ExtraBlock(6, 256, 512, 3, 2, True),
    ExtraBlock(7, 128, 256, 3, 2, True),
    ExtraBlock(8, 128, 256, 3, 1, False),
    ExtraBlock(9, 128, 256, 3, 1, False),
)
SSD512_EXTRAS = (
    ExtraBlock(6, 256, 512, 3, 2, True),
    ExtraBlock(7, 128, 256, 3, 2, True),
    ExtraBlock(8, 128, 256, 3, 2, True),
    ExtraBlock(9, 128, 256, 3, 2, True),
    ExtraBlock(10, 128, 256, 4, 1, True),
)


def _vgg_base(x, l2_reg: float, image_size):
    """conv1_1 ... conv5_3 with pools, then pool5, fc6, fc7. Returns `(conv4_3, fc7)`."""
    conv4_3 = None
    for block, n_convs, filters in _VGG_BLOCKS:
        for k in range(1, n_convs + 1):
            layer = conv2d(filters, 3, f"conv{block}_{k}", l2_reg, activation="relu")
            x = apply_checked(layer, x, image_size)
        if block == 4:
            conv4_3 = x
        if block < 5:
            pool = keras.layers.MaxPooling2D(2, strides=2, padding="same", name=f"pool{block}")
            x = apply_checked(pool, x, image_size)
    x = keras.layers.MaxPooling2D(3, strides=1, padding="same", name="pool5")(x)
    x = conv2d(1024, 3, "fc6", l2_reg, dilation_rate=6, activation="relu")(x)
    fc7 = conv2d(1024, 1, "fc7", l2_reg, activation="relu")(x)
    return conv4_3, fc7


def _extra_block(x, block: ExtraBlock, l2_reg: float, image_size):
    x = conv2d(block.reduce_filters, 1, f"conv{block.index}_1", l2_reg, activation="relu")(x)
    if block.padded:
        padding = keras.layers.ZeroPadding2D(((1, 1), (1, 1)), name=f"conv{block.index}_padding")
        x = padding(x)
    second = conv2d(
        block.filters,
        block.kernel_size,
        f"conv{block.index}_2",
        l2_reg,
        strides=block.strides,
        padding="valid",
        activation="relu",
    )
    return apply_checked(second, x, image_size)


def _vgg_backbone(x, l2_reg: float, image_size, extras: Sequence[ExtraBlock]) -> list:
    """Returns the `(label, tensor)` predictor sources: conv4_3_norm, fc7, conv{i}_2 ..."""
    conv4_3, x = _vgg_base(x, l2_reg, image_size)
    norm = L2Normalization(gamma_init=_L2_NORM_GAMMA_INIT, name="conv4_3_norm")(conv4_3)
    sources = [("conv4_3_norm", norm), ("fc7", x)]
    for block in extras:
        x = _extra_block(x, block, l2_reg, image_size)
        sources.append((f"conv{block.index}_2", x))
    return sources


def build_ssd_vgg(extras: Sequence[ExtraBlock], **builder_args):
    """Builds an SSD300- or SSD512-style model.

    Args:
        extras: the extra feature blocks after fc7 (`SSD300_EXTRAS` or `SSD512_EXTRAS`); the
            model has `2 + len(extras)` predictor layers.
        **builder_args: every argument of `keras_ssd300.ssd_300`, by name.

    Returns:
        As `keras_ssd300.ssd_300`.
    """
    backbone = partial(_vgg_backbone, extras=tuple(extras))
    return build_ssd(backbone, 2 + len(extras), VGG_HEAD_NAMES, **builder_args)
