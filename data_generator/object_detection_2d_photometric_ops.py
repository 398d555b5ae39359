"""Photometric image transformations for object detection.

Every transformation is a callable `op(image, labels=None)` that returns the new image, or
`(image, labels)` when labels are given (the labels pass through unchanged; photometric ops do
not move boxes and have no inverters). Images are `(H, W, C)` arrays (`ConvertTo3Channels`
and `ConvertColor` also take `(H, W)`) with pixel values on the 0-255 scale.

Each `Random*` class fires with probability `prob` (a draw `U(0, 1) >= 1 - prob` from the
global numpy RNG), then draws its parameters with `draw_params()` and applies its deterministic
counterpart with them, in the same order of random draws as the original library.

Data types: `Brightness` and `Contrast` return a float image (float inputs keep their dtype,
integer inputs become `float32`); `Saturation`, `Hue`, `Gamma`,
`HistogramEqualization` and `ChannelSwap` keep the input dtype (integer results are
truncated, like the original's in-place assignment). No op modifies its input array.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from data_generator._op_utils import check_probability, check_range, happens, pack, randint, uniform

_COLOR_SPACES_IN = ("RGB", "HSV")
_COLOR_SPACES_OUT = ("RGB", "HSV", "GRAY")
# Channels of an HSV image.
_HUE, _SATURATION, _VALUE = 0, 1, 2
# OpenCV's HSV hue range for 8-bit images is [0, 180).
_HUE_PERIOD = 180.0
_CONTRAST_PIVOT = 127.5
_MAX_VALUE = 255


def _working_float(array: np.ndarray) -> np.ndarray:
    """`array` itself when it is a float array, else a `float32` copy."""
    return array if np.issubdtype(array.dtype, np.floating) else array.astype(np.float32)


def _as_dtype_of(array: np.ndarray, value: float) -> Any:
    """`value` as a scalar of `array`'s float dtype, so arithmetic stays in that dtype."""
    return array.dtype.type(value)


class ConvertColor:
    """Converts between the RGB, HSV and grayscale colour spaces with OpenCV.

    Args:
        current: colour space of the input, `'RGB'` or `'HSV'`.
        to: target colour space, `'RGB'`, `'HSV'` or `'GRAY'`.
        keep_3ch: for `'GRAY'`, stack the gray channel three times (`(H, W, 3)` output)
            instead of returning `(H, W)`.

    Converting a space to itself returns the image unchanged. HSV follows OpenCV: for 8-bit
    images H is in [0, 180) and S, V in [0, 255]; `float32` images get H in [0, 360).

    Raises:
        NotImplementedError: for any other pair of colour spaces (as the original).
    """

    def __init__(self, current: str = "RGB", to: str = "HSV", keep_3ch: bool = True) -> None:
        if current not in _COLOR_SPACES_IN or to not in _COLOR_SPACES_OUT:
            raise NotImplementedError(
                f"ConvertColor supports `current` in {_COLOR_SPACES_IN} and `to` in "
                f"{_COLOR_SPACES_OUT}, got current={current!r}, to={to!r}."
            )
        self.current = current
        self.to = to
        self.keep_3ch = keep_3ch

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Converts `image` (`(H, W, 3)`); returns it, or `(image, labels)`."""
        if self.current != self.to:
            image = self._convert(image)
        return pack(image, labels)

    def _convert(self, image: np.ndarray) -> np.ndarray:
        if self.to == "GRAY":
            rgb = image if self.current == "RGB" else _cvt_color(image, cv2.COLOR_HSV2RGB)
            gray = _cvt_color(rgb, cv2.COLOR_RGB2GRAY)
            return np.stack([gray] * 3, axis=-1) if self.keep_3ch else gray
        code = cv2.COLOR_RGB2HSV if self.to == "HSV" else cv2.COLOR_HSV2RGB
        return _cvt_color(image, code)


def _cvt_color(image: np.ndarray, code: int) -> np.ndarray:
    """`cv2.cvtColor` that also accepts dtypes OpenCV lacks (computed in float32)."""
    if image.dtype in (np.uint8, np.uint16, np.float32):
        return cv2.cvtColor(image, code)
    return cv2.cvtColor(image.astype(np.float32), code).astype(image.dtype)


class ConvertDataType:
    """Converts an image to `uint8` (rounded half to even) or to `float32`.

    Args:
        to: `'uint8'` or `'float32'`.

    Values outside [0, 255] are clipped before the conversion to `uint8` (the original's
    cast left them undefined).

    Raises:
        ValueError: if `to` is neither.
    """

    def __init__(self, to: str = "uint8") -> None:
        if to not in ("uint8", "float32"):
            raise ValueError(f"`to` must be 'uint8' or 'float32', got {to!r}.")
        self.to = to

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Converts `image`; returns it, or `(image, labels)`."""
        if self.to == "uint8":
            image = _to_uint8(image)
        else:
            image = image.astype(np.float32)
        return pack(image, labels)


