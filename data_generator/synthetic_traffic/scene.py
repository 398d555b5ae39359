"""Scene sampling: lighting, camera, road, how many objects, and where they stand.

`_sample_scene` draws everything a frame contains before anything is rendered: vehicles in
their lanes (kept apart by `_Slots`), pedestrians, bicyclists, traffic lights at a crossing,
clutter, and the ground shadow polygons under vehicles and people.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from data_generator.synthetic_traffic.camera import (
    _Camera,
    _Face,
    _far_biased_depth,
    _sample_camera,
)
from data_generator.synthetic_traffic.canvas import _Item, _jitter, _pick
from data_generator.synthetic_traffic.clutter import _paint_mast, _paint_pole, _place_clutter
from data_generator.synthetic_traffic.constants import EMPTY_SCENE_PROBABILITY
from data_generator.synthetic_traffic.lighting import (
    _foot_shadow,
    _Lighting,
    _sample_lighting,
    _vehicle_shadow,
)
from data_generator.synthetic_traffic.objects import (
    _CLOTHES,
    _BikeStyle,
    _LightStyle,
    _paint_bicyclist_rear,
    _paint_bicyclist_side,
    _paint_car_end,
    _paint_car_side,
    _paint_person,
    _paint_traffic_light,
    _paint_truck_end,
    _paint_truck_side,
    _sample_car_style,
    _sample_person_style,
    _sample_truck_style,
    _vehicle_item,
)
from data_generator.synthetic_traffic.road import _Road, _sample_road, _sidewalk_x


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
