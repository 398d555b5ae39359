"""Road layout: kind of road, lanes, parking lanes, curbs, sidewalks and a crossing street.

Lateral positions are metres from the camera (negative to the left); depths are metres ahead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from data_generator.synthetic_traffic.canvas import _pick


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


def _sidewalk_x(rng, road: _Road) -> float:
    if rng.random() < 0.5:
        return road.left_edge - rng.uniform(0.5, max(0.6, road.sidewalk - 0.4))
    return road.right_edge + rng.uniform(0.5, max(0.6, road.sidewalk - 0.4))
