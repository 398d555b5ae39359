"""Drawing surfaces and colour functions shared by every painter.

`_Canvas` is a supersampled RGBA + emission surface covering a pixel rectangle of the image;
`_Canvas.finish` reduces it to a `_Patch` that is alpha-blended into the frame. An `_Item` is
one thing of the scene (an object or clutter) with its faces and a painter that draws it on a
canvas. The colour functions shade, jitter and mix RGB tuples; `_pick` is the weighted choice
that every sampler uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from data_generator.synthetic_traffic.camera import _Face


@dataclass
class _Patch:
    x0: int
    y0: int
    rgb: np.ndarray  # (h, w, 3) float32, premultiplied by alpha
    alpha: np.ndarray  # (h, w) float32 in [0, 1]
    emit: np.ndarray | None  # (h, w) float32 in [0, 1], premultiplied; None if nothing glows


class _Canvas:
    """Supersampled RGBA + emission drawing surface covering an image-pixel rectangle."""

    def __init__(self, x0: float, y0: float, x1: float, y1: float, scale: int):
        self.x0 = math.floor(x0) - 1
        self.y0 = math.floor(y0) - 1
        self.w = math.ceil(x1) + 1 - self.x0
        self.h = math.ceil(y1) + 1 - self.y0
        self.scale = scale
        shape = (self.h * scale, self.w * scale)
        self.rgba = np.zeros((*shape, 4), np.uint8)  # colour and coverage in one image
        self.emit = None  # allocated on the first emissive primitive
        self._k = scale * 16.0

    def _fixed(self, pts) -> np.ndarray:
        pts = np.asarray(pts, np.float64).reshape(-1, 2)
        return np.round((pts - (self.x0, self.y0)) * self._k).astype(np.int32)

    def poly(self, pts, color, emit: bool = False) -> None:
        p = [self._fixed(pts)]
        cv2.fillPoly(self.rgba, p, (*color, 255), cv2.LINE_8, 4)
        if emit and self.emit is None:
            self.emit = np.zeros(self.rgba.shape[:2], np.uint8)
        if self.emit is not None:
            cv2.fillPoly(self.emit, p, 255 if emit else 0, cv2.LINE_8, 4)

    def line(self, pts, color, width_px: float) -> None:
        p = [self._fixed(pts)]
        t = max(1, round(width_px * self.scale))
        cv2.polylines(self.rgba, p, False, (*color, 255), t, cv2.LINE_8, 4)
        if self.emit is not None:
            cv2.polylines(self.emit, p, False, 0, t, cv2.LINE_8, 4)

    # Face-relative shortcuts -------------------------------------------------------
    def fpoly(self, face: _Face, ab, color, emit: bool = False) -> None:
        self.poly(face.map(ab), color, emit)

    def frect(self, face: _Face, a0, b0, a1, b1, color, emit: bool = False) -> None:
        self.poly(face.map([(a0, b0), (a1, b0), (a1, b1), (a0, b1)]), color, emit)

    def fdisc(self, face: _Face, ca, cb, radius_m, color, emit=False, squash=1.0) -> None:
        self.poly(face.map(face.ellipse_pts(ca, cb, radius_m, squash=squash)), color, emit)

    def fline(self, face: _Face, ab, color, width_m: float) -> None:
        self.line(face.map(ab), color, width_m * face.px_per_m())

    def finish(self) -> _Patch:
        rgba, emit = self.rgba, self.emit
        if self.scale > 1:
            size = (self.w, self.h)
            rgba = cv2.resize(rgba, size, interpolation=cv2.INTER_AREA)
            if emit is not None:
                emit = cv2.resize(emit, size, interpolation=cv2.INTER_AREA)
        rgba = rgba.astype(np.float32)
        return _Patch(
            self.x0,
            self.y0,
            rgba[:, :, :3],
            rgba[:, :, 3] / 255.0,
            None if emit is None else emit.astype(np.float32) / 255.0,
        )


@dataclass
class _Item:
    """Something standing on the road scene, drawn back to front by `depth`."""

    depth: float
    class_id: int  # 0 for clutter
    faces: list
    paint: Callable[[_Canvas], None]


def _shade(color, k: float) -> tuple:
    return tuple(float(min(255.0, c * k)) for c in color)


def _jitter(rng: np.random.Generator, color, amount: float = 12.0) -> tuple:
    c = np.asarray(color, np.float64) + rng.normal(0, amount, 3)
    return tuple(float(v) for v in np.clip(c, 0, 255))


def _mix(c0, c1, t: float) -> tuple:
    return tuple(float(a * (1 - t) + b * t) for a, b in zip(c0, c1, strict=True))


def _pick(rng: np.random.Generator, table):
    weights = np.array([w for _, w in table], np.float64)
    return table[rng.choice(len(table), p=weights / weights.sum())][0]
