"""Painters of the five labelled classes: cars, trucks, pedestrians, bicyclists, traffic lights.

Each class has a style (sampled colours, body type, pose) and painters that draw it on the faces
of an item. Vehicles are boxes whose end and side faces are painted separately
(`_vehicle_item`); people, bicyclists and traffic lights are upright billboards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from data_generator.synthetic_traffic.camera import _Face
from data_generator.synthetic_traffic.canvas import _Canvas, _Item, _jitter, _mix, _pick, _shade
from data_generator.synthetic_traffic.lighting import _Lighting

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
    end face at z (rear when `forward`) and one long side if it is off-centre.
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
