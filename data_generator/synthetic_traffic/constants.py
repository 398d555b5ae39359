"""Fixed definitions of the synthetic road-traffic dataset.

Class names and ids, the CSV header, the label formats and splits that `generate_dataset`
knows, the thresholds of the annotation rule (see the package docstring) and the column
layout of the per-frame box arrays the renderer returns.
"""

from __future__ import annotations

CLASS_NAMES = ("background", "car", "truck", "pedestrian", "bicyclist", "traffic_light")
"""Class names by class id; pass as `classes` to `DataGenerator.parse_xml`."""

CSV_HEADER = ("frame", "xmin", "xmax", "ymin", "ymax", "class_id")
"""Header of `labels_train.csv` / `labels_val.csv` (one row per box)."""

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
