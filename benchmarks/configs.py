"""Encoder settings shared by the benchmark scripts (the SSD7 tutorial and SSD300 VOC setups)."""

from __future__ import annotations

SSD7_ENCODER = {
    "img_height": 300,
    "img_width": 480,
    "n_classes": 5,
    "predictor_sizes": [[37, 60], [18, 30], [9, 15], [4, 7]],
    "scales": [0.08, 0.16, 0.32, 0.64, 0.96],
    "aspect_ratios_global": [0.5, 1.0, 2.0],
    "two_boxes_for_ar1": True,
    "steps": None,
    "offsets": None,
    "clip_boxes": False,
    "variances": [1.0, 1.0, 1.0, 1.0],
    "matching_type": "multi",
    "pos_iou_threshold": 0.5,
    "neg_iou_limit": 0.3,
    "normalize_coords": True,
}

SSD300_ENCODER = {
    "img_height": 300,
    "img_width": 300,
    "n_classes": 20,
    "predictor_sizes": [[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]],
    "scales": [0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05],
    "aspect_ratios_per_layer": [
        [1.0, 2.0, 0.5],
        [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
        [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
        [1.0, 2.0, 0.5, 3.0, 1.0 / 3.0],
        [1.0, 2.0, 0.5],
        [1.0, 2.0, 0.5],
    ],
    "two_boxes_for_ar1": True,
    "steps": [8, 16, 32, 64, 100, 300],
    "offsets": [0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    "clip_boxes": False,
    "variances": [0.1, 0.1, 0.2, 0.2],
    "matching_type": "multi",
    "pos_iou_threshold": 0.5,
    "neg_iou_limit": 0.5,
    "normalize_coords": True,
}

ENCODERS = {"SSD7": SSD7_ENCODER, "SSD300": SSD300_ENCODER}
