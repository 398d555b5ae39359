"""The `argparse` value types that the command line (`ssd_app.cli`) and the demo share.

Both modules import this one and it imports neither, so `ssd_app.cli` can import `ssd_app.demo`
for its `demo` subcommand without the demo importing the command line back.
"""

from __future__ import annotations

import argparse
import math

# ----------------------------------------------------------------------------------------------
# Argument types


def positive_int(text: str) -> int:
    """`argparse` type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _finite_float(text: str) -> float | None:
    """`text` as a finite float, None if it is not one."""
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def positive_float(text: str) -> float:
    """`argparse` type: a finite number above 0."""
    value = _finite_float(text)
    if value is None or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def iou_threshold(text: str) -> float:
    """`argparse` type: an IoU threshold in `(0, 1]`."""
    value = _finite_float(text)
    if value is None or not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"expected an IoU in (0, 1], got {text!r}")
    return value


def confidence(text: str) -> float:
    """`argparse` type: a confidence threshold in `[0, 1]`."""
    value = _finite_float(text)
    if value is None or not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a confidence in [0, 1], got {text!r}")
    return value


def class_names(text: str) -> tuple[str, ...]:
    """`argparse` type: comma-separated class names, none of them empty."""
    names = tuple(name.strip() for name in text.split(","))
    if not all(names):
        raise argparse.ArgumentTypeError(f"expected comma-separated non-empty names, got {text!r}")
    return names