def _to_uint8(image: np.ndarray) -> np.ndarray:
    if image.dtype == np.uint8:
        return image.copy()
    rounded = np.rint(image)
    np.clip(rounded, 0, _MAX_VALUE, out=rounded)
    return rounded.astype(np.uint8)


class ConvertTo3Channels:
    """Makes an image 3-channel: `(H, W)` and `(H, W, 1)` are repeated, RGBA loses alpha.

    Other images are returned unchanged.
    """

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the 3-channel image, or `(image, labels)`."""
        if image.ndim == 2:
            image = np.stack([image] * 3, axis=-1)
        elif image.ndim == 3 and image.shape[2] == 1:
            image = np.concatenate([image] * 3, axis=-1)
        elif image.ndim == 3 and image.shape[2] == 4:
            image = image[:, :, :3]
        return pack(image, labels)


class Hue:
    """Shifts the hue channel of an HSV image: `H = (H + delta) mod 180`.

    Args:
        delta: hue shift in OpenCV hue units (degrees / 2), in [-180, 180].

    Raises:
        ValueError: if `delta` is outside [-180, 180].
    """

    def __init__(self, delta: float) -> None:
        if not -180 <= delta <= 180:
            raise ValueError(f"`delta` must be in [-180, 180], got {delta!r}.")
        self.delta = delta

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the shifted `(H, W, 3)` HSV image, or `(image, labels)`."""
        hue = _working_float(image[:, :, _HUE])
        shifted = (hue + _as_dtype_of(hue, self.delta)) % _HUE_PERIOD
        return pack(_with_channel(image, _HUE, shifted), labels)


def _with_channel(image: np.ndarray, channel: int, values: np.ndarray) -> np.ndarray:
    """A copy of `image` whose `channel` holds `values` (cast to the image dtype)."""
    out = image.copy()
    out[:, :, channel] = values
    return out


class _RandomOp:
    """Base of the random photometric ops: fire with `prob`, draw, apply `self._op`."""

    prob: float
    _op: Any

    def draw_params(self) -> dict[str, Any]:
        """Draws the deterministic op's parameters (after the probability check)."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Applies the op with probability `prob`; returns the image, or `(image, labels)`."""
        if not happens(self.prob):
            return pack(image, labels)
        for name, value in self.draw_params().items():
            setattr(self._op, name, value)
        return self._op(image, labels)


class _RandomRangeOp(_RandomOp):
    """A random op whose single parameter `parameter` is drawn from `U(lower, upper)`.

    Subclasses name the parameter and the attribute that holds their deterministic op (the
    original library's attribute names, kept for code that reaches into them).
    """

    parameter: str
    op_attribute: str

    def _set_range(self, lower: float, upper: float, prob: float, op: Any) -> None:
        check_range("lower", lower, "upper", upper)
        check_probability("prob", prob)
        self.lower = lower
        self.upper = upper
        self.prob = prob
        setattr(self, self.op_attribute, op)

    @property
    def _op(self) -> Any:
        return getattr(self, self.op_attribute)

    def draw_params(self) -> dict[str, Any]:
        """`{parameter: U(lower, upper)}`."""
        return {self.parameter: uniform(self.lower, self.upper)}


