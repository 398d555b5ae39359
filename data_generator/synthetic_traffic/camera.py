"""Camera geometry: the pinhole dash camera and planar faces in the world.

World coordinates are metres: X to the right, Y up (height above the ground), Z forward. The
camera projects world points to image pixels; a `_Face` is a world rectangle addressed by
fractions `(a, b)` in `[0, 1]^2`, which painters use to draw on it. `_sample_camera` draws the
camera of a frame, `_far_biased_depth` the depth of a new object.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np


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

    `a` runs along `ea` (left to right for billboards), `b` along `eb` (top to bottom).
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


def _sample_camera(rng: np.random.Generator, height: int, width: int) -> _Camera:
    return _Camera(
        height=height,
        width=width,
        horizon=float(height * rng.uniform(0.37, 0.5)),
        vanish_x=float(width / 2 + rng.normal(0, 0.04 * width)),
        focal=float(width * rng.uniform(0.72, 0.84)),
        elevation=float(rng.uniform(1.3, 1.7)),
    )


def _far_biased_depth(rng: np.random.Generator, z_min: float, z_max: float, bias: float) -> float:
    """Log-uniform depth, skewed to the far end when `bias` < 1."""
    return float(z_min * (z_max / z_min) ** (rng.random() ** bias))
