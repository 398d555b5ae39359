"""Light, shadows and sensor texture.

Samples the lighting of a frame (daytime, overcast, dusk or night: sky colours, gain,
contrast, ambient level, shadow strength and sun direction), builds the ground shadow polygons
of vehicles and people, and provides the fixed noise fields and the photometric building blocks
(RGB scaling, glow of light sources, vignetting) that the background and the camera finish use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from data_generator.synthetic_traffic.camera import _Camera
from data_generator.synthetic_traffic.canvas import _Item, _jitter, _pick


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


def _foot_shadow(item: _Item, light: _Lighting) -> np.ndarray:
    corners = item.faces[0].corners()
    x0, x1 = corners[:, 0].min(), corners[:, 0].max()
    y1 = corners[:, 1].max()
    w = x1 - x0
    dx = light.sun_dx * 1.5 * w
    return np.array(
        [(x0, y1 - 0.2 * w), (x1, y1 - 0.2 * w), (x1 + dx, y1 + 0.15 * w), (x0 + dx, y1 + 0.15 * w)]
    )


def _scale_rgb(img: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """`img * factor[..., None]` for a float32 (H, W, 3) image and (H, W) factor."""
    return cv2.multiply(img, cv2.merge((factor, factor, factor)))


@lru_cache(maxsize=4)
def _noise_bank(height: int, width: int) -> tuple:
    """Fixed noise fields shared by all frames, read at random offsets.

    Returns (fine, coarse): `fine` is flat unit Gaussian noise, a frame's worth of values
    plus `_BANK_SLACK`; `coarse` is a smooth 2-D field 64 px larger than the frame.
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
