"""The frame pipeline: scene, background, objects, labels, camera finish and JPEG.

`_render` samples a scene, draws the background, renders every item on its own canvas and
composites them back to front while an id map records which item owns each pixel; the id map
decides which objects are labelled (see the annotation rule in the package docstring). The
camera finish then adds haze, night lighting, glare, vignetting, gain, blur and sensor noise.
`render_scene` is the public entry for one frame in memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from data_generator.synthetic_traffic.background import _draw_background
from data_generator.synthetic_traffic.camera import _Camera
from data_generator.synthetic_traffic.canvas import _Canvas, _Item, _Patch
from data_generator.synthetic_traffic.constants import (
    _LABEL_COLUMNS,
    DIFFICULT_OCCLUDED_FRACTION,
    MIN_BOX_SIDE,
    MIN_IN_FRAME_FRACTION,
    MIN_IN_FRAME_PIXELS,
    OCCLUDED_DROP_FRACTION,
    SPLITS,
)
from data_generator.synthetic_traffic.lighting import _glow, _noise_view, _scale_rgb, _vignette
from data_generator.synthetic_traffic.scene import _sample_scene, _Scene


def _render_item(item: _Item, cam: _Camera) -> _Patch | None:
    corners = np.concatenate([f.corners() for f in item.faces])
    x0, y0 = corners.min(0)
    x1, y1 = corners.max(0)
    if x1 < 0 or y1 < 0 or x0 > cam.width or y0 > cam.height:
        return None
    if x1 - x0 > 4 * cam.width or y1 - y0 > 4 * cam.height or x1 - x0 < 0.3:
        return None
    size = max(x1 - x0, y1 - y0)
    scale = int(np.clip(math.ceil(48 / max(size, 1.0)), 1, 4))
    canvas = _Canvas(x0, y0, x1, y1, scale)
    item.paint(canvas)
    return canvas.finish()


@dataclass
class _Placed:
    class_id: int
    box: tuple  # full extent (xmin, ymin, xmax, ymax), inclusive, may exceed the image
    region: tuple  # image slice bounds (y0, y1, x0, x1) of the patch
    solid: np.ndarray  # patch pixels counted as the object
    total: int
    in_frame: int


def _composite(img, emit, ids, patch: _Patch, item_id: int, class_id: int) -> _Placed | None:
    H, W = ids.shape
    h, w = patch.alpha.shape
    solid = patch.alpha > 0.4
    total = int(solid.sum())
    if total == 0:
        return None
    y0, x0 = max(patch.y0, 0), max(patch.x0, 0)
    y1, x1 = min(patch.y0 + h, H), min(patch.x0 + w, W)
    if y1 <= y0 or x1 <= x0:
        return None
    py, px = slice(y0 - patch.y0, y1 - patch.y0), slice(x0 - patch.x0, x1 - patch.x0)
    a = patch.alpha[py, px]
    img[y0:y1, x0:x1] = img[y0:y1, x0:x1] * (1 - a[:, :, None]) + patch.rgb[py, px]
    emit[y0:y1, x0:x1] *= 1 - a
    if patch.emit is not None:
        emit[y0:y1, x0:x1] += patch.emit[py, px]
    inside = solid[py, px]
    ids[y0:y1, x0:x1][inside] = item_id
    if class_id == 0:
        return None
    rows, cols = np.flatnonzero(solid.any(1)), np.flatnonzero(solid.any(0))
    box = (patch.x0 + cols[0], patch.y0 + rows[0], patch.x0 + cols[-1], patch.y0 + rows[-1])
    return _Placed(class_id, box, (y0, y1, x0, x1), inside, total, int(inside.sum()))


def _label_row(placed: _Placed, item_id: int, ids: np.ndarray, width: int, height: int):
    """(class, xmin, ymin, xmax, ymax, truncated, difficult) or None if not annotated."""
    in_frame = placed.in_frame
    if in_frame < MIN_IN_FRAME_FRACTION * placed.total and in_frame < MIN_IN_FRAME_PIXELS:
        return None
    y0, y1, x0, x1 = placed.region
    visible = int(np.count_nonzero(ids[y0:y1, x0:x1][placed.solid] == item_id))
    hidden = 1.0 - visible / placed.in_frame
    if hidden > OCCLUDED_DROP_FRACTION:
        return None
    bx0, by0, bx1, by1 = placed.box
    cx0, cy0 = max(bx0, 0), max(by0, 0)
    cx1, cy1 = min(bx1, width - 1), min(by1, height - 1)
    if cx1 - cx0 < MIN_BOX_SIDE or cy1 - cy0 < MIN_BOX_SIDE:
        return None
    truncated = (cx0, cy0, cx1, cy1) != (bx0, by0, bx1, by1)
    return (
        placed.class_id,
        cx0,
        cy0,
        cx1,
        cy1,
        int(truncated),
        int(hidden > DIFFICULT_OCCLUDED_FRACTION),
    )


def _finish_camera(img: np.ndarray, emit: np.ndarray, rng, scene: _Scene) -> np.ndarray:
    """Haze, illumination, colour cast, glare, blur, vignetting and sensor noise (in place)."""
    cam, light = scene.cam, scene.light
    spread = rng.uniform(4, 12) * cam.height / 300
    r0, r1 = max(int(cam.horizon - 5 * spread), 0), min(int(cam.horizon + 5 * spread), cam.height)
    rows = np.arange(r0, r1, dtype=np.float32)
    haze = (light.haze * np.exp(-np.abs(rows - cam.horizon) / spread))[:, None, None]
    band = img[r0:r1]
    band *= 1 - haze
    band += light.sky_horizon * haze
    if light.ambient < 1.0:
        np.clip(emit, 0, 1, out=emit)
        glow = _glow(_scale_rgb(img, emit))
        img = _scale_rgb(img, light.ambient + (1 - light.ambient) * emit)
        cv2.scaleAdd(glow, 1.2 * (1 - light.ambient), img, dst=img)
    mean = float(img.mean())
    img = cv2.multiply(img, _vignette(cam.height, cam.width))
    gain = light.gain * light.contrast
    offset = (mean * (1 - light.contrast)) * light.gain
    img = cv2.multiply(img, (*gain.tolist(), 0.0))
    img = cv2.add(img, (*offset.tolist(), 0.0))
    if rng.random() < 0.3:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.4, 0.9))
    noise = _noise_view(rng, cam.height, cam.width)
    cv2.scaleAdd(noise, float(rng.uniform(1.5, 5.0)), img, dst=img)
    np.clip(img, 0, 255, out=img)
    return img.astype(np.uint8)


def _render(rng: np.random.Generator, height: int, width: int) -> tuple:
    """Draw one frame. Returns (RGB uint8 image, (k, 7) int array of annotated boxes)."""
    scene = _sample_scene(rng, height, width)
    img, emit = _draw_background(rng, scene)
    ids = np.zeros((height, width), np.int32)
    placed = []
    order = sorted(range(len(scene.items)), key=lambda i: -scene.items[i].depth)
    for rank, i in enumerate(order, start=1):
        item = scene.items[i]
        patch = _render_item(item, scene.cam)
        if patch is None:
            continue
        p = _composite(img, emit, ids, patch, rank, item.class_id)
        if p is not None:
            placed.append((rank, p))
    rows = [_label_row(p, rank, ids, width, height) for rank, p in placed]
    boxes = np.array([r for r in rows if r is not None], np.int64).reshape(-1, 7)
    return _finish_camera(img, emit, rng, scene), boxes


def _frame_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, SPLITS.index(split), index]))


def _encode_jpeg(rgb: np.ndarray, rng) -> bytes:
    quality = int(rng.integers(60, 96))
    ok, buf = cv2.imencode(
        ".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality]
    )
    if not ok:
        raise RuntimeError("OpenCV failed to encode a JPEG image")
    return buf.tobytes()


def _make_frame(seed: int, split: str, index: int, height: int, width: int) -> tuple:
    rng = _frame_rng(seed, split, index)
    rgb, boxes = _render(rng, height, width)
    return _encode_jpeg(rgb, rng), boxes


def _check_size(img_height, img_width) -> None:
    for name, value in (("img_height", img_height), ("img_width", img_width)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 64:
            raise ValueError(f"`{name}` must be an integer >= 64, got {value!r}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {SPLITS}, got {split!r}")


def render_scene(
    seed: int = 0,
    index: int = 0,
    split: str = "train",
    img_height: int = 300,
    img_width: int = 480,
    jpeg: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one synthetic traffic frame in memory.

    `render_scene(seed, i, split)` gives exactly the pixels and labels of frame `i` of that
    split in a dataset written by `generate_dataset` with the same seed and image size.

    Args:
        seed: Dataset seed (non-negative integer).
        index: Frame index within the split (non-negative integer).
        split: `'train'` or `'val'`.
        img_height: Image height in pixels (>= 64).
        img_width: Image width in pixels (>= 64).
        jpeg: If True, return the image after the JPEG round trip the dataset files go
            through; if False, the image before compression.

    Returns:
        `(image, labels)`: `image` is an RGB uint8 array of shape
        `(img_height, img_width, 3)`; `labels` is an int array of shape `(k, 5)` with
        rows `(class_id, xmin, ymin, xmax, ymax)` in pixels (the library's default
        `labels_output_format`), `k` >= 0. Coordinates are inclusive pixel indices.

    Raises:
        ValueError: On a negative seed or index, an unknown split or a too small image size.
    """
    for name, value in (("seed", seed), ("index", index)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    _check_split(split)
    _check_size(img_height, img_width)
    rng = _frame_rng(int(seed), split, int(index))
    rgb, boxes = _render(rng, img_height, img_width)
    if jpeg:
        data = _encode_jpeg(rgb, rng)
        rgb = cv2.cvtColor(
            cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
        )
    return rgb, boxes[:, _LABEL_COLUMNS].copy()
