"""Encoder settings shared by the benchmark scripts (the SSD7 tutorial and SSD300 VOC setups).

Derived from the library's model presets (`models.presets`), which hold the tutorials' numbers.
"""

from __future__ import annotations

from models.presets import SSD7_ROAD_TRAFFIC, SSD300_VOC, ModelPreset


def _encoder(preset: ModelPreset, predictor_sizes: list) -> dict:
    """`SSDInputEncoder` keyword arguments of a preset with `'multi'` matching."""
    return preset.encoder_arguments(predictor_sizes=predictor_sizes, matching_type="multi")


SSD7_ENCODER = _encoder(SSD7_ROAD_TRAFFIC, [[37, 60], [18, 30], [9, 15], [4, 7]])
SSD300_ENCODER = _encoder(SSD300_VOC, [[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]])

ENCODERS = {"SSD7": SSD7_ENCODER, "SSD300": SSD300_ENCODER}
