"""The backdrop of a frame: sky, skyline, ground, road surface, markings, buildings, shadows.

Everything here is drawn straight into the full-size image before the objects, with OpenCV
polygon fills in image pixels. `_draw_background` returns the float32 RGB image with cast
shadows and ground grain applied, and the emission map (lit windows at dusk and night).
"""

from __future__ import annotations

import itertools
import math

import cv2
import numpy as np

from data_generator.synthetic_traffic.camera import _Camera, _far_biased_depth
from data_generator.synthetic_traffic.canvas import _jitter, _mix, _pick, _shade
from data_generator.synthetic_traffic.lighting import _apply_ground_texture, _Lighting, _scale_rgb
from data_generator.synthetic_traffic.road import _Road
from data_generator.synthetic_traffic.scene import _Scene

_FAR = 400.0  # metres; the far end of every ground polygon


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
