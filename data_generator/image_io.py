"""Reading image files into uint8 arrays for the data generator.

Images are decoded with OpenCV (`cv2.imdecode`), which is several times faster than the PIL path
of the original library, and converted to the channel order PIL produced: RGB for colour images,
RGBA for images with alpha, a 2-D array for greyscale images. EXIF orientation is ignored, as PIL
ignored it. Formats OpenCV cannot decode (or decodes to more than 8 bits) fall back to PIL.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

from data_generator.dataset_errors import ImageDecodeError, MissingFileError

_TO_PIL_ORDER = {3: cv2.COLOR_BGR2RGB, 4: cv2.COLOR_BGRA2RGBA}
_JPEG_END_OF_IMAGE = b"\xff\xd9"
_JPEG_TAIL_SEARCH = 1024  # bytes at the end of a JPEG file searched for the end-of-image marker


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Reads one image file.

    Args:
        path: Path of the image file.

    Returns:
        The image as a uint8 array of shape `(height, width, 3)` in RGB order, `(height, width, 4)`
        in RGBA order or `(height, width)` for greyscale images.

    Raises:
        MissingFileError: If the file does not exist.
        ImageDecodeError: If the file cannot be decoded as an image.
    """
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except FileNotFoundError:
        raise MissingFileError(f"Image file not found: '{os.fspath(path)}'.") from None
    except IsADirectoryError:
        raise MissingFileError(
            f"Image path is a directory, not a file: '{os.fspath(path)}'."
        ) from None
    if _is_truncated_jpeg(data):
        raise ImageDecodeError(
            f"Cannot decode image file '{os.fspath(path)}': the JPEG data is truncated "
            "(no end-of-image marker)."
        )
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if image is None or image.dtype != np.uint8:
        return _read_with_pil(path)
    if image.ndim == 3 and image.shape[2] in _TO_PIL_ORDER:
        image = cv2.cvtColor(image, _TO_PIL_ORDER[image.shape[2]])
    return image


def _is_truncated_jpeg(data: np.ndarray) -> bool:
    """True for JPEG data without an end-of-image marker near its end (OpenCV decodes those
    silently into a partly grey image)."""
    if data.size < 4 or data[0] != 0xFF or data[1] != 0xD8:
        return False
    tail = data[-_JPEG_TAIL_SEARCH:].tobytes()
    return _JPEG_END_OF_IMAGE not in tail


def _read_with_pil(path: str | os.PathLike) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return np.array(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
        raise ImageDecodeError(
            f"Cannot decode image file '{os.fspath(path)}': the file is corrupt or not an image "
            f"({error})."
        ) from None


def to_three_channels(image: np.ndarray) -> np.ndarray:
    """Returns an `(height, width, 3)` version of `image`.

    Greyscale images (2-D or one channel) are repeated three times along the channel axis, an
    alpha channel is dropped; three-channel images are returned unchanged.
    """
    if image.ndim == 2:
        return np.stack([image] * 3, axis=-1)
    if image.shape[2] == 1:
        return np.concatenate([image] * 3, axis=-1)
    if image.shape[2] == 4:
        return image[:, :, :3]
    return image