class RandomHue(_RandomOp):
    """`Hue` with `delta ~ U(-max_delta, max_delta)`, applied with probability `prob`.

    Args:
        max_delta: largest absolute hue shift, in [0, 180].
        prob: probability of applying the shift.

    Raises:
        ValueError: if `max_delta` is outside [0, 180] or `prob` outside [0, 1].
    """

    def __init__(self, max_delta: float = 18, prob: float = 0.5) -> None:
        if not 0 <= max_delta <= 180:
            raise ValueError(f"`max_delta` must be in [0, 180], got {max_delta!r}.")
        check_probability("prob", prob)
        self.max_delta = max_delta
        self.prob = prob
        self.change_hue = Hue(delta=0)

    @property
    def _op(self) -> Hue:
        return self.change_hue

    def draw_params(self) -> dict[str, Any]:
        """`{'delta': U(-max_delta, max_delta)}`."""
        return {"delta": uniform(-self.max_delta, self.max_delta)}


class Saturation:
    """Scales the saturation channel of an HSV image: `S = clip(S * factor, 0, 255)`.

    Args:
        factor: positive scaling factor.

    Raises:
        ValueError: if `factor <= 0`.
    """

    def __init__(self, factor: float) -> None:
        if factor <= 0.0:
            raise ValueError(f"`factor` must be > 0, got {factor!r}.")
        self.factor = factor

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the rescaled `(H, W, 3)` HSV image, or `(image, labels)`."""
        saturation = _working_float(image[:, :, _SATURATION])
        scaled = np.clip(saturation * _as_dtype_of(saturation, self.factor), 0, _MAX_VALUE)
        return pack(_with_channel(image, _SATURATION, scaled), labels)


class RandomSaturation(_RandomRangeOp):
    """`Saturation` with `factor ~ U(lower, upper)`, applied with probability `prob`.

    Raises:
        ValueError: if `lower >= upper` or `prob` is outside [0, 1].
    """

    parameter = "factor"
    op_attribute = "change_saturation"

    def __init__(self, lower: float = 0.3, upper: float = 2.0, prob: float = 0.5) -> None:
        self._set_range(lower, upper, prob, Saturation(factor=1.0))


class Brightness:
    """Adds a constant to every pixel: `clip(image + delta, 0, 255)`.

    Args:
        delta: value added to every channel of every pixel.
    """

    def __init__(self, delta: float) -> None:
        self.delta = delta

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the float image (see the module docstring), or `(image, labels)`."""
        image = _working_float(image)
        out = image + _as_dtype_of(image, self.delta)
        np.clip(out, 0, _MAX_VALUE, out=out)
        return pack(out, labels)


class RandomBrightness(_RandomRangeOp):
    """`Brightness` with `delta ~ U(lower, upper)`, applied with probability `prob`.

    Raises:
        ValueError: if `lower >= upper` or `prob` is outside [0, 1].
    """

    parameter = "delta"
    op_attribute = "change_brightness"

    def __init__(self, lower: float = -84, upper: float = 84, prob: float = 0.5) -> None:
        self._set_range(float(lower), float(upper), prob, Brightness(delta=0))


class Contrast:
    """Scales every pixel around mid-gray: `clip(127.5 + factor * (image - 127.5), 0, 255)`.

    Args:
        factor: positive contrast factor.

    Raises:
        ValueError: if `factor <= 0`.
    """

    def __init__(self, factor: float) -> None:
        if factor <= 0.0:
            raise ValueError(f"`factor` must be > 0, got {factor!r}.")
        self.factor = factor

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the float image (see the module docstring), or `(image, labels)`."""
        image = _working_float(image)
        pivot = _as_dtype_of(image, _CONTRAST_PIVOT)
        out = image - pivot
        out *= _as_dtype_of(image, self.factor)
        out += pivot
        np.clip(out, 0, _MAX_VALUE, out=out)
        return pack(out, labels)


class RandomContrast(_RandomRangeOp):
    """`Contrast` with `factor ~ U(lower, upper)`, applied with probability `prob`.

    Raises:
        ValueError: if `lower >= upper` or `prob` is outside [0, 1].
    """

    parameter = "factor"
    op_attribute = "change_contrast"

    def __init__(self, lower: float = 0.5, upper: float = 1.5, prob: float = 0.5) -> None:
        self._set_range(lower, upper, prob, Contrast(factor=1.0))


class Gamma:
    """Gamma correction: `255 * (image / 255) ** (1 / gamma)`.

    `uint8` images go through the 256-entry look-up table `table` (entries truncated to
    integers, as the original); float images use the formula directly (after clipping to
    [0, 255]) and keep their dtype.

    Args:
        gamma: positive gamma value.

    Raises:
        ValueError: if `gamma <= 0`.
    """

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma

    @property
    def gamma(self) -> float:
        """The gamma value; setting it rebuilds `gamma_inv` and `table`."""
        return self._gamma

    @gamma.setter
    def gamma(self, gamma: float) -> None:
        if gamma <= 0.0:
            raise ValueError(f"`gamma` must be > 0, got {gamma!r}.")
        self._gamma = gamma
        self.gamma_inv = 1.0 / gamma
        levels = np.arange(0, 256) / 255.0
        self.table = ((levels**self.gamma_inv) * 255).astype(np.uint8)

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the corrected image, or `(image, labels)`."""
        if image.dtype == np.uint8:
            return pack(self.table[image], labels)
        values = np.clip(_working_float(image), 0, _MAX_VALUE) / _MAX_VALUE
        corrected = (values**self.gamma_inv) * _MAX_VALUE
        return pack(corrected.astype(image.dtype, copy=False), labels)


