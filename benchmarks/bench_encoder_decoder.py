"""Benchmark: SSDInputEncoder and decode_detections against per-image / per-class loop baselines.

Both sides run in the same process on the same inputs, and their outputs are checked to be equal
before anything is timed. Each case alternates baseline and fast runs and reports the median of the
per-round ratios, which is robust to other load on the machine. Run from the repository root::

    .venv/bin/python benchmarks/bench_encoder_decoder.py [--rounds 7]

Cases (the issue's targets in brackets):
* encoder, 16 images x 8 boxes, SSD7 tutorial config (11,692 anchors) and SSD300 VOC config
  (8,732 anchors) [fast >= 5x baseline]
* decode_detections on 16 SSD300 predictions at confidence 0.01 [>= 20x] and 0.5 [>= 5x]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The references live in tests/; appended after the root so that tests/<package> folders cannot
# shadow the library's packages.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from reference import reference_decoder, reference_encoder

from benchmarks.configs import ENCODERS
from benchmarks.ssd300_predictions import make_benchmark_predictions
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder
from ssd_encoder_decoder.ssd_output_decoder import decode_detections

N_IMAGES = 16
BOXES_PER_IMAGE = 8


def random_ground_truth(
    rng: np.random.Generator, img_height: int, img_width: int, n_classes: int
) -> list[np.ndarray]:
    """`N_IMAGES` arrays of `BOXES_PER_IMAGE` rows `[class, xmin, ymin, xmax, ymax]` (px)."""
    labels = []
    for _ in range(N_IMAGES):
        w = rng.uniform(0.05, 0.6, BOXES_PER_IMAGE) * img_width
        h = rng.uniform(0.05, 0.6, BOXES_PER_IMAGE) * img_height
        xmin = rng.uniform(0, img_width - w)
        ymin = rng.uniform(0, img_height - h)
        classes = rng.integers(1, n_classes + 1, BOXES_PER_IMAGE)
        labels.append(np.stack([classes, xmin, ymin, xmin + w, ymin + h], axis=1))
    return labels


def _seconds(function: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def compare(name: str, baseline: Callable, fast: Callable, rounds: int, target: float) -> None:
    """Times both callables alternately and prints medians and the median ratio."""
    base_times, fast_times = [], []
    for _ in range(rounds):
        base_times.append(_seconds(baseline, repeat=1))
        fast_times.append(_seconds(fast))
    ratios = [b / f for b, f in zip(base_times, fast_times, strict=True)]
    ratio = statistics.median(ratios)
    verdict = "ok" if ratio >= target else "BELOW TARGET"
    print(
        f"{name:<44} baseline {statistics.median(base_times) * 1e3:8.1f} ms   "
        f"fast {statistics.median(fast_times) * 1e3:7.1f} ms   ratio {ratio:5.1f}x "
        f"(target {target:g}x: {verdict})"
    )


def _same_detections(first: list[np.ndarray], second: list[np.ndarray]) -> bool:
    def rows(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=float).reshape(-1, 6)
        return a[np.lexsort(a.T[::-1])]

    return len(first) == len(second) and all(
        np.allclose(rows(a), rows(b)) for a, b in zip(first, second, strict=True)
    )


def bench_encoder(config_name: str, rounds: int) -> None:
    config = ENCODERS[config_name]
    encoder = SSDInputEncoder(**config)
    labels = random_ground_truth(
        np.random.default_rng(0), config["img_height"], config["img_width"], config["n_classes"]
    )
    fast = encoder(labels)
    base = reference_encoder.encode_per_image(encoder, labels)
    if not np.array_equal(fast, base):
        raise SystemExit(f"encoder outputs differ for the {config_name} config")
    compare(
        f"encoder {config_name} ({fast.shape[1]} anchors, 16x8 boxes)",
        lambda: reference_encoder.encode_per_image(encoder, labels),
        lambda: encoder(labels),
        rounds,
        target=5,
    )


def bench_decoder(confidence: float, target: float, rounds: int) -> None:
    y_pred = make_benchmark_predictions(N_IMAGES, seed=0)
    kwargs = dict(
        confidence_thresh=confidence,
        iou_threshold=0.45,
        top_k=200,
        img_height=300,
        img_width=300,
    )
    if not _same_detections(
        decode_detections(y_pred, **kwargs), reference_decoder.decode_detections(y_pred, **kwargs)
    ):
        raise SystemExit(f"decoder outputs differ at confidence {confidence}")
    compare(
        f"decode_detections SSD300 x16, conf {confidence}",
        lambda: reference_decoder.decode_detections(y_pred, **kwargs),
        lambda: decode_detections(y_pred, **kwargs),
        rounds,
        target,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="alternating timing rounds per case")
    args = parser.parse_args()
    bench_encoder("SSD7", args.rounds)
    bench_encoder("SSD300", args.rounds)
    bench_decoder(0.01, target=20, rounds=args.rounds)
    bench_decoder(0.5, target=5, rounds=args.rounds)


if __name__ == "__main__":
    main()
