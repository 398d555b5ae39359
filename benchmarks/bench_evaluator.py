"""Benchmark: Evaluator scoring (matching, precision/recall, AP) vs a per-prediction loop.

Synthetic dataset: 1,000 images, 20 classes, 2-8 ground truth boxes per image and 20 predictions
per image (jittered copies of ground truth boxes plus random boxes). Both implementations score
the same `prediction_results`; the script checks that they agree and prints the times and the
speed-up. Run from the repository root::

    .venv/bin/python benchmarks/bench_evaluator.py [--images 1000] [--per-image 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The references live in tests/; appended after the root so that tests/<package> folders cannot
# shadow the library's packages.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))

from reference import reference_evaluator

from eval_utils.average_precision_evaluator import Evaluator, GroundTruth

N_CLASSES = 20


def synthetic_dataset(n_images: int, per_image: int, seed: int = 0):
    """Labels (k, 5) per image and per-image predictions (per_image, 6), corners in pixels."""
    rng = np.random.default_rng(seed)
    labels, predictions = [], []
    for _ in range(n_images):
        k = int(rng.integers(2, 9))
        xy = rng.uniform(0, 400, size=(k, 2))
        wh = rng.uniform(20, 200, size=(k, 2))
        gt = np.column_stack([rng.integers(1, N_CLASSES + 1, size=k), xy, xy + wh]).round()
        labels.append(gt.astype(np.int64))
        source = rng.integers(0, k, size=per_image)
        jitter = rng.normal(0, 8, size=(per_image, 4))
        boxes = gt[source, 1:] + jitter
        random_rows = rng.uniform(size=per_image) < 0.3
        boxes[random_rows, :2] = rng.uniform(0, 400, size=(random_rows.sum(), 2))
        boxes[random_rows, 2:] = boxes[random_rows, :2] + rng.uniform(
            10, 150, (random_rows.sum(), 2)
        )
        classes = np.where(
            rng.uniform(size=per_image) < 0.9,
            gt[source, 0],
            rng.integers(1, N_CLASSES + 1, size=per_image),
        )
        confidences = rng.uniform(0.01, 1.0, size=per_image)
        predictions.append(np.column_stack([classes, confidences, boxes]))
    return labels, predictions


def _best_time(function, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--per-image", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    labels, predictions = synthetic_dataset(args.images, args.per_image)
    image_ids = [f"{k:06d}" for k in range(args.images)]
    evaluator = Evaluator(None, N_CLASSES, GroundTruth(labels, image_ids))
    evaluator.load_predictions(predictions)
    results = evaluator.prediction_results

    def vectorised() -> float:
        return evaluator.evaluate(verbose=False)

    def baseline() -> float:
        return reference_evaluator.evaluate(results, labels, image_ids, N_CLASSES)[0]

    fast_time, fast_map = _best_time(vectorised, args.repeat)
    slow_time, slow_map = _best_time(baseline, max(1, args.repeat - 1))
    if not np.isclose(fast_map, slow_map, rtol=0, atol=1e-12):
        raise SystemExit(f"results differ: Evaluator mAP {fast_map} vs baseline {slow_map}")
    n_predictions = sum(len(p) for p in predictions)
    print(f"dataset: {args.images} images, {n_predictions} predictions, {N_CLASSES} classes")
    print(f"mAP (both): {fast_map:.6f}")
    print(f"Evaluator.evaluate (vectorised): {fast_time * 1e3:9.1f} ms")
    print(f"per-prediction loop baseline:    {slow_time * 1e3:9.1f} ms")
    print(f"speed-up: {slow_time / fast_time:.1f}x")


if __name__ == "__main__":
    main()
