"""Encode ground truth with the SSD7 tutorial configuration, decode it back and time both steps.

Run with `make demo` (or `python scripts/demo_encode_decode.py` from the repository root).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder
from ssd_encoder_decoder.ssd_output_decoder import decode_detections

# The SSD7 tutorial's encoder settings: a 300x480 image, five classes and four predictor layers.
IMG_HEIGHT, IMG_WIDTH, N_CLASSES = 300, 480, 5
PREDICTOR_SIZES = [(37, 60), (18, 30), (9, 15), (4, 7)]
CLASS_NAMES = ["background", "car", "truck", "pedestrian", "bicyclist", "light"]


def random_ground_truth(rng: np.random.Generator, n_images: int) -> list[np.ndarray]:
    """Zero to six boxes per image, rows `[class_id, xmin, ymin, xmax, ymax]` in pixels."""
    labels = []
    for _ in range(n_images):
        k = int(rng.integers(0, 7))
        w = rng.uniform(20, 160, k)
        h = rng.uniform(20, 120, k)
        xmin = rng.uniform(0, IMG_WIDTH - w)
        ymin = rng.uniform(0, IMG_HEIGHT - h)
        classes = rng.integers(1, N_CLASSES + 1, k)
        labels.append(np.stack([classes, xmin, ymin, xmin + w, ymin + h], axis=1))
    return labels


def main() -> None:
    encoder = SSDInputEncoder(
        img_height=IMG_HEIGHT,
        img_width=IMG_WIDTH,
        n_classes=N_CLASSES,
        predictor_sizes=PREDICTOR_SIZES,
        scales=[0.08, 0.16, 0.32, 0.64, 0.96],
        aspect_ratios_global=[0.5, 1.0, 2.0],
        two_boxes_for_ar1=True,
        variances=[1.0, 1.0, 1.0, 1.0],
        pos_iou_threshold=0.5,
        neg_iou_limit=0.3,
        normalize_coords=True,
    )
    ground_truth = random_ground_truth(np.random.default_rng(0), n_images=16)

    start = time.perf_counter()
    y_encoded = encoder(ground_truth)
    encode_seconds = time.perf_counter() - start
    print(
        f"encoded 16 images into y_encoded of shape {y_encoded.shape} "
        f"in {encode_seconds * 1e3:.1f} ms"
    )

    # A perfect "prediction": the encoded targets themselves, class one-hots used as scores.
    start = time.perf_counter()
    decoded = decode_detections(
        y_encoded,
        confidence_thresh=0.5,
        iou_threshold=0.45,
        top_k=200,
        img_height=IMG_HEIGHT,
        img_width=IMG_WIDTH,
    )
    decode_seconds = time.perf_counter() - start
    print(f"decoded them back in {decode_seconds * 1e3:.1f} ms\n")

    np.set_printoptions(precision=1, suppress=True)
    for index in range(3):
        print(f"image {index}: ground truth [class, xmin, ymin, xmax, ymax]")
        print(ground_truth[index] if len(ground_truth[index]) else "  (no objects)")
        print(f"image {index}: decoded [class, confidence, xmin, ymin, xmax, ymax]")
        print(decoded[index] if len(decoded[index]) else "  (no detections)")
        print()
    recovered = sum(len(d) for d in decoded)
    total = sum(len(g) for g in ground_truth)
    print(f"{recovered} boxes decoded for {total} ground-truth boxes in 16 images")


if __name__ == "__main__":
    main()
