"""Encoder settings shared by the benchmark scripts (the SSD7 tutorial and SSD300 VOC setups).

Derived from the command line's model configurations, which hold the tutorials' numbers.
"""

from __future__ import annotations

from ssd_app._cli_setup import SSD7_CONFIG, SSD300_CONFIG, ModelConfig


def _encoder(config: ModelConfig, n_classes: int, predictor_sizes: list) -> dict:
    """``SSDInputEncoder`` keyword arguments of a CLI model configuration."""
    return {
        "img_height": config.img_height,
        "img_width": config.img_width,
        "n_classes": n_classes,
        "predictor_sizes": predictor_sizes,
        **config.encoder_kwargs,
        "matching_type": "multi",
        "pos_iou_threshold": 0.5,
        "neg_iou_limit": config.neg_iou_limit,
    }


SSD7_ENCODER = _encoder(SSD7_CONFIG, 5, [[37, 60], [18, 30], [9, 15], [4, 7]])
SSD300_ENCODER = _encoder(SSD300_CONFIG, 20, [[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]])

ENCODERS = {"SSD7": SSD7_ENCODER, "SSD300": SSD300_ENCODER}
