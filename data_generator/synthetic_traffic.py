"""Embedded synthetic road-traffic dataset in the layout of the Udacity driving data.

The SSD7 tutorial trains on Udacity's road-traffic frames (300x480 RGB, five classes). That
data cannot be shipped, so this module draws comparable frames itself: a road seen by a
dash camera with a horizon, lanes and markings, buildings or vegetation, street furniture,
and the five object classes

    1 car, 2 truck, 3 pedestrian, 4 bicyclist, 5 traffic light

placed on the ground plane with a pinhole camera, so that distant objects are small and sit
near the horizon. Everything is drawn with OpenCV and NumPy and is fully determined by a
seed: frame ``i`` of split ``s`` uses the seed sequence ``(seed, s, i)``, so the output does
not depend on the number of worker processes (bytes are identical for a given OpenCV build;
another build or CPU may round a few pixel values differently, the labels do not change).

Ground-truth rules (what an annotator would have drawn):

* A box is the full extent of the object, also where a nearer object hides part of it, and is
  clipped to the image. Coordinates are integer pixels; ``xmax``/``ymax`` are the last
  covered column/row (inclusive), so every box lies in ``[0, W-1] x [0, H-1]``.
* An object is left unlabelled (it is still drawn) when more than 70 % of its in-frame pixels
  are hidden by nearer things, when less than 15 % of it and fewer than 1000 of its pixels
  lie inside the frame, or when its clipped box is narrower or lower than 4 px.
* VOC ``truncated`` is 1 when the box was clipped at a border; ``difficult`` is 1 when more
  than half of the in-frame object is hidden.

Public API: :func:`render_scene` (one frame in memory), :func:`generate_dataset` (files on
disk, CSV / Pascal VOC / COCO) and the command line
``python -m data_generator.synthetic_traffic OUTPUT_DIR``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import multiprocessing
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

__all__ = [
    "CLASS_NAMES",
    "CSV_HEADER",
    "FORMATS",
    "SPLITS",
    "frame_name",
    "generate_dataset",
    "main",
    "render_scene",
]

CLASS_NAMES = ("background", "car", "truck", "pedestrian", "bicyclist", "traffic_light")
"""Class names by class id; pass as ``classes`` to ``DataGenerator.parse_xml``."""

CSV_HEADER = ("frame", "xmin", "xmax", "ymin", "ymax", "class_id")
"""Header of ``labels_train.csv`` / ``labels_val.csv`` (one row per box)."""

FORMATS = ("csv", "voc", "coco")
SPLITS = ("train", "val")

OCCLUDED_DROP_FRACTION = 0.7
"""Objects with more than this fraction of their in-frame pixels hidden get no label."""
DIFFICULT_OCCLUDED_FRACTION = 0.5
MIN_IN_FRAME_FRACTION = 0.15
MIN_IN_FRAME_PIXELS = 1000
MIN_BOX_SIDE = 4
EMPTY_SCENE_PROBABILITY = 0.03

# Columns of the per-frame box arrays returned by the renderer.
_BOX_CLASS, _BOX_XMIN, _BOX_YMIN, _BOX_XMAX, _BOX_YMAX, _BOX_TRUNC, _BOX_DIFF = range(7)
_LABEL_COLUMNS = slice(_BOX_CLASS, _BOX_YMAX + 1)

_FAR = 400.0  # metres; the far end of every ground polygon
_TYRE = (22, 22, 24)
_CAR_PAINTS = (
    ((235, 235, 232), 0.22),
    ((25, 25, 28), 0.18),
    ((150, 152, 156), 0.17),
    ((95, 98, 104), 0.1),
    ((160, 25, 28), 0.1),
    ((30, 60, 130), 0.08),
    ((25, 70, 45), 0.04),
    ((190, 170, 130), 0.05),
    ((210, 180, 30), 0.02),
    ((100, 60, 35), 0.04),
)


# --------------------------------------------------------------------------------------
# Geometry and drawing primitives
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Camera:
    """Pinhole dash camera: X right, Y up (height above ground), Z forward, in metres."""

    height: int
    width: int
    horizon: float
    vanish_x: float
    focal: float
    elevation: float

    def project(self, pts: np.ndarray) -> np.ndarray:
        pts = np.asarray(pts, dtype=np.float64).reshape(-1, 3)
        scale = self.focal / np.maximum(pts[:, 2], 1e-3)
        out = np.empty((len(pts), 2))
        out[:, 0] = self.vanish_x + scale * pts[:, 0]
        out[:, 1] = self.horizon + scale * (self.elevation - pts[:, 1])
        return out

    def homography(self, origin, ea, eb) -> np.ndarray:
        """3x3 map from face fractions (a, b, 1) to homogeneous image points."""
        intrinsics = np.array(
            [
                [self.focal, 0.0, self.vanish_x, 0.0],
                [0.0, -self.focal, self.horizon, self.focal * self.elevation],
                [0.0, 0.0, 1.0, 0.0],
            ]
        )
        plane = np.zeros((4, 3))
        plane[:3, 0], plane[:3, 1], plane[:3, 2] = ea, eb, origin
        plane[3, 2] = 1.0
        return intrinsics @ plane

    @property
    def near_z(self) -> float:
        """Depth of the ground seen a little below the bottom image row."""
        return self.focal * self.elevation / (self.height + 30 - self.horizon)

    def ground_quads(self, x0, x1, z0, z1) -> np.ndarray:
        """Image polygons (n, 4, 2) of ground rectangles [x0, x1] x [z0, z1] (arrays)."""
        x0, x1, z0, z1 = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in (x0, x1, z0, z1)))
        z0, z1 = np.maximum(z0, self.near_z * 0.5), np.maximum(z1, self.near_z * 0.5)
        zeros = np.zeros_like(x0)
        world = np.stack(
            [
                np.stack([x0, zeros, z0], -1),
                np.stack([x1, zeros, z0], -1),
                np.stack([x1, zeros, z1], -1),
                np.stack([x0, zeros, z1], -1),
            ],
            axis=-2,
        )
        return self.project(world.reshape(-1, 3)).reshape(-1, 4, 2)

    def wall_quads(self, x, y0, y1, z0, z1) -> np.ndarray:
        """Image polygons of vertical rectangles at lateral position x (facades, rails)."""
        x, y0, y1, z0, z1 = np.broadcast_arrays(
            *(np.asarray(a, np.float64) for a in (x, y0, y1, z0, z1))
        )
        z0, z1 = np.maximum(z0, self.near_z * 0.5), np.maximum(z1, self.near_z * 0.5)
        world = np.stack(
            [
                np.stack([x, y0, z0], -1),
                np.stack([x, y0, z1], -1),
                np.stack([x, y1, z1], -1),
                np.stack([x, y1, z0], -1),
            ],
            axis=-2,
        )
        return self.project(world.reshape(-1, 3)).reshape(-1, 4, 2)


class _Face:
    """A planar rectangle in the world, addressed by fractions (a, b) in [0, 1]^2.

    ``a`` runs along ``ea`` (left to right for billboards), ``b`` along ``eb`` (top to bottom).
    """

    def __init__(self, cam: _Camera, origin, ea, eb):
        self.cam = cam
        self.origin = np.asarray(origin, np.float64)
        self.ea = np.asarray(ea, np.float64)
        self.eb = np.asarray(eb, np.float64)
        self._h = cam.homography(self.origin, self.ea, self.eb)

    @classmethod
    def billboard(cls, cam, x, z, width, height, bottom=0.0) -> _Face:
        """Upright rectangle facing the camera, centred on lateral position x at depth z."""
        return cls(cam, (x - width / 2, bottom + height, z), (width, 0, 0), (0, -height, 0))

    def map(self, ab) -> np.ndarray:
        ab = np.asarray(ab, np.float64).reshape(-1, 2)
        q = ab @ self._h[:, :2].T + self._h[:, 2]
        return q[:, :2] / np.maximum(q[:, 2:], 1e-3)

    def mirrored(self) -> _Face:
        return _Face(self.cam, self.origin + self.ea, -self.ea, self.eb)

    def corners(self) -> np.ndarray:
        return self.map([(0, 0), (1, 0), (1, 1), (0, 1)])

    def px_per_m(self) -> float:
        centre = self.origin + 0.5 * (self.ea + self.eb)
        return self.cam.focal / max(centre[2], 1e-3)

    @property
    def size(self) -> tuple:
        """(width, height) of the face in metres."""
        return math.hypot(*self.ea), math.hypot(*self.eb)

    def ellipse_pts(self, ca, cb, radius_m, n=14, squash=1.0) -> np.ndarray:
        width, height = self.size
        ra = radius_m / max(width, 1e-6)
        rb = squash * radius_m / max(height, 1e-6)
        return _unit_circle(n) * (ra, rb) + (ca, cb)


@lru_cache(maxsize=8)
def _unit_circle(n: int) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([np.cos(t), np.sin(t)], axis=1)


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
    """Something standing on the road scene, drawn back to front by ``depth``."""

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


def _far_biased_depth(rng: np.random.Generator, z_min: float, z_max: float, bias: float) -> float:
    """Log-uniform depth, skewed to the far end when ``bias`` < 1."""
    return float(z_min * (z_max / z_min) ** (rng.random() ** bias))


# --------------------------------------------------------------------------------------
# Scene parameters: lighting, camera, road layout
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lighting:
    kind: str
    sky_top: np.ndarray
    sky_horizon: np.ndarray
    gain: np.ndarray  # per-channel multiplier (brightness and colour cast)
    contrast: float
    ambient: float  # how much non-emissive surfaces keep at night (1 = daylight)
    shadow: float  # strength of cast shadows
    sun_dx: float  # lateral shadow offset per metre of height
    haze: float


def _sample_lighting(rng: np.random.Generator) -> _Lighting:
    kind = _pick(rng, (("day", 0.55), ("overcast", 0.2), ("dusk", 0.15), ("night", 0.1)))
    cast = rng.normal(1.0, 0.04, 3)
    if kind == "day":
        top, hor = (60, 120, 205), (175, 205, 232)
        gain, contrast, ambient, shadow = rng.uniform(0.85, 1.15), rng.uniform(0.9, 1.2), 1.0, 0.5
    elif kind == "overcast":
        top, hor = (140, 146, 158), (196, 198, 202)
        gain, contrast, ambient, shadow = rng.uniform(0.8, 1.0), rng.uniform(0.8, 1.0), 1.0, 0.15
    elif kind == "dusk":
        top, hor = (60, 70, 125), (235, 150, 95)
        gain, contrast, ambient, shadow = rng.uniform(0.6, 0.8), rng.uniform(0.9, 1.1), 0.75, 0.3
        cast = cast * (1.1, 0.95, 0.8)
    else:
        top, hor = (6, 8, 20), (35, 35, 50)
        gain, contrast, ambient, shadow = rng.uniform(0.85, 1.0), rng.uniform(1.0, 1.2), 0.35, 0.0
        cast = cast * (0.95, 0.95, 1.1)
    return _Lighting(
        kind=kind,
        sky_top=np.asarray(_jitter(rng, top, 10), np.float32),
        sky_horizon=np.asarray(_jitter(rng, hor, 10), np.float32),
        gain=(gain * cast).astype(np.float32),
        contrast=float(contrast),
        ambient=float(ambient),
        shadow=float(shadow * rng.uniform(0.8, 1.2)),
        sun_dx=float(rng.uniform(-1.2, 1.2)),
        haze=float(rng.uniform(0.05, 0.25)),
    )


def _sample_camera(rng: np.random.Generator, height: int, width: int) -> _Camera:
    return _Camera(
        height=height,
        width=width,
        horizon=float(height * rng.uniform(0.37, 0.5)),
        vanish_x=float(width / 2 + rng.normal(0, 0.04 * width)),
        focal=float(width * rng.uniform(0.72, 0.84)),
        elevation=float(rng.uniform(1.3, 1.7)),
    )


@dataclass(frozen=True)
class _Road:
    kind: str  # 'urban', 'suburban' or 'highway'
    lane_width: float
    same: np.ndarray  # lane centres driving away from the camera
    oncoming: np.ndarray  # lane centres driving towards it
    parking: tuple  # parking-lane centres
    left_edge: float  # curb positions (m)
    right_edge: float
    sidewalk: float
    cross_z: float | None  # near edge of a crossing street
    cross_w: float

    def in_cross(self, z0: float, z1: float) -> bool:
        return self.cross_z is not None and z1 > self.cross_z and z0 < self.cross_z + self.cross_w


def _sample_road(rng: np.random.Generator) -> _Road:
    kind = _pick(rng, (("urban", 0.5), ("suburban", 0.35), ("highway", 0.15)))
    lane_w = float(rng.uniform(3.2, 3.8))
    n_same = int(rng.integers(2, 5)) if kind == "highway" else int(rng.integers(1, 3))
    ego = int(rng.integers(n_same))
    same = (np.arange(n_same) - ego) * lane_w - rng.normal(0, 0.25)
    n_onc = 0 if kind == "highway" else int(rng.choice([0, 1, 1, 2]))
    oncoming = same[0] - 0.3 - lane_w * (1 + np.arange(n_onc))
    left = float(min(same.min(), oncoming.min(initial=1e9)) - lane_w / 2)
    right = float(same.max() + lane_w / 2)
    parking = []
    if kind != "highway":
        if rng.random() < 0.55:
            parking.append(left - 1.2)
            left -= 2.4
        if rng.random() < 0.6:
            parking.append(right + 1.2)
            right += 2.4
    else:
        left, right = left - 1.0, right + 2.5
    cross_p = {"urban": 0.4, "suburban": 0.2, "highway": 0.0}[kind]
    cross_z = float(rng.uniform(8, 35)) if rng.random() < cross_p else None
    sidewalk = {"urban": rng.uniform(3, 5), "suburban": rng.uniform(1.5, 2.5), "highway": 0.0}
    return _Road(
        kind=kind,
        lane_width=lane_w,
        same=same,
        oncoming=oncoming,
        parking=tuple(parking),
        left_edge=left,
        right_edge=right,
        sidewalk=float(sidewalk[kind]),
        cross_z=cross_z,
        cross_w=float(rng.uniform(10, 18)),
    )


# --------------------------------------------------------------------------------------
# Object painters (cars, trucks, pedestrians, bicyclists, traffic lights)
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CarStyle:
    body: str  # sedan, hatch, suv, van
    width: float
    height: float
    length: float
    paint: tuple
    glass: tuple
    lights_on: bool
    brake: bool
    plate: tuple


_CAR_BODIES = {
    # width, height, length, belt line (fraction of height), cabin inset (fraction of width)
    "sedan": (1.8, 1.45, 4.7, 0.47, 0.13),
    "hatch": (1.75, 1.5, 4.1, 0.46, 0.11),
    "suv": (1.92, 1.75, 4.8, 0.48, 0.08),
    "van": (1.95, 2.0, 5.0, 0.5, 0.04),
}
_CAR_PROFILES = {
    # side silhouettes, rear at a=0, front at a=1, b from roof (0) to ground (1)
    "sedan": [
        (0, 0.8),
        (0, 0.5),
        (0.05, 0.42),
        (0.2, 0.4),
        (0.3, 0.04),
        (0.63, 0.02),
        (0.76, 0.38),
        (0.96, 0.45),
        (1, 0.56),
        (1, 0.8),
    ],
    "hatch": [
        (0, 0.8),
        (0, 0.25),
        (0.06, 0.05),
        (0.6, 0.03),
        (0.76, 0.38),
        (0.96, 0.46),
        (1, 0.56),
        (1, 0.8),
    ],
    "suv": [
        (0, 0.82),
        (0, 0.1),
        (0.04, 0.03),
        (0.72, 0.02),
        (0.8, 0.38),
        (0.97, 0.43),
        (1, 0.52),
        (1, 0.82),
    ],
    "van": [(0, 0.84), (0, 0.04), (0.8, 0.03), (0.9, 0.3), (1, 0.46), (1, 0.84)],
}
_CAR_WINDOWS = {
    "sedan": [(0.24, 0.39), (0.32, 0.09), (0.6, 0.07), (0.71, 0.38)],
    "hatch": [(0.06, 0.36), (0.09, 0.1), (0.58, 0.08), (0.71, 0.37)],
    "suv": [(0.05, 0.38), (0.06, 0.08), (0.7, 0.07), (0.76, 0.37)],
    "van": [(0.05, 0.36), (0.05, 0.09), (0.78, 0.08), (0.86, 0.3), (0.86, 0.36)],
}


def _sample_car_style(rng: np.random.Generator, light: _Lighting) -> _CarStyle:
    body = _pick(rng, (("sedan", 0.45), ("hatch", 0.15), ("suv", 0.3), ("van", 0.1)))
    w, h, length, _, _ = _CAR_BODIES[body]
    scale = rng.uniform(0.95, 1.05)
    glass = _jitter(rng, (40, 46, 56), 8)
    if light.kind == "day" and rng.random() < 0.4:
        glass = _mix(glass, light.sky_horizon, 0.35)  # sky reflection
    return _CarStyle(
        body=body,
        width=w * scale,
        height=h * scale,
        length=length * scale,
        paint=_jitter(rng, _pick(rng, _CAR_PAINTS), 10),
        glass=glass,
        lights_on=light.kind in ("night", "dusk") or rng.random() < 0.1,
        brake=rng.random() < 0.25,
        plate=(230, 228, 215) if rng.random() < 0.8 else (230, 200, 60),
    )


def _paint_car_end(c: _Canvas, face: _Face, st: _CarStyle, front: bool) -> None:
    _, _, _, belt, inset = _CAR_BODIES[st.body]
    paint, dark = st.paint, _shade(st.paint, 0.45)
    c.frect(face, 0.04, 0.78, 0.24, 1.0, _TYRE)
    c.frect(face, 0.76, 0.78, 0.96, 1.0, _TYRE)
    c.fpoly(
        face,
        [(0, 0.86), (0, belt + 0.1), (0.03, belt), (0.97, belt), (1, belt + 0.1), (1, 0.86)],
        paint,
    )
    c.fpoly(
        face,
        [(inset, 0), (1 - inset, 0), (0.97, belt + 0.01), (0.03, belt + 0.01)],
        _shade(paint, 0.9),
    )
    glass_top, glass_inset = (0.05, inset + 0.03) if front else (0.08, inset + 0.06)
    c.fpoly(
        face,
        [
            (glass_inset, glass_top),
            (1 - glass_inset, glass_top),
            (0.91, belt - 0.03),
            (0.09, belt - 0.03),
        ],
        st.glass,
    )
    lamp_top = belt + 0.06
    if front:
        lamp = (235, 235, 215) if st.lights_on else (200, 200, 190)
        c.frect(face, 0.03, lamp_top, 0.23, lamp_top + 0.1, lamp, emit=st.lights_on)
        c.frect(face, 0.77, lamp_top, 0.97, lamp_top + 0.1, lamp, emit=st.lights_on)
        c.frect(face, 0.3, lamp_top + 0.02, 0.7, lamp_top + 0.16, _shade(paint, 0.25))
    else:
        lit = st.lights_on or st.brake
        lamp = (235, 30, 30) if lit else (150, 20, 22)
        c.frect(face, 0.02, lamp_top, 0.2, lamp_top + 0.12, lamp, emit=lit)
        c.frect(face, 0.8, lamp_top, 0.98, lamp_top + 0.12, lamp, emit=lit)
    c.frect(face, 0.39, 0.63, 0.61, 0.73, st.plate)
    c.frect(face, 0.01, 0.75, 0.99, 0.85, dark)
    c.frect(face, 0.22, 0.85, 0.78, 0.93, (18, 18, 20))


def _paint_car_side(c: _Canvas, face: _Face, st: _CarStyle) -> None:
    paint = st.paint
    r = 0.33
    rb = 1 - r / st.height
    c.fpoly(face, _CAR_PROFILES[st.body], paint)
    c.fpoly(face, _CAR_WINDOWS[st.body], st.glass)
    c.fline(face, [(0.48, 0.06), (0.49, 0.4)], _shade(paint, 0.8), 0.08)
    c.fline(face, [(0.5, 0.45), (0.5, 0.78)], _shade(paint, 0.6), 0.02)
    c.frect(face, 0.08, 0.74, 0.92, 0.8, _shade(paint, 0.5))
    for a in (0.18, 0.81):
        ca = a
        c.fdisc(face, ca, rb - 0.02, r * 1.15, (15, 15, 17))
        c.fdisc(face, ca, rb, r, _TYRE)
        c.fdisc(face, ca, rb, r * 0.55, (150, 152, 156))
    tail = (235, 30, 30) if (st.lights_on or st.brake) else (160, 22, 24)
    c.frect(face, 0, 0.44, 0.025, 0.56, tail, emit=st.lights_on)
    c.frect(face, 0.975, 0.52, 1.0, 0.6, (235, 235, 215), emit=st.lights_on)


@dataclass(frozen=True)
class _TruckStyle:
    body: str  # box, bus
    width: float
    height: float
    length: float
    cargo: tuple
    cab: tuple
    glass: tuple
    lights_on: bool


def _sample_truck_style(rng: np.random.Generator, light: _Lighting) -> _TruckStyle:
    body = "bus" if rng.random() < 0.25 else "box"
    if body == "bus":
        dims = (2.55, rng.uniform(3.0, 3.3), rng.uniform(10, 13))
        cargo = _jitter(
            rng,
            _pick(
                rng,
                (((230, 230, 225), 2), ((40, 80, 160), 1), ((200, 60, 40), 1), ((220, 180, 40), 1)),
            ),
            10,
        )
        cab = cargo
    else:
        dims = (2.5, rng.uniform(3.3, 4.0), rng.uniform(7, 11))
        cargo = _jitter(
            rng,
            _pick(
                rng,
                (
                    ((235, 235, 232), 4),
                    ((180, 182, 185), 2),
                    ((200, 40, 35), 1),
                    ((40, 70, 140), 1),
                    ((220, 190, 60), 1),
                ),
            ),
            10,
        )
        cab = _jitter(rng, _pick(rng, _CAR_PAINTS), 10)
    return _TruckStyle(
        body=body,
        width=dims[0],
        height=dims[1],
        length=dims[2],
        cargo=cargo,
        cab=cab,
        glass=_jitter(rng, (40, 46, 56), 8),
        lights_on=light.kind in ("night", "dusk"),
    )


def _paint_truck_end(c: _Canvas, face: _Face, st: _TruckStyle, front: bool) -> None:
    c.frect(face, 0.03, 0.86, 0.3, 1.0, _TYRE)
    c.frect(face, 0.7, 0.86, 0.97, 1.0, _TYRE)
    tail = (235, 30, 30) if st.lights_on else (160, 22, 24)
    if st.body == "bus":
        c.frect(face, 0, 0.02, 1, 0.88, st.cargo)
        c.frect(face, 0.05, 0.08, 0.95, 0.5 if front else 0.3, st.glass)
        c.frect(face, 0.15, 0.02, 0.85, 0.07, (30, 30, 30))
    elif front:
        c.frect(face, 0, 0, 1, 0.34, st.cargo)
        c.frect(face, 0.04, 0.3, 0.96, 0.88, st.cab)
        c.frect(face, 0.09, 0.35, 0.91, 0.58, st.glass)
        c.frect(face, 0.3, 0.62, 0.7, 0.8, _shade(st.cab, 0.3))
        for y in (0.66, 0.71, 0.76):
            c.frect(face, 0.3, y, 0.7, y + 0.015, _shade(st.cab, 0.7))
    else:
        c.frect(face, 0, 0, 1, 0.84, st.cargo)
        c.frect(face, 0, 0, 1, 0.03, _shade(st.cargo, 0.75))
        c.frect(face, 0.495, 0.03, 0.505, 0.84, _shade(st.cargo, 0.6))
        for a in (0.25, 0.75):
            c.frect(face, a - 0.01, 0.05, a + 0.01, 0.82, _shade(st.cargo, 0.7))
    if front:
        lamp = (235, 235, 215) if st.lights_on else (200, 200, 190)
        c.frect(face, 0.06, 0.7, 0.2, 0.77, lamp, emit=st.lights_on)
        c.frect(face, 0.8, 0.7, 0.94, 0.77, lamp, emit=st.lights_on)
    else:
        c.frect(face, 0.05, 0.76, 0.15, 0.82, tail, emit=st.lights_on)
        c.frect(face, 0.85, 0.76, 0.95, 0.82, tail, emit=st.lights_on)
    c.frect(face, 0.03, 0.84, 0.97, 0.9, (45, 45, 48))


def _paint_truck_side(c: _Canvas, face: _Face, st: _TruckStyle) -> None:
    r = 0.5
    rb = 1 - r / st.height
    if st.body == "bus":
        c.frect(face, 0, 0.02, 1, 0.88, st.cargo)
        c.frect(face, 0.04, 0.14, 0.97, 0.45, st.glass)
        stripes = np.arange(0.15, 0.95, 0.09)
        for a in stripes:
            c.frect(face, a, 0.14, a + 0.008, 0.45, st.cargo)
        c.frect(face, 0.88, 0.5, 0.95, 0.86, _shade(st.glass, 1.2))
        wheels = (0.17, 0.8)
    else:
        cab_a = 1 - 2.3 / st.length
        c.frect(face, 0, 0, cab_a - 0.01, 0.8, st.cargo)
        c.frect(face, 0, 0, cab_a - 0.01, 0.025, _shade(st.cargo, 0.75))
        c.fpoly(face, [(cab_a, 0.22), (0.96, 0.22), (1, 0.42), (1, 0.88), (cab_a, 0.88)], st.cab)
        c.fpoly(
            face,
            [(cab_a + 0.02, 0.27), (0.955, 0.27), (0.985, 0.44), (cab_a + 0.02, 0.44)],
            st.glass,
        )
        c.frect(face, 0, 0.8, 1, 0.87, (45, 45, 48))
        wheels = (0.1, 0.1 + 1.2 / st.length, 0.88)
    for a in wheels:
        c.fdisc(face, a, rb, r, _TYRE)
        c.fdisc(face, a, rb, r * 0.5, (140, 140, 140))


def _vehicle_item(cam, x, z, st, heading, forward, paint_end, paint_side, class_id) -> _Item:
    """A vehicle as a box with shaped faces.

    heading 'along': drives along Z, its footprint is [x-w/2, x+w/2] x [z, z+L]; we see the
    end face at z (rear when ``forward``) and one long side if it is off-centre.
    heading 'cross': drives along X, footprint [x-L/2, x+L/2] x [z, z+w]; we see its side.
    """
    w, h, length = st.width, st.height, st.length
    faces, painters = [], []
    if heading == "along":
        end = _Face(cam, (x - w / 2, h, z), (w, 0, 0), (0, -h, 0))
        side_x = x - w / 2 if x - w / 2 > 0.3 else (x + w / 2 if x + w / 2 < -0.3 else None)
        if side_x is not None:
            side = _Face(cam, (side_x, h, z), (0, 0, length), (0, -h, 0))
            # a=0 is the near end; side profiles are drawn with the rear at a=0
            side = side if forward else side.mirrored()
            faces.append(side)
            painters.append(partial(paint_side, face=side, st=st))
        faces.append(end)
        painters.append(partial(paint_end, face=end, st=st, front=not forward))
    else:
        side = _Face(cam, (x - length / 2, h, z), (length, 0, 0), (0, -h, 0))
        side = side if forward else side.mirrored()
        faces.append(side)
        painters.append(partial(paint_side, face=side, st=st))

    def paint(c: _Canvas) -> None:
        for p in painters:
            p(c)

    return _Item(depth=z, class_id=class_id, faces=faces, paint=paint)


@dataclass(frozen=True)
class _PersonStyle:
    skin: tuple
    hair: tuple
    shirt: tuple
    pants: tuple
    side: bool
    stride: float
    mirror: bool
    bag: tuple | None
    skirt: bool


_SKINS = (((235, 200, 170), 3), ((200, 150, 110), 3), ((150, 100, 70), 2), ((95, 65, 45), 2))
_CLOTHES = (
    ((30, 30, 35), 3),
    ((60, 60, 70), 2),
    ((200, 200, 200), 2),
    ((35, 55, 110), 3),
    ((150, 30, 35), 1),
    ((90, 110, 60), 1),
    ((160, 130, 90), 1),
    ((220, 150, 40), 1),
    ((120, 160, 200), 1),
    ((235, 235, 235), 1),
)


def _sample_person_style(rng: np.random.Generator) -> _PersonStyle:
    return _PersonStyle(
        skin=_jitter(rng, _pick(rng, _SKINS), 8),
        hair=_jitter(
            rng,
            _pick(
                rng,
                (((25, 20, 18), 3), ((90, 60, 35), 1), ((180, 150, 90), 1), ((150, 150, 150), 1)),
            ),
            8,
        ),
        shirt=_jitter(rng, _pick(rng, _CLOTHES), 12),
        pants=_jitter(rng, _pick(rng, _CLOTHES[:6]), 10),
        side=bool(rng.random() < 0.55),
        stride=float(rng.uniform(0, 1)),
        mirror=bool(rng.random() < 0.5),
        bag=_jitter(rng, (40, 35, 30), 15) if rng.random() < 0.3 else None,
        skirt=bool(rng.random() < 0.12),
    )


def _paint_person(c: _Canvas, face: _Face, st: _PersonStyle) -> None:
    if st.mirror:
        face = face.mirrored()
    s = 0.35 * st.stride if st.side else 0.0
    # legs (hip at b=0.5)
    pants = st.pants
    if st.skirt:
        c.fpoly(face, [(0.3, 0.5), (0.7, 0.5), (0.78, 0.7), (0.22, 0.7)], pants)
        pants = st.skin
    c.fpoly(face, [(0.32, 0.5), (0.52, 0.5), (0.5 - s, 0.96), (0.36 - s, 0.96)], pants)
    c.fpoly(
        face, [(0.48, 0.5), (0.68, 0.5), (0.64 + s, 0.96), (0.5 + s, 0.96)], _shade(pants, 0.85)
    )
    c.fdisc(face, 0.44 - s, 0.975, 0.09, (25, 22, 20), squash=0.5)
    c.fdisc(face, 0.56 + s, 0.975, 0.09, (25, 22, 20), squash=0.5)
    # torso and arms
    if st.side:
        torso = [(0.34, 0.16), (0.66, 0.16), (0.68, 0.54), (0.32, 0.54)]
        arm_swing = 0.25 * (st.stride - 0.5)
        arms = [[(0.45, 0.18), (0.58, 0.18), (0.56 + arm_swing, 0.48), (0.46 + arm_swing, 0.48)]]
        if st.bag is not None:
            c.frect(face, 0.14, 0.2, 0.36, 0.45, st.bag)
    else:
        torso = [(0.2, 0.16), (0.8, 0.16), (0.74, 0.54), (0.26, 0.54)]
        arms = [
            [(0.1, 0.18), (0.22, 0.17), (0.22, 0.5), (0.1, 0.5)],
            [(0.78, 0.17), (0.9, 0.18), (0.9, 0.5), (0.78, 0.5)],
        ]
    c.fpoly(face, torso, st.shirt)
    for arm in arms:
        c.fpoly(face, arm, _shade(st.shirt, 0.85))
        c.fdisc(face, 0.5 * (arm[2][0] + arm[3][0]), 0.51, 0.05, st.skin)
    c.frect(face, 0.44, 0.12, 0.56, 0.17, st.skin)
    c.fdisc(face, 0.5, 0.075, 0.115, st.skin)
    c.fpoly(face, face.ellipse_pts(0.5, 0.055, 0.12, squash=0.75)[7:], st.hair)


@dataclass(frozen=True)
class _BikeStyle:
    rider: _PersonStyle
    frame: tuple
    side: bool
    mirror: bool
    helmet: tuple


def _paint_bicyclist_side(c: _Canvas, face: _Face, st: _BikeStyle) -> None:
    if st.mirror:
        face = face.mirrored()
    r = 0.34
    h = face.size[1]
    rb = 1 - r / h
    dark = (25, 25, 28)
    rear, front, crank = (0.2, rb), (0.8, rb), (0.47, rb + 0.02)
    seat, bar = (0.38, 0.47), (0.72, 0.45)
    for centre in (rear, front):
        ring = face.ellipse_pts(centre[0], centre[1], r, n=18)
        c.line(face.map(np.vstack([ring, ring[:1]])), dark, 0.05 * face.px_per_m())
        c.fdisc(face, centre[0], centre[1], 0.04, (120, 120, 120))
    frame = [rear, crank, seat, rear]
    c.fline(face, frame, st.frame, 0.04)
    c.fline(face, [crank, (0.7, 0.5), front], st.frame, 0.04)
    c.fline(face, [seat, (0.7, 0.5)], st.frame, 0.035)
    rider = st.rider
    c.fline(face, [(0.4, 0.43), (0.58, 0.56), (0.5, 0.82)], _shade(rider.pants, 0.85), 0.11)
    c.fline(face, [(0.4, 0.43), (0.52, 0.6), (0.44, 0.78)], rider.pants, 0.12)
    c.fpoly(face, [(0.33, 0.46), (0.45, 0.48), (0.67, 0.22), (0.56, 0.16)], rider.shirt)
    c.fline(face, [(0.62, 0.2), (0.69, 0.33), (0.72, 0.44)], _shade(rider.shirt, 0.85), 0.08)
    c.fdisc(face, 0.66, 0.1, 0.12, rider.skin)
    c.fpoly(face, face.ellipse_pts(0.655, 0.085, 0.135, squash=0.8)[7:], st.helmet)
    c.fline(face, [(0.7, 0.47), bar], dark, 0.03)


def _paint_bicyclist_rear(c: _Canvas, face: _Face, st: _BikeStyle) -> None:
    dark = (25, 25, 28)
    rider = st.rider
    c.fpoly(face, [(0.26, 0.5), (0.44, 0.5), (0.42, 0.8), (0.3, 0.8)], rider.pants)
    c.fpoly(face, [(0.56, 0.5), (0.74, 0.5), (0.7, 0.72), (0.58, 0.72)], _shade(rider.pants, 0.85))
    c.fdisc(face, 0.36, 0.82, 0.05, dark)
    c.frect(face, 0.42, 0.56, 0.58, 1.0, dark)
    c.frect(face, 0.44, 0.5, 0.56, 0.56, (30, 30, 30))
    c.frect(face, 0.02, 0.4, 0.98, 0.43, dark)
    c.fpoly(face, [(0.18, 0.17), (0.82, 0.17), (0.72, 0.5), (0.28, 0.5)], rider.shirt)
    c.fpoly(face, [(0.18, 0.19), (0.28, 0.2), (0.12, 0.42), (0.04, 0.41)], rider.shirt)
    c.fpoly(face, [(0.72, 0.2), (0.82, 0.19), (0.96, 0.41), (0.88, 0.42)], rider.shirt)
    c.fdisc(face, 0.5, 0.095, 0.11, rider.skin)
    c.fpoly(face, face.ellipse_pts(0.5, 0.08, 0.125, squash=0.8)[7:], st.helmet)
    c.frect(face, 0.44, 0.6, 0.56, 0.64, (200, 20, 20), emit=True)


@dataclass(frozen=True)
class _LightStyle:
    housing: tuple
    lit: int  # 0 red, 1 amber, 2 green
    backplate: bool


_LAMP_COLOURS = ((255, 45, 35), (255, 185, 20), (40, 255, 140))


def _paint_traffic_light(c: _Canvas, face: _Face, st: _LightStyle) -> None:
    if st.backplate:
        c.frect(face, 0, 0, 1, 1, (20, 20, 20))
        c.frect(face, 0.15, 0.04, 0.85, 0.96, st.housing)
    else:
        c.frect(face, 0, 0, 1, 1, st.housing)
    width_m = face.size[0]
    for i, b in enumerate((0.19, 0.5, 0.81)):
        lit = i == st.lit
        colour = _LAMP_COLOURS[i] if lit else _shade(_LAMP_COLOURS[i], 0.22)
        c.fdisc(face, 0.5, b - 0.05, width_m * 0.33, (12, 12, 12), squash=0.5)
        c.fdisc(face, 0.5, b, width_m * 0.27, colour, emit=lit)


# --------------------------------------------------------------------------------------
# Clutter painters (not objects)
# --------------------------------------------------------------------------------------


def _paint_tree(c: _Canvas, face: _Face, leaf: tuple, trunk: tuple, blobs: np.ndarray) -> None:
    c.frect(face, 0.45, 0.45, 0.55, 1.0, trunk)
    width = face.size[0]
    for ca, cb, r, k in blobs:
        c.fdisc(face, ca, cb, r * width, _shade(leaf, k), squash=1.0)


def _paint_conifer(c: _Canvas, face: _Face, leaf: tuple, trunk: tuple) -> None:
    c.frect(face, 0.46, 0.8, 0.54, 1.0, trunk)
    for i, (top, bottom) in enumerate(((0.0, 0.45), (0.2, 0.65), (0.4, 0.85))):
        half = 0.3 + 0.1 * i
        c.fpoly(
            face,
            [(0.5, top), (0.5 + half, bottom), (0.5 - half, bottom)],
            _shade(leaf, 0.8 + 0.1 * i),
        )


def _paint_bush(c: _Canvas, face: _Face, leaf: tuple, blobs: np.ndarray) -> None:
    width = face.size[0]
    for ca, cb, r, k in blobs:
        c.fdisc(face, ca, cb, r * width, _shade(leaf, k), squash=1.0)


def _paint_street_lamp(c: _Canvas, face: _Face, colour: tuple, lit: bool, arm_right: bool):
    if not arm_right:
        face = face.mirrored()
    c.frect(face, 0.0, 0.02, 0.06, 1.0, colour)
    c.frect(face, 0.0, 0.02, 0.9, 0.04, colour)
    c.frect(face, 0.7, 0.03, 1.0, 0.07, (230, 230, 200) if lit else (90, 90, 90), emit=lit)


def _paint_mast(c: _Canvas, face: _Face, colour: tuple, pole_left: bool) -> None:
    if not pole_left:
        face = face.mirrored()
    c.frect(face, 0.0, 0.0, 0.04, 1.0, colour)
    c.frect(face, 0.0, 0.0, 1.0, 0.025, colour)


def _paint_pole(c: _Canvas, face: _Face, colour: tuple) -> None:
    c.frect(face, 0.0, 0.0, 1.0, 1.0, colour)


def _paint_sign(c: _Canvas, face: _Face, shape: str, colour: tuple, rim: tuple) -> None:
    c.frect(face, 0.46, 0.25, 0.54, 1.0, (120, 120, 125))
    plate_b = 0.28
    if shape == "rect":
        c.frect(face, 0, 0, 1, plate_b, rim)
        c.frect(face, 0.07, 0.02, 0.93, plate_b - 0.02, colour)
    elif shape == "disc":
        c.fdisc(face, 0.5, plate_b / 2, face.size[0] / 2, rim)
        c.fdisc(face, 0.5, plate_b / 2, face.size[0] * 0.36, colour)
    elif shape == "octagon":
        t = np.linspace(0, 2 * np.pi, 8, endpoint=False) + np.pi / 8
        pts = np.stack([0.5 + 0.5 * np.cos(t), plate_b / 2 + plate_b / 2 * np.sin(t)], 1)
        c.fpoly(face, pts, (190, 25, 30))
        c.frect(face, 0.2, plate_b * 0.45, 0.8, plate_b * 0.55, (240, 240, 240))
    else:  # diamond warning sign
        c.fpoly(
            face, [(0.5, 0), (1, plate_b / 2), (0.5, plate_b), (0, plate_b / 2)], (230, 190, 30)
        )
        c.fpoly(
            face,
            [(0.5, 0.06), (0.62, plate_b / 2), (0.5, plate_b - 0.06), (0.38, plate_b / 2)],
            (25, 25, 25),
        )


def _paint_box_thing(c: _Canvas, face: _Face, colour: tuple, kind: str) -> None:
    if kind == "bin":
        c.frect(face, 0.05, 0.1, 0.95, 1.0, colour)
        c.frect(face, 0.0, 0.0, 1.0, 0.12, _shade(colour, 0.7))
    elif kind == "hydrant":
        c.frect(face, 0.25, 0.15, 0.75, 1.0, colour)
        c.frect(face, 0.05, 0.35, 0.95, 0.5, _shade(colour, 0.8))
        c.fdisc(face, 0.5, 0.15, 0.4 * face.size[0], _shade(colour, 0.9))
    else:  # traffic cone
        c.fpoly(face, [(0.42, 0), (0.58, 0), (0.9, 0.92), (0.1, 0.92)], colour)
        c.fpoly(face, [(0.33, 0.35), (0.67, 0.35), (0.74, 0.55), (0.26, 0.55)], (240, 240, 240))
        c.frect(face, 0.0, 0.9, 1.0, 1.0, (30, 30, 30))


# --------------------------------------------------------------------------------------
# Scene sampling: objects and clutter
# --------------------------------------------------------------------------------------


@dataclass
class _Scene:
    cam: _Camera
    light: _Lighting
    road: _Road
    items: list
    shadows: list  # image polygons darkened on the ground


class _Slots:
    """Keeps vehicles in the same lane apart."""

    def __init__(self):
        self.taken: dict[float, list] = {}

    def free(self, lane: float, z0: float, z1: float) -> bool:
        spans = self.taken.setdefault(round(lane, 2), [])
        if any(z0 < b + 1.5 and z1 > a - 1.5 for a, b in spans):
            return False
        spans.append((z0, z1))
        return True


def _object_counts(rng: np.random.Generator, road: _Road) -> dict:
    if rng.random() < EMPTY_SCENE_PROBABILITY:
        return {"car": 0, "truck": 0, "pedestrian": 0, "bicyclist": 0, "lights": False}
    car_mean = {"urban": 7.5, "suburban": 5.5, "highway": 7.0}[road.kind]
    ped_mean = {"urban": 2.2, "suburban": 1.0, "highway": 0.0}[road.kind]
    bike_mean = {"urban": 0.3, "suburban": 0.25, "highway": 0.0}[road.kind]
    return {
        "car": int(rng.poisson(car_mean)),
        "truck": int(rng.poisson(0.6)),
        "pedestrian": int(rng.poisson(ped_mean)),
        "bicyclist": int(rng.poisson(bike_mean)),
        "lights": road.cross_z is not None,
    }


def _vehicle_slot(rng, road: _Road):
    """(lane x, forward, heading, z_min) for a new vehicle."""
    options = [("same", 0.55)]
    if len(road.oncoming):
        options.append(("oncoming", 0.3))
    if road.parking:
        options.append(("parking", 0.2))
    if road.cross_z is not None:
        options.append(("cross", 0.12))
    where = _pick(rng, tuple(options))
    if where == "same":
        lane = float(rng.choice(road.same))
        return lane, True, "along", 6.0 if abs(lane) < 1.0 else 2.6
    if where == "oncoming":
        return float(rng.choice(road.oncoming)), False, "along", 3.0
    if where == "parking":
        lane = float(rng.choice(road.parking))
        return lane, bool(lane > 0 or rng.random() < 0.5), "along", 2.5
    return None, bool(rng.random() < 0.5), "cross", road.cross_z


def _place_vehicle(rng, cam, road, slots, light, truck: bool) -> _Item | None:
    for _ in range(6):
        lane, forward, heading, z_min = _vehicle_slot(rng, road)
        st = (_sample_truck_style if truck else _sample_car_style)(rng, light)
        if heading == "cross":
            z = road.cross_z + rng.uniform(1.5, road.cross_w - st.width - 1.5)
            x = rng.uniform(-25, 25)
            if not slots.free(
                1000.0 + (z > road.cross_z + road.cross_w / 2), x - st.length / 2, x + st.length / 2
            ):
                continue
        else:
            z_min = max(z_min, 6.0) if truck else z_min
            z = _far_biased_depth(rng, z_min, 80.0 if truck else 70.0, 0.75)
            x = lane + rng.normal(0, 0.2)
            if lane in road.parking and road.in_cross(z - 2, z + st.length + 2):
                continue
            if not slots.free(lane, z, z + st.length):
                continue
        paint_end = _paint_truck_end if truck else _paint_car_end
        paint_side = _paint_truck_side if truck else _paint_car_side
        return _vehicle_item(
            cam, x, z, st, heading, forward, paint_end, paint_side, 2 if truck else 1
        )
    return None


def _vehicle_shadow(item: _Item, light: _Lighting) -> np.ndarray:
    """Image polygon of the dark contact shadow under a vehicle."""
    corners = np.concatenate([f.corners() for f in item.faces])
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    y1 = corners[:, 1].max()
    h = max(2.0, 0.08 * (x1 - x0))
    dx = light.sun_dx * h
    return np.array(
        [(x0 - 1 + dx, y1 - h), (x1 + 1 + dx, y1 - h), (x1 + 2, y1 + 1.5), (x0 - 2, y1 + 1.5)]
    )


def _sidewalk_x(rng, road: _Road) -> float:
    if rng.random() < 0.5:
        return road.left_edge - rng.uniform(0.5, max(0.6, road.sidewalk - 0.4))
    return road.right_edge + rng.uniform(0.5, max(0.6, road.sidewalk - 0.4))


def _place_pedestrians(rng, cam, road, n: int) -> list:
    """Pedestrians on the sidewalks or on the crosswalk, alone or in small groups."""
    items = []
    while len(items) < n:
        group = min(n - len(items), int(rng.choice([1, 1, 1, 2, 2, 3])))
        on_crosswalk = road.cross_z is not None and rng.random() < 0.35
        if on_crosswalk:
            z0 = road.cross_z - rng.uniform(1.0, 3.0)
            x0 = rng.uniform(road.left_edge - 2, road.right_edge + 2)
        else:
            z0 = _far_biased_depth(rng, 4.0, 45.0, 0.8)
            x0 = _sidewalk_x(rng, road)
        for _ in range(group):
            st = _sample_person_style(rng)
            height = rng.uniform(1.5, 1.9) if rng.random() < 0.9 else rng.uniform(1.0, 1.4)
            width = height * (0.34 if not st.side else rng.uniform(0.3, 0.42))
            x = x0 + rng.normal(0, 0.6)
            z = z0 + rng.normal(0, 0.8)
            if z < 2.0:
                continue
            face = _Face.billboard(cam, x, z, width, height)
            items.append(_Item(z, 3, [face], partial(_paint_person, face=face, st=st)))
    return items


def _place_bicyclists(rng, cam, road, n: int) -> list:
    """Bicyclists riding along the road edge (seen from behind) or across the crossing."""
    items = []
    for _ in range(n):
        rider = _sample_person_style(rng)
        side = road.cross_z is not None and rng.random() < 0.5
        st = _BikeStyle(
            rider=rider,
            frame=_jitter(rng, _pick(rng, _CLOTHES), 20),
            side=side,
            mirror=bool(rng.random() < 0.5),
            helmet=_jitter(rng, _pick(rng, _CLOTHES), 15),
        )
        height = rng.uniform(1.65, 1.85)
        if side:
            z = road.cross_z + rng.uniform(1.0, road.cross_w - 1.0)
            face = _Face.billboard(cam, rng.uniform(-15, 15), z, 1.75, height)
            paint = _paint_bicyclist_side
        else:
            z = _far_biased_depth(rng, 4.0, 45.0, 0.8)
            edge = road.right_edge - 0.8 if rng.random() < 0.7 else road.left_edge + 0.8
            face = _Face.billboard(cam, edge + rng.normal(0, 0.2), z, 0.62, height)
            paint = _paint_bicyclist_rear
        items.append(_Item(z, 4, [face], partial(paint, face=face, st=st)))
    return items


def _place_traffic_lights(rng, cam, road) -> list:
    """Lights hung from a mast arm on the far side of the crossing, one per lane or so."""
    z = road.cross_z + road.cross_w + rng.uniform(0.5, 2.0)
    mount = rng.uniform(5.0, 6.2)
    lanes = np.sort(np.concatenate([road.same, road.oncoming[:1]]))
    n = int(np.clip(len(lanes) + rng.integers(-1, 2), 1, 4))
    xs = np.linspace(lanes.min(), lanes.max(), n) + rng.normal(0, 0.3, n)
    if n == 1:
        xs = np.array([rng.uniform(road.same.min(), road.same.max() + 0.01)])
    housing = _jitter(
        rng, _pick(rng, (((28, 28, 26), 3), ((190, 160, 40), 1), ((40, 60, 40), 1))), 6
    )
    style = _LightStyle(
        housing=housing,
        lit=int(rng.choice(3, p=[0.45, 0.15, 0.4])),
        backplate=bool(rng.random() < 0.3),
    )
    width = 0.55 if style.backplate else 0.42
    height = 1.3 if style.backplate else 1.1
    items = []
    for x in xs:
        face = _Face.billboard(cam, x, z, width, height, bottom=mount - height)
        items.append(_Item(z, 5, [face], partial(_paint_traffic_light, face=face, st=style)))
    pole_x = road.right_edge + 0.8
    arm_end = xs.min() - 0.5
    colour = _jitter(rng, (70, 72, 75), 10)
    mast = _Face(
        cam, (arm_end, mount + 0.35, z + 0.1), (pole_x - arm_end, 0, 0), (0, -(mount + 0.35), 0)
    )
    items.append(
        _Item(z + 0.1, 0, [mast], partial(_paint_mast, face=mast, colour=colour, pole_left=False))
    )
    if rng.random() < 0.5:  # a pedestal light on the near corner
        zc = road.cross_z - rng.uniform(0.5, 2.0)
        xc = road.right_edge + 0.6
        face = _Face.billboard(cam, xc, zc, 0.42, 1.1, bottom=2.4)
        pole = _Face.billboard(cam, xc, zc + 0.05, 0.14, 2.45)
        items.append(_Item(zc + 0.05, 0, [pole], partial(_paint_pole, face=pole, colour=colour)))
        items.append(_Item(zc, 5, [face], partial(_paint_traffic_light, face=face, st=style)))
    return items


def _tree_item(rng, cam, x, z, conifer: bool) -> _Item:
    leaf = _jitter(
        rng,
        _pick(rng, (((55, 95, 40), 3), ((80, 110, 45), 2), ((40, 70, 40), 2), ((110, 120, 60), 1))),
        10,
    )
    trunk = _jitter(rng, (85, 65, 45), 10)
    height = rng.uniform(5, 11)
    width = height * rng.uniform(0.45, 0.75)
    face = _Face.billboard(cam, x, z, width, height)
    if conifer:
        return _Item(z, 0, [face], partial(_paint_conifer, face=face, leaf=leaf, trunk=trunk))
    n = int(rng.integers(5, 9)) if face.px_per_m() * height > 30 else 3  # fewer when far
    blobs = np.stack(
        [
            rng.uniform(0.25, 0.75, n),
            rng.uniform(0.18, 0.5, n),
            rng.uniform(0.14, 0.25, n),
            rng.uniform(0.7, 1.25, n),
        ],
        1,
    )
    blobs = blobs[np.argsort(blobs[:, 3])]  # light blobs last (on top)
    paint = partial(_paint_tree, face=face, leaf=leaf, trunk=trunk, blobs=blobs)
    return _Item(z, 0, [face], paint)


def _bush_item(rng, cam, x, z) -> _Item:
    leaf = _jitter(rng, (60, 95, 45), 15)
    height = rng.uniform(0.6, 1.5)
    width = rng.uniform(1.0, 3.0)
    face = _Face.billboard(cam, x, z, width, height)
    n = int(rng.integers(4, 8))
    blobs = np.stack(
        [
            rng.uniform(0.2, 0.8, n),
            rng.uniform(0.45, 0.75, n),
            rng.uniform(0.18, 0.3, n),
            rng.uniform(0.7, 1.2, n),
        ],
        1,
    )
    return _Item(z, 0, [face], partial(_paint_bush, face=face, leaf=leaf, blobs=blobs))


def _place_clutter(rng, cam, road, light) -> list:
    """Street furniture and vegetation: lamps, trees, bushes, signs, bins, hydrants, cones."""
    curbs = (road.left_edge - 0.6, road.right_edge + 0.6)
    outer = (road.left_edge - road.sidewalk - 1.5, road.right_edge + road.sidewalk + 1.5)
    items = []
    for k in (0, 1):
        items += _place_street_lamps(rng, cam, road, light, curbs[k], arm_right=k == 0)
        if road.kind != "highway" or rng.random() < 0.5:
            tree_x = curbs[k] if road.kind == "urban" else outer[k]
            items += _place_trees(rng, cam, road, tree_x)
        for _ in range(int(rng.poisson(2.0 if road.kind == "suburban" else 0.8))):
            z = _far_biased_depth(rng, 3.0, 60.0, 0.8)
            if not road.in_cross(z - 2, z + 2):
                items.append(_bush_item(rng, cam, outer[k] + rng.normal(0, 0.5), z))
    items += [_sign_item(rng, cam, curbs) for _ in range(int(rng.poisson(1.2)))]
    n_small = int(rng.poisson(0.8 if road.kind != "highway" else 0.0))
    items += [_street_item(rng, cam, road) for _ in range(n_small)]
    if rng.random() < 0.15:
        items += _place_cones(rng, cam, road)
    return items


def _place_street_lamps(rng, cam, road, light, curb: float, arm_right: bool) -> list:
    colour = _jitter(rng, _pick(rng, (((90, 92, 95), 2), ((110, 85, 60), 1))), 8)
    lit = light.kind in ("night", "dusk")
    items = []
    z = rng.uniform(4.0, 20)
    spacing = rng.uniform(22, 40)
    while z < 120:
        if not road.in_cross(z - 1, z + 1):
            centre = curb + (1.1 if arm_right else -1.1)  # pole at the curb, arm over the road
            face = _Face.billboard(cam, centre, z, 2.2, rng.uniform(7.5, 9.5))
            paint = partial(
                _paint_street_lamp, face=face, colour=colour, lit=lit, arm_right=arm_right
            )
            items.append(_Item(z, 0, [face], paint))
        z += spacing
    return items


def _place_trees(rng, cam, road, x: float) -> list:
    items = []
    z = rng.uniform(5.0, 14.0)
    spacing = rng.uniform(7, 16) if road.kind == "suburban" else rng.uniform(10, 25)
    conifer = rng.random() < 0.2
    while z < 90:
        if not road.in_cross(z - 3, z + 3) and rng.random() < 0.8:
            items.append(_tree_item(rng, cam, x + rng.normal(0, 0.4), z, conifer))
        z += spacing * rng.uniform(0.7, 1.3)
    return items


_SIGN_COLOURS = (((30, 110, 60), 2), ((30, 70, 160), 2), ((240, 240, 240), 2), ((200, 30, 30), 1))


def _sign_item(rng, cam, curbs: tuple) -> _Item:
    z = _far_biased_depth(rng, 4.0, 60.0, 0.8)
    x = curbs[int(rng.integers(2))]
    shape = _pick(rng, (("rect", 3), ("disc", 2), ("octagon", 1), ("diamond", 1)))
    colour = _jitter(rng, _pick(rng, _SIGN_COLOURS), 8)
    rim = (240, 240, 240) if shape == "rect" else (200, 30, 35)
    face = _Face.billboard(cam, x, z, rng.uniform(0.6, 0.9), rng.uniform(2.4, 3.2))
    return _Item(z, 0, [face], partial(_paint_sign, face=face, shape=shape, colour=colour, rim=rim))


def _street_item(rng, cam, road) -> _Item:
    kind = _pick(rng, (("bin", 2), ("hydrant", 1)))
    size = (0.6, 1.0) if kind == "bin" else (0.35, 0.75)
    colour = _jitter(rng, (40, 70, 50) if kind == "bin" else (200, 40, 30), 15)
    z = _far_biased_depth(rng, 3.0, 40.0, 0.8)
    face = _Face.billboard(cam, _sidewalk_x(rng, road), z, *size)
    return _Item(z, 0, [face], partial(_paint_box_thing, face=face, colour=colour, kind=kind))


def _place_cones(rng, cam, road) -> list:
    z0 = _far_biased_depth(rng, 5.0, 30.0, 1.0)
    x0 = rng.uniform(road.left_edge + 0.5, road.right_edge - 0.5)
    items = []
    for i in range(int(rng.integers(2, 6))):
        face = _Face.billboard(cam, x0 + 0.2 * i, z0 + 2.5 * i, 0.4, 0.7)
        paint = partial(_paint_box_thing, face=face, colour=(240, 110, 20), kind="cone")
        items.append(_Item(z0 + 2.5 * i, 0, [face], paint))
    return items


def _sample_scene(rng: np.random.Generator, height: int, width: int) -> _Scene:
    light = _sample_lighting(rng)
    cam = _sample_camera(rng, height, width)
    road = _sample_road(rng)
    counts = _object_counts(rng, road)
    slots = _Slots()
    items, shadows = [], []
    for kind in ("truck", "car"):
        for _ in range(counts[kind]):
            item = _place_vehicle(rng, cam, road, slots, light, truck=kind == "truck")
            if item is not None:
                items.append(item)
                shadows.append(_vehicle_shadow(item, light))
    people = _place_pedestrians(rng, cam, road, counts["pedestrian"])
    people += _place_bicyclists(rng, cam, road, counts["bicyclist"])
    for item in people:
        shadows.append(_foot_shadow(item, light))
    items += people
    if counts["lights"]:
        items += _place_traffic_lights(rng, cam, road)
    items += _place_clutter(rng, cam, road, light)
    return _Scene(cam, light, road, items, shadows)


def _foot_shadow(item: _Item, light: _Lighting) -> np.ndarray:
    corners = item.faces[0].corners()
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    y1 = corners[:, 1].max()
    w = x1 - x0
    dx = light.sun_dx * 1.5 * w
    return np.array(
        [(x0, y1 - 0.2 * w), (x1, y1 - 0.2 * w), (x1 + dx, y1 + 0.15 * w), (x0 + dx, y1 + 0.15 * w)]
    )


# --------------------------------------------------------------------------------------
# Background: sky, skyline, ground, road, markings, buildings
# --------------------------------------------------------------------------------------


def _fill(img, polys, color, aa: bool = True) -> None:
    if len(polys) == 0:
        return
    if isinstance(polys, np.ndarray):
        pts = list(np.round(polys * 16).astype(np.int32))
    else:
        pts = [np.round(np.asarray(p) * 16).astype(np.int32) for p in polys]
    cv2.fillPoly(img, pts, color, cv2.LINE_AA if aa else cv2.LINE_8, 4)


def _draw_sky(img: np.ndarray, rng, cam: _Camera, light: _Lighting) -> None:
    """Vertical gradient with soft clouds, drawn at quarter resolution (the sky is smooth)."""
    h4, w4 = max(cam.height // 4, 2), max(cam.width // 4, 2)
    rows = np.arange(h4, dtype=np.float32)[:, None, None] * (cam.height / h4)
    t = np.clip(rows / max(cam.horizon, 1.0), 0, 1) ** 1.5
    sky = np.repeat(light.sky_top * (1 - t) + light.sky_horizon * t, w4, axis=1)
    if light.kind != "night" and rng.random() < 0.6:
        mask = np.zeros((h4, w4), np.uint8)
        for _ in range(int(rng.integers(2, 8))):
            centre = (int(rng.uniform(0, w4)), int(rng.uniform(0, 0.9 * cam.horizon / 4)))
            axes = (int(rng.uniform(5, 30)), int(rng.uniform(2, 6)))
            cv2.ellipse(mask, centre, axes, 0, 0, 360, int(rng.uniform(60, 170)), -1)
        mask = cv2.GaussianBlur(mask, (0, 0), 2.5).astype(np.float32)[:, :, None] / 255
        cloud = np.asarray(_mix(light.sky_horizon, (245, 245, 245), 0.6), np.float32)
        sky = sky * (1 - mask) + cloud * mask
    img[:] = cv2.resize(sky.astype(np.uint8), (cam.width, cam.height))


def _draw_skyline(img: np.ndarray, rng, cam: _Camera, road: _Road, light: _Lighting) -> None:
    hz = cam.horizon
    scale = cam.height / 300
    if road.kind == "urban":
        n = int(rng.integers(15, 35))
        xs = rng.uniform(-20, cam.width, n)
        ws = rng.uniform(6, 40, n) * scale
        hs = rng.uniform(3, 40, n) * scale * rng.uniform(0.3, 1.0)
        for x, w, h in zip(xs, ws, hs, strict=True):
            colour = _mix(_jitter(rng, (120, 120, 125), 20), light.sky_horizon, 0.55)
            _fill(img, [[(x, hz - h), (x + w, hz - h), (x + w, hz + 1), (x, hz + 1)]], colour)
    else:
        xs = np.linspace(-5, cam.width + 5, 60)
        phase = rng.uniform(0, 6, 3)
        ys = hz - scale * (
            rng.uniform(2, 12)
            + 6 * np.sin(xs / 70 + phase[0])
            + 4 * np.sin(xs / 23 + phase[1])
            + 2 * np.sin(xs / 9 + phase[2])
        )
        ys = np.minimum(ys, hz)
        pts = np.concatenate([np.stack([xs, ys], 1), [(cam.width + 5, hz + 1), (-5, hz + 1)]])
        colour = _mix(_jitter(rng, (70, 95, 70), 10), light.sky_horizon, 0.5)
        _fill(img, [pts], colour)


_ASPHALT = ((80, 80, 82), (95, 94, 92), (70, 72, 76), (110, 108, 104))


def _draw_ground(img, rng, cam: _Camera, road: _Road) -> tuple:
    hz = math.floor(cam.horizon)
    offroad = {"urban": (150, 146, 138), "suburban": (85, 115, 55), "highway": (120, 125, 75)}
    img[hz + 1 :] = _jitter(rng, offroad[road.kind], 10)
    zn, zf = cam.near_z * 0.7, _FAR
    asphalt = _jitter(rng, _ASPHALT[int(rng.integers(len(_ASPHALT)))], 6)
    if road.kind != "highway":
        walk = _shade(_jitter(rng, (165, 160, 152), 4), rng.uniform(0.85, 1.1))
        lw, rw = road.left_edge - road.sidewalk, road.right_edge + road.sidewalk
        _fill(img, cam.ground_quads([lw, road.right_edge], [road.left_edge, rw], zn, zf), walk)
        # slab joints
        zs = np.arange(math.ceil(zn), 60.0, rng.uniform(1.5, 3.0))
        joints = np.concatenate(
            [
                cam.project(np.stack([np.full_like(zs, a), np.zeros_like(zs), zs], 1))
                for a in (lw, road.left_edge, road.right_edge, rw)
            ]
        ).reshape(4, -1, 2)
        segs = [np.stack([joints[0], joints[1]], 1), np.stack([joints[2], joints[3]], 1)]
        lines = [np.round(s * 16).astype(np.int32) for seg in segs for s in seg]
        cv2.polylines(img, lines, False, _shade(walk, 0.85), 1, cv2.LINE_AA, 4)
        if road.kind == "suburban":
            grass = _jitter(rng, (90, 120, 55), 10)
            _fill(
                img,
                cam.ground_quads(
                    [road.left_edge - 1.2, road.right_edge + 0.2],
                    [road.left_edge - 0.2, road.right_edge + 1.2],
                    zn,
                    zf,
                ),
                grass,
            )
        curb = _shade(walk, 1.1)
        _fill(
            img,
            cam.ground_quads(
                [road.left_edge - 0.2, road.right_edge],
                [road.left_edge, road.right_edge + 0.2],
                zn,
                zf,
            ),
            curb,
        )
    _fill(img, cam.ground_quads(road.left_edge, road.right_edge, zn, zf), asphalt)
    if road.cross_z is not None:
        _fill(img, cam.ground_quads(-300, 300, road.cross_z, road.cross_z + road.cross_w), asphalt)
    return asphalt


def _draw_road_wear(img, rng, cam: _Camera, road: _Road, asphalt) -> None:
    lanes = np.concatenate([road.same, road.oncoming])
    tracks = np.concatenate([lanes - 0.85, lanes + 0.85])
    _fill(
        img,
        cam.ground_quads(tracks - 0.3, tracks + 0.3, cam.near_z * 0.7, _FAR),
        _shade(asphalt, 0.92),
    )
    for _ in range(int(rng.poisson(2.0))):
        x0 = rng.uniform(road.left_edge, road.right_edge - 1)
        z0 = _far_biased_depth(rng, cam.near_z, 60, 1.0)
        quad = cam.ground_quads(x0, x0 + rng.uniform(0.8, 4), z0, z0 + rng.uniform(1, 8))
        _fill(img, quad, _shade(asphalt, rng.uniform(0.75, 1.2)))
    for _ in range(int(rng.poisson(1.0))):
        x0 = rng.uniform(road.left_edge, road.right_edge)
        zs = np.linspace(cam.near_z, rng.uniform(15, 80), 12)
        xs = x0 + np.cumsum(rng.normal(0, 0.15, 12))
        pts = cam.project(np.stack([xs, np.zeros(12), zs], 1))
        cv2.polylines(
            img,
            [np.round(pts * 16).astype(np.int32)],
            False,
            _shade(asphalt, 0.55),
            1,
            cv2.LINE_AA,
            4,
        )
    if rng.random() < 0.5:
        z = rng.uniform(4, 30)
        x = rng.uniform(road.left_edge + 1, road.right_edge - 1)
        t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
        pts = cam.project(np.stack([x + 0.35 * np.cos(t), np.zeros(16), z + 0.35 * np.sin(t)], 1))
        _fill(img, [pts], _shade(asphalt, 0.6))


def _dash_quads(cam, road: _Road, x, width, dash, gap, z0, z1):
    """Ground quads of one (dashed when gap > 0) line, interrupted by the crossing."""
    if gap > 0:
        starts = np.arange(z0 - dash, z1, dash + gap)
    else:
        starts = np.array([z0])
        dash = z1 - z0
    ends = starts + dash
    if road.cross_z is not None:
        starts, ends = _cut_spans(starts, ends, road.cross_z - 4.0, road.cross_z + road.cross_w)
    return cam.ground_quads(x - width / 2, x + width / 2, np.maximum(starts, 0.3), ends)


def _cut_spans(starts, ends, c0, c1):
    """Remove [c0, c1] from spans [starts, ends] (a span may split in two)."""
    left = np.stack([starts, np.minimum(ends, c0)], 1)
    right = np.stack([np.maximum(starts, c1), ends], 1)
    spans = np.concatenate([left, right])
    spans = spans[spans[:, 1] > spans[:, 0]]
    return spans[:, 0], spans[:, 1]


def _draw_markings(img, rng, cam: _Camera, road: _Road) -> None:
    white = _jitter(rng, (225, 225, 220), 10)
    yellow = _jitter(rng, (215, 175, 50), 10)
    zn, zf = cam.near_z * 0.7, 250.0
    dash, gap = rng.uniform(2.5, 3.5), rng.uniform(6.0, 9.0)
    quads = []
    for lanes in (road.same, road.oncoming):
        for a, b in itertools.pairwise(lanes):
            quads.append(_dash_quads(cam, road, (a + b) / 2, 0.13, dash, gap, zn, zf))
    edge_l = road.left_edge + (2.4 if road.parking and road.parking[0] < 0 else 0.0) + 0.15
    edge_r = road.right_edge - (2.4 if road.parking and road.parking[-1] > 0 else 0.0) - 0.15
    if road.kind == "highway":
        edge_l, edge_r = road.left_edge + 1.0 + 0.15, road.right_edge - 2.5 - 0.15
    quads.append(_dash_quads(cam, road, edge_l, 0.12, 1, 0, zn, zf))
    quads.append(_dash_quads(cam, road, edge_r, 0.12, 1, 0, zn, zf))
    _fill(img, np.concatenate(quads), white)
    if len(road.oncoming):
        centre = road.same[0] - road.lane_width / 2 - 0.15
        dbl = [_dash_quads(cam, road, centre + d, 0.11, 1, 0, zn, zf) for d in (-0.12, 0.12)]
        _fill(img, np.concatenate(dbl), yellow)
    if road.cross_z is not None:
        z = road.cross_z
        xs = np.arange(road.left_edge + 0.3, road.right_edge - 0.5, 1.1)
        stripes = cam.ground_quads(xs, xs + 0.55, z - 3.5, z - 0.6)
        stop = cam.ground_quads(
            road.same.min() - road.lane_width / 2,
            road.same.max() + road.lane_width / 2,
            z - 5.0,
            z - 4.5,
        )
        _fill(img, np.concatenate([stripes, stop]), white)


_FACADES = (
    ((150, 75, 60), 2),
    ((190, 175, 150), 3),
    ((130, 130, 132), 2),
    ((220, 215, 205), 2),
    ((110, 90, 70), 1),
    ((170, 150, 120), 2),
)


def _draw_buildings(img, emit, rng, cam: _Camera, road: _Road, light: _Lighting) -> None:
    if road.kind == "highway":
        _draw_guardrails(img, rng, cam, road)
        return
    night = light.kind in ("night", "dusk")
    for side in (-1, 1):
        blocks = _sample_blocks(rng, cam, road, side)
        if not blocks:
            continue
        x, z0, z1, h = (np.array(col) for col in zip(*blocks, strict=True))
        walls = cam.wall_quads(x, 0.0, h, z0, z1)
        colours = [_jitter(rng, _pick(rng, _FACADES), 12) for _ in blocks]
        for i in reversed(range(len(blocks))):
            _fill(img, walls[i : i + 1], colours[i])
            if road.kind == "suburban":
                roof = cam.project(
                    [
                        (x[i], h[i], z0[i]),
                        (x[i], h[i] + rng.uniform(1.5, 3), (z0[i] + z1[i]) / 2),
                        (x[i], h[i], z1[i]),
                    ]
                )
                _fill(img, [roof], _jitter(rng, (90, 60, 55), 15))
        _draw_windows(img, emit, rng, cam, blocks, night)


def _sample_blocks(rng, cam: _Camera, road: _Road, side: int) -> list:
    """Building blocks (x, z0, z1, height) along one side of the road, near to far."""
    base = (road.left_edge - road.sidewalk) if side < 0 else (road.right_edge + road.sidewalk)
    urban = road.kind == "urban"
    blocks = []
    z = cam.near_z * 0.5 - rng.uniform(0, 8)
    while z < 160:
        length = rng.uniform(8, 35) if urban else rng.uniform(8, 14)
        height = rng.uniform(6, 28) if urban else rng.uniform(3.2, 6.5)
        setback = rng.uniform(0, 0.6) if urban else rng.uniform(4, 10)
        if not road.in_cross(z, z + length):
            blocks.append((base + side * setback, z, z + length, height))
        z += length + (rng.uniform(0, 2) if urban else rng.uniform(4, 12))
    return blocks


def _draw_windows(img, emit, rng, cam, blocks: list, night: bool) -> None:
    """One grid of windows per facade nearer than 90 m, drawn in a single call."""
    quads = []
    for x, z0, z1, h in blocks:
        if z0 > 90:
            break
        floors = np.arange(1.0, h - 1.2, 3.2)
        cols = np.arange(z0 + 1.0, z1 - 1.6, rng.uniform(2.4, 3.4))
        if len(floors) and len(cols):
            fy, cz = np.meshgrid(floors, cols, indexing="ij")
            quads.append(
                cam.wall_quads(x, fy.ravel(), fy.ravel() + 1.5, cz.ravel(), cz.ravel() + 1.4)
            )
    if not quads:
        return
    quads = np.concatenate(quads)
    _fill(img, quads, _jitter(rng, (55, 65, 80), 12), aa=False)
    if night:
        lit = quads[rng.random(len(quads)) < 0.3]
        _fill(img, lit, (235, 200, 120), aa=False)
        _fill(emit, lit, 1.0, aa=False)


def _draw_guardrails(img, rng, cam: _Camera, road: _Road) -> None:
    rail = _jitter(rng, (165, 165, 160), 10)
    zn = cam.near_z * 0.5
    for x in (road.left_edge + 0.3, road.right_edge + 0.3):
        posts = np.arange(zn, 120, 4.0)
        _fill(img, cam.wall_quads(x, 0, 0.55, posts, posts + 0.15), _shade(rail, 0.6))
        _fill(img, cam.wall_quads(x, 0.5, 0.8, zn, _FAR), rail)


def _shadow_factor(rng, cam, road, scene: _Scene) -> np.ndarray:
    """(H, W) brightness factor of cast shadows: under vehicles, people, trees, buildings."""
    mask = np.zeros((cam.height, cam.width), np.uint8)
    if scene.light.shadow <= 0:
        return np.ones(mask.shape, np.float32)
    polys = list(scene.shadows)
    if road.kind != "highway" and rng.random() < 0.4:
        side = road.left_edge if rng.random() < 0.5 else road.right_edge
        reach = rng.uniform(2, 8) * (1 if side == road.left_edge else -1)
        z0 = rng.uniform(cam.near_z, 30)
        polys.extend(
            cam.ground_quads(
                min(side, side + reach), max(side, side + reach), z0, z0 + rng.uniform(10, 60)
            )
        )
    for item in scene.items:
        if item.class_id == 0 and item.faces[0].px_per_m() * 5 > 6:
            corners = item.faces[0].corners()
            width = corners[:, 0].max() - corners[:, 0].min()
            if width > 4 * (item.faces[0].px_per_m()):  # trees
                bottom = corners[:, 1].max()
                cx = corners[:, 0].mean() + scene.light.sun_dx * width * 0.6
                polys.append(
                    cv2.ellipse2Poly(
                        (int(cx), int(bottom)),
                        (int(width * 0.5), max(1, int(width * 0.08))),
                        0,
                        0,
                        360,
                        30,
                    ).astype(np.float64)
                )
    _fill(mask, polys, 255)
    mask = cv2.GaussianBlur(mask, (0, 0), 1.2)
    return 1.0 - (scene.light.shadow / 255.0) * mask.astype(np.float32)


def _draw_background(rng, scene: _Scene) -> tuple:
    cam, road, light = scene.cam, scene.road, scene.light
    img = np.empty((cam.height, cam.width, 3), np.uint8)
    emit = np.zeros((cam.height, cam.width), np.float32)
    _draw_sky(img, rng, cam, light)
    _draw_skyline(img, rng, cam, road, light)
    asphalt = _draw_ground(img, rng, cam, road)
    _draw_road_wear(img, rng, cam, road, asphalt)
    _draw_markings(img, rng, cam, road)
    _draw_buildings(img, emit, rng, cam, road, light)
    factor = _shadow_factor(rng, cam, road, scene)
    _apply_ground_texture(factor, rng, cam)
    return _scale_rgb(img.astype(np.float32), factor), emit


def _scale_rgb(img: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """``img * factor[..., None]`` for a float32 (H, W, 3) image and (H, W) factor."""
    return cv2.multiply(img, cv2.merge((factor, factor, factor)))


@lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> tuple:
    """Fixed noise fields shared by all frames, read at random offsets.

    Returns (fine, coarse): ``fine`` is flat unit Gaussian noise, a frame's worth of values
    plus ``_BANK_SLACK``; ``coarse`` is a smooth 2-D field 64 px larger than the frame.
    """
    gen = np.random.default_rng(20240531)
    fine = gen.normal(0, 1, height * width * 3 + _BANK_SLACK).astype(np.float32)
    coarse = gen.normal(0, 1, (height + 64, width + 64)).astype(np.float32)
    coarse = cv2.GaussianBlur(coarse, (0, 0), 1.5)
    coarse /= coarse.std()
    return fine, coarse


_BANK_SLACK = 4096


def _noise_view(rng, height: int, width: int) -> np.ndarray:
    fine, _ = _noise_bank(height, width)
    start = int(rng.integers(0, _BANK_SLACK))
    return fine[start : start + height * width * 3].reshape(height, width, 3)


def _apply_ground_texture(factor: np.ndarray, rng, cam: _Camera) -> None:
    """Multiply a smooth grain into the brightness factor below the horizon."""
    hz = int(cam.horizon) + 1
    _, coarse = _noise_bank(cam.height, cam.width)
    dy, dx = rng.integers(0, 64, 2)
    tex = coarse[dy + hz : dy + cam.height, dx : dx + cam.width]
    factor[hz:] *= 1 + rng.uniform(0.03, 0.07) * tex


# --------------------------------------------------------------------------------------
# Compositing, labels and the camera pipeline
# --------------------------------------------------------------------------------------


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


def _glow(light_sources: np.ndarray) -> np.ndarray:
    """Wide blur of the emissive pixels (computed at quarter resolution)."""
    h, w = light_sources.shape[:2]
    small = cv2.resize(
        light_sources, (max(w // 4, 1), max(h // 4, 1)), interpolation=cv2.INTER_AREA
    )
    return cv2.resize(cv2.GaussianBlur(small, (0, 0), 1.2), (w, h))


@lru_cache(maxsize=4)
def _vignette(height: int, width: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    r2 = ((xx - width / 2) / (width / 2)) ** 2 + ((yy - height / 2) / (height / 2)) ** 2
    v = (1.0 - 0.06 * r2).astype(np.float32)
    return cv2.merge((v, v, v))


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

    ``render_scene(seed, i, split)`` gives exactly the pixels and labels of frame ``i`` of that
    split in a dataset written by :func:`generate_dataset` with the same seed and image size.

    Args:
        seed: Dataset seed (non-negative integer).
        index: Frame index within the split (non-negative integer).
        split: ``'train'`` or ``'val'``.
        img_height: Image height in pixels (>= 64).
        img_width: Image width in pixels (>= 64).
        jpeg: If True, return the image after the JPEG round trip the dataset files go
            through; if False, the image before compression.

    Returns:
        ``(image, labels)``: ``image`` is an RGB uint8 array of shape
        ``(img_height, img_width, 3)``; ``labels`` is an int array of shape ``(k, 5)`` with
        rows ``(class_id, xmin, ymin, xmax, ymax)`` in pixels (the library's default
        ``labels_output_format``), ``k`` >= 0. Coordinates are inclusive pixel indices.

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


# --------------------------------------------------------------------------------------
# Writing datasets: CSV, Pascal VOC XML, COCO JSON
# --------------------------------------------------------------------------------------


def frame_name(split: str, index: int) -> str:
    """File name of frame ``index`` of ``split``, e.g. ``'train_000042.jpg'``."""
    return f"{split}_{index:06d}.jpg"


def _voc_xml(name: str, boxes: np.ndarray, height: int, width: int) -> str:
    objects = "".join(
        "  <object>\n"
        f"    <name>{CLASS_NAMES[int(b[_BOX_CLASS])]}</name>\n"
        "    <pose>Unspecified</pose>\n"
        f"    <truncated>{int(b[_BOX_TRUNC])}</truncated>\n"
        f"    <difficult>{int(b[_BOX_DIFF])}</difficult>\n"
        "    <bndbox>\n"
        f"      <xmin>{int(b[_BOX_XMIN])}</xmin>\n"
        f"      <ymin>{int(b[_BOX_YMIN])}</ymin>\n"
        f"      <xmax>{int(b[_BOX_XMAX])}</xmax>\n"
        f"      <ymax>{int(b[_BOX_YMAX])}</ymax>\n"
        "    </bndbox>\n"
        "  </object>\n"
        for b in boxes
    )
    return (
        "<annotation>\n"
        "  <folder>synthetic_traffic</folder>\n"
        f"  <filename>{name}</filename>\n"
        f"  <size>\n    <width>{width}</width>\n    <height>{height}</height>\n"
        "    <depth>3</depth>\n  </size>\n"
        "  <segmented>0</segmented>\n"
        f"{objects}</annotation>\n"
    )


def _frame_task(task: tuple) -> tuple:
    seed, split, index, height, width, out_dir, write_voc = task
    data, boxes = _make_frame(seed, split, index, height, width)
    name = frame_name(split, index)
    with open(os.path.join(out_dir, name), "wb") as f:
        f.write(data)
    if write_voc:
        xml = _voc_xml(name, boxes, height, width)
        with open(os.path.join(out_dir, "Annotations", name[:-4] + ".xml"), "w") as f:
            f.write(xml)
    return index, boxes


def _worker_init() -> None:
    cv2.setNumThreads(1)


def _run_tasks(tasks: list, workers: int, desc: str, verbose: bool) -> list:
    results = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="img", disable=not verbose)
    try:
        if workers <= 1 or len(tasks) < 8:
            for task in tasks:
                index, boxes = _frame_task(task)
                results[index] = boxes
                bar.update()
        else:
            ctx = multiprocessing.get_context("spawn")
            chunk = max(1, min(32, len(tasks) // (workers * 8)))
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for index, boxes in pool.imap_unordered(_frame_task, tasks, chunksize=chunk):
                    results[index] = boxes
                    bar.update()
    finally:
        bar.close()
    return results


def _write_csv(path: Path, split: str, boxes_per_frame: list) -> None:
    lines = [",".join(CSV_HEADER)]
    for index, boxes in enumerate(boxes_per_frame):
        name = frame_name(split, index)
        lines.extend(
            f"{name},{b[_BOX_XMIN]},{b[_BOX_XMAX]},{b[_BOX_YMIN]},{b[_BOX_YMAX]},{b[_BOX_CLASS]}"
            for b in boxes
        )
    path.write_text("\n".join(lines) + "\n")


def _write_coco(path: Path, split: str, boxes_per_frame: list, height: int, width: int) -> None:
    images, annotations = [], []
    for index, boxes in enumerate(boxes_per_frame):
        images.append(
            {
                "id": index + 1,
                "file_name": frame_name(split, index),
                "height": height,
                "width": width,
            }
        )
        for b in boxes:
            w, h = int(b[_BOX_XMAX] - b[_BOX_XMIN]), int(b[_BOX_YMAX] - b[_BOX_YMIN])
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": index + 1,
                    "category_id": int(b[_BOX_CLASS]),
                    "bbox": [int(b[_BOX_XMIN]), int(b[_BOX_YMIN]), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
    supercategory = ("", "vehicle", "vehicle", "person", "person", "outdoor")
    categories = [
        {"id": i, "name": CLASS_NAMES[i], "supercategory": supercategory[i]}
        for i in range(1, len(CLASS_NAMES))
    ]
    doc = {
        "info": {"description": f"Synthetic road traffic ({split})", "version": "1.0"},
        "licenses": [],
        "images": images,
        "annotations": annotations,
        "categories": categories,
    }
    path.write_text(json.dumps(doc))


def _check_generate_args(n_train, n_val, seed, formats, workers) -> tuple:
    for name, value in (("n_train", n_train), ("n_val", n_val), ("seed", seed)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 0:
            raise ValueError(f"`{name}` must be a non-negative integer, got {value!r}")
    if isinstance(formats, str):
        formats = (formats,)
    formats = tuple(formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValueError(f"`formats` must be a non-empty subset of {FORMATS}, got {formats!r}")
    if workers is None:
        workers = (
            len(os.sched_getaffinity(0))
            if hasattr(os, "sched_getaffinity")
            else (os.cpu_count() or 1)
        )
    if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"`workers` must be None or a non-negative integer, got {workers!r}")
    return formats, int(workers)


def generate_dataset(
    output_dir: str | os.PathLike,
    n_train: int = 3000,
    n_val: int = 500,
    seed: int = 0,
    formats: Sequence[str] = ("csv",),
    img_height: int = 300,
    img_width: int = 480,
    workers: int | None = None,
    verbose: bool = True,
) -> dict:
    """Write a synthetic road-traffic dataset to ``output_dir``.

    Layout (``N`` = frame index, six digits)::

        output_dir/train_N.jpg, val_N.jpg       the frames (JPEG, RGB)
        output_dir/labels_train.csv, labels_val.csv          formats 'csv'
        output_dir/Annotations/<split>_N.xml                 formats 'voc'
        output_dir/ImageSets/Main/train.txt, val.txt         formats 'voc'
        output_dir/annotations/instances_train.json, ...val  formats 'coco'

    The CSV files have the header ``frame,xmin,xmax,ymin,ymax,class_id`` and one row per box
    (``minmax`` format, integer pixels); read them with ``DataGenerator.parse_csv(images_dir=
    output_dir, labels_filename=..., input_format=['image_name', 'xmin', 'xmax', 'ymin',
    'ymax', 'class_id'])``. Frames without boxes (a few percent) have no CSV row, so only
    the VOC and COCO formats list them. VOC files use the class names of
    :data:`CLASS_NAMES` (pass ``classes=CLASS_NAMES`` to ``parse_xml``) and the same pixel
    values as the CSV; COCO boxes are ``[xmin, ymin, xmax - xmin, ymax - ymin]`` with
    category ids 1..5 and image ids ``N + 1``.

    Args:
        output_dir: Folder to write into (created if missing). Files of the same names are
            replaced; frames left over from a larger earlier run are not deleted, but the label
            files only list the frames of this run.
        n_train: Number of training frames.
        n_val: Number of validation frames.
        seed: Seed; frame ``N`` of a split depends only on ``(seed, split, N)`` and the size.
        formats: Any of ``'csv'``, ``'voc'``, ``'coco'``.
        img_height: Frame height in pixels.
        img_width: Frame width in pixels.
        workers: Worker processes; None uses every available core, 0 or 1 work in-process.
            The output is identical for any value.
        verbose: Show tqdm progress bars.

    Returns:
        A dict with ``images_dir`` and, per split, ``n_<split>``, ``boxes_<split>`` (box
        count) and the label paths written: ``labels_<split>`` (CSV), ``image_set_<split>``
        and ``annotations_dir`` (VOC), ``coco_<split>`` (COCO). Paths are strings.

    Raises:
        ValueError: On negative counts or seed, unknown formats, bad workers or image size.
        OSError: If ``output_dir`` cannot be created or written.
    """
    formats, workers = _check_generate_args(n_train, n_val, seed, formats, workers)
    _check_size(img_height, img_width)
    out = Path(output_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OSError(f"cannot create `output_dir` {str(out)!r}: {exc.strerror or exc}") from exc
    if "voc" in formats:
        (out / "Annotations").mkdir(exist_ok=True)
        (out / "ImageSets" / "Main").mkdir(parents=True, exist_ok=True)
    if "coco" in formats:
        (out / "annotations").mkdir(exist_ok=True)
    result = {"images_dir": str(out)}
    for split, count in (("train", int(n_train)), ("val", int(n_val))):
        tasks = [
            (int(seed), split, i, img_height, img_width, str(out), "voc" in formats)
            for i in range(count)
        ]
        boxes = _run_tasks(tasks, workers, f"Generating {split} images", verbose)
        result[f"n_{split}"] = count
        result[f"boxes_{split}"] = int(sum(len(b) for b in boxes))
        if "csv" in formats:
            path = out / f"labels_{split}.csv"
            _write_csv(path, split, boxes)
            result[f"labels_{split}"] = str(path)
        if "voc" in formats:
            path = out / "ImageSets" / "Main" / f"{split}.txt"
            path.write_text("".join(frame_name(split, i)[:-4] + "\n" for i in range(count)))
            result[f"image_set_{split}"] = str(path)
            result["annotations_dir"] = str(out / "Annotations")
        if "coco" in formats:
            path = out / "annotations" / f"instances_{split}.json"
            _write_coco(path, split, boxes, img_height, img_width)
            result[f"coco_{split}"] = str(path)
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m data_generator.synthetic_traffic OUTPUT_DIR [options]``."""
    parser = argparse.ArgumentParser(
        prog="python -m data_generator.synthetic_traffic",
        description="Write the synthetic road-traffic dataset (Udacity layout, 5 classes).",
    )
    parser.add_argument("output_dir", help="folder to write the frames and labels into")
    parser.add_argument("--n-train", type=int, default=3000, help="training frames (3000)")
    parser.add_argument("--n-val", type=int, default=500, help="validation frames (500)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (0)")
    parser.add_argument(
        "--formats",
        nargs="+",
        default=["csv"],
        choices=FORMATS,
        help="label formats to write (csv)",
    )
    parser.add_argument("--height", type=int, default=300, help="frame height in px (300)")
    parser.add_argument("--width", type=int, default=480, help="frame width in px (480)")
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (all cores); the output does not depend on it",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    try:
        info = generate_dataset(
            args.output_dir,
            n_train=args.n_train,
            n_val=args.n_val,
            seed=args.seed,
            formats=args.formats,
            img_height=args.height,
            img_width=args.width,
            workers=args.workers,
            verbose=not args.quiet,
        )
    except (ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
