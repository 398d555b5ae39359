"""Embedded synthetic road-traffic dataset in the layout of the Udacity driving data.

The SSD7 tutorial trains on Udacity's road-traffic frames (300x480 RGB, five classes). That
data cannot be shipped, so this package draws comparable frames itself: a road seen by a
dash camera with a horizon, lanes and markings, buildings or vegetation, street furniture,
and the five object classes

    1 car, 2 truck, 3 pedestrian, 4 bicyclist, 5 traffic light

placed on the ground plane with a pinhole camera, so that distant objects are small and sit
near the horizon. Everything is drawn with OpenCV and NumPy and is fully determined by a
seed: frame `i` of split `s` uses the seed sequence `(seed, s, i)`, so the output does
not depend on the number of worker processes (bytes are identical for a given OpenCV build;
another build or CPU may round a few pixel values differently, the labels do not change).

Ground-truth rules (what an annotator would have drawn):

* A box is the full extent of the object, also where a nearer object hides part of it, and is
  clipped to the image. Coordinates are integer pixels; `xmax`/`ymax` are the last
  covered column/row (inclusive), so every box lies in `[0, W-1] x [0, H-1]`.
* An object is left unlabelled (it is still drawn) when more than 70 % of its in-frame pixels
  are hidden by nearer things, when less than 15 % of it and fewer than 1000 of its pixels
  lie inside the frame, or when its clipped box is narrower or lower than 4 px.
* VOC `truncated` is 1 when the box was clipped at a border; `difficult` is 1 when more
  than half of the in-frame object is hidden.

Public API: `render_scene` (one frame in memory), `generate_dataset` (files on disk, CSV /
Pascal VOC / COCO) and the command line `python -m data_generator.synthetic_traffic
OUTPUT_DIR` (`main`).

Modules, each importing only those above it:

* `constants`: class names, CSV header, formats, splits, annotation-rule thresholds.
* `camera`: pinhole camera, world faces, depth sampling.
* `canvas`: supersampled drawing canvas, patches, scene items, colour functions.
* `lighting`: lighting sampling, shadow polygons, noise fields, photometric building blocks.
* `road`: road layout (lanes, curbs, sidewalks, crossing).
* `objects`: painters of the five labelled classes.
* `clutter`: unlabelled street furniture and vegetation.
* `scene`: sampling of one frame's scene (object counts and placement).
* `background`: sky, ground, road surface, markings, buildings, cast shadows.
* `render`: compositing, labelling, camera finish, `render_scene`.
* `writers`: CSV / VOC / COCO files, `frame_name`, `generate_dataset`.
* `cli`: the command line (`main`), run by `__main__`.
"""

from __future__ import annotations

from data_generator.synthetic_traffic.cli import main
from data_generator.synthetic_traffic.constants import (
    CLASS_NAMES,
    CSV_HEADER,
    FORMATS,
    SPLITS,
)

# Public constants that `__all__` does not list; the redundant aliases mark them as re-exports.
from data_generator.synthetic_traffic.constants import (
    DIFFICULT_OCCLUDED_FRACTION as DIFFICULT_OCCLUDED_FRACTION,
)
from data_generator.synthetic_traffic.constants import (
    EMPTY_SCENE_PROBABILITY as EMPTY_SCENE_PROBABILITY,
)
from data_generator.synthetic_traffic.constants import (
    MIN_BOX_SIDE as MIN_BOX_SIDE,
)
from data_generator.synthetic_traffic.constants import (
    MIN_IN_FRAME_FRACTION as MIN_IN_FRAME_FRACTION,
)
from data_generator.synthetic_traffic.constants import (
    MIN_IN_FRAME_PIXELS as MIN_IN_FRAME_PIXELS,
)
from data_generator.synthetic_traffic.constants import (
    OCCLUDED_DROP_FRACTION as OCCLUDED_DROP_FRACTION,
)
from data_generator.synthetic_traffic.render import render_scene
from data_generator.synthetic_traffic.writers import frame_name, generate_dataset

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
