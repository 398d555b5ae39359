"""Tests of the OpenCV image reader against the PIL path of the original library."""

from __future__ import annotations

import cv2
import golden_replay
import numpy as np
import pytest
from PIL import Image

from data_generator.image_io import read_image, to_three_channels
from data_generator.object_detection_2d_data_generator import (
    DatasetError,
    ImageDecodeError,
    MissingFileError,
)

JPEG_TOLERANCE = 3  # grey levels, the golden README's tolerance for JPEG-decoded images
IMAGES = sorted((golden_replay.GOLDEN_DIR / "dataset" / "JPEGImages").glob("*.jpg"))


def _pil(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.array(image, dtype=np.uint8)


@pytest.mark.parametrize("path", IMAGES, ids=lambda path: path.name)
def test_jpeg_pixels_match_pil(path):
    got, want = read_image(path), _pil(path)
    assert got.shape == want.shape == (300, 480, 3)
    assert got.dtype == np.uint8
    assert np.abs(got.astype(int) - want).max() <= JPEG_TOLERANCE


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P"])
def test_png_modes_match_pil(tmp_path, mode):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(5, 7, 4), dtype=np.uint8)
    image = Image.fromarray(pixels, "RGBA").convert(mode if mode != "P" else "RGB")
    if mode == "P":
        image = image.quantize(colors=8)
    path = tmp_path / f"{mode}.png"
    image.save(path)
    got = read_image(path)
    expected = _pil(path) if mode != "P" else np.array(image.convert("RGB"))
    np.testing.assert_array_equal(got, expected)


def test_greyscale_jpeg_is_two_dimensional(tmp_path):
    path = tmp_path / "g.jpg"
    cv2.imwrite(str(path), np.full((6, 8), 128, np.uint8))
    image = read_image(path)
    assert image.shape == (6, 8)
    assert np.abs(image.astype(int) - _pil(path)).max() <= JPEG_TOLERANCE


def test_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="absent.jpg") as info:
        read_image(tmp_path / "absent.jpg")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, DatasetError)


@pytest.mark.parametrize(
    ("content", "pattern"),
    [(b"this is not an image", "corrupt or not an image"), (b"", "corrupt or not an image")],
)
def test_corrupt_file(tmp_path, content, pattern):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageDecodeError, match=rf"bad\.jpg.*{pattern}"):
        read_image(path)


def test_truncated_jpeg(tmp_path):
    data = IMAGES[0].read_bytes()
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageDecodeError, match=r"cut\.jpg.*truncated"):
        read_image(path)


def test_to_three_channels():
    gray = np.arange(6, dtype=np.uint8).reshape(2, 3)
    np.testing.assert_array_equal(to_three_channels(gray)[..., 2], gray)
    np.testing.assert_array_equal(to_three_channels(gray[..., None])[..., 1], gray)
    rgba = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    np.testing.assert_array_equal(to_three_channels(rgba), rgba[..., :3])
    rgb = rgba[..., :3]
    assert to_three_channels(rgb) is rgb