class RandomGamma(_RandomRangeOp):
    """`Gamma` with `gamma ~ U(lower, upper)`, applied with probability `prob`.

    Raises:
        ValueError: if `lower >= upper`, `lower <= 0` or `prob` is outside [0, 1].
    """

    parameter = "gamma"
    op_attribute = "change_gamma"

    def __init__(self, lower: float = 0.25, upper: float = 2.0, prob: float = 0.5) -> None:
        if lower <= 0:
            raise ValueError(f"`lower` must be > 0, got {lower!r}.")
        self._set_range(lower, upper, prob, Gamma(gamma=1.0))


class HistogramEqualization:
    """Equalizes the histogram of channel 2 (the V channel of an HSV image) with OpenCV.

    Float images are rounded to 8 bits for the equalization and keep their dtype.
    """

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the equalized `(H, W, 3)` image, or `(image, labels)`."""
        value = np.ascontiguousarray(_to_uint8(image[:, :, _VALUE]))
        return pack(_with_channel(image, _VALUE, cv2.equalizeHist(value)), labels)


class RandomHistogramEqualization(_RandomOp):
    """`HistogramEqualization` applied with probability `prob`.

    Raises:
        ValueError: if `prob` is outside [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        check_probability("prob", prob)
        self.prob = prob
        self.equalize = HistogramEqualization()

    @property
    def _op(self) -> HistogramEqualization:
        return self.equalize

    def draw_params(self) -> dict[str, Any]:
        """No parameters: `{}`."""
        return {}


class ChannelSwap:
    """Reorders the channels: `image[:, :, order]`.

    Args:
        order: sequence of channel indices, e.g. `(2, 1, 0)` for RGB to BGR.

    Raises:
        ValueError: if `order` is not a sequence of ints.
    """

    def __init__(self, order: Sequence[int]) -> None:
        if not isinstance(order, (list, tuple, np.ndarray)) or not all(
            isinstance(index, (int, np.integer)) for index in order
        ):
            raise ValueError(f"`order` must be a sequence of channel indices, got {order!r}.")
        self.order = order

    def __call__(self, image: np.ndarray, labels: np.ndarray | None = None) -> Any:
        """Returns the reordered image, or `(image, labels)`."""
        return pack(image[:, :, list(self.order)], labels)


class RandomChannelSwap(_RandomOp):
    """`ChannelSwap` with one of the five non-identity orders of 3 channels, with `prob`.

    Raises:
        ValueError: if `prob` is outside [0, 1].
    """

    def __init__(self, prob: float = 0.5) -> None:
        check_probability("prob", prob)
        self.prob = prob
        self.permutations = ((0, 2, 1), (1, 0, 2), (1, 2, 0), (2, 0, 1), (2, 1, 0))
        self.swap_channels = ChannelSwap(order=(0, 1, 2))

    @property
    def _op(self) -> ChannelSwap:
        return self.swap_channels

    def draw_params(self) -> dict[str, Any]:
        """`{'order': one of permutations}` drawn with `np.random.randint(5)`."""
        return {"order": self.permutations[randint(len(self.permutations))]}
