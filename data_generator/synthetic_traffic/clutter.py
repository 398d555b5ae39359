"""Unlabelled street furniture and vegetation: painters, items and their placement.

Trees, conifers, bushes, street lamps, signal masts and poles, signs, bins, hydrants and
traffic cones. They are drawn like the objects (class id 0) and hide them, but get no label.
"""

from __future__ import annotations

from functools import partial

import numpy as np

from data_generator.synthetic_traffic.camera import _Face, _far_biased_depth
from data_generator.synthetic_traffic.canvas import _Canvas, _Item, _jitter, _pick, _shade
from data_generator.synthetic_traffic.road import _sidewalk_x


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
