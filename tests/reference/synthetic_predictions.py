"""Synthetic model output and decoder settings shared by the decoder tests and benchmarks.

`benchmarks/bench_decode_vs_original.py` times the decoders on these inputs, and
`tests/ssd_encoder_decoder/test_ssd_output_decoder.py` checks that the library's decoder and the
loop reference agree on them, so the benchmark's equality check cannot silently go stale.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

CONFIDENCE_THRESH = 0.01


def make_predictions(encoder_kwargs: dict[str, Any], n_images: int, seed: int = 0) -> np.ndarray:
    """Synthetic float32 model output `(n_images, #anchors, #classes + 1 + 12)`.

    Scores: softmax of N(0, 1) logits, +6 on the background, and +U(4, 10) on one random
    positive class of 5% of the anchors. Offsets N(0, 0.5). Anchors and variances (the last 8
    columns) come from the encoding template of `SSDInputEncoder(**encoder_kwargs)`.

    Args:
        encoder_kwargs: keyword arguments of an `SSDInputEncoder` (image size, classes, anchors).
        n_images: batch size.
        seed: seed of the `np.random.default_rng` generator (same seed, same output).

    Returns:
        float32 array `(n_images, #anchors, #classes + 1 + 12)`: scores, offsets, anchors,
        variances, laid out like the encoder's output.
    """
    template = SSDInputEncoder(**encoder_kwargs).generate_encoding_template(n_images)
    rng = np.random.default_rng(seed)
    n_boxes, n_columns = template.shape[1], template.shape[2] - 12
    logits = rng.normal(0.0, 1.0, size=(n_images, n_boxes, n_columns))
    logits[:, :, 0] += 6.0
    images, anchors = np.nonzero(rng.random((n_images, n_boxes)) < 0.05)
    classes = rng.integers(1, n_columns, size=len(images))
    logits[images, anchors, classes] += rng.uniform(4.0, 10.0, size=len(images))
    scores = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    offsets = rng.normal(0.0, 0.5, size=(n_images, n_boxes, 4))
    y_pred = np.concatenate([scores, offsets, template[:, :, -8:]], axis=-1)
    return y_pred.astype(np.float32)


def decode_kwargs(encoder_kwargs: dict[str, Any]) -> dict[str, Any]:
    """`decode_detections` keyword arguments for predictions made with `encoder_kwargs`.

    Confidence threshold `CONFIDENCE_THRESH`, IoU threshold 0.45, `top_k=200`, normalized
    coordinates converted to pixels of the encoder's image size.
    """
    return {
        "confidence_thresh": CONFIDENCE_THRESH,
        "iou_threshold": 0.45,
        "top_k": 200,
        "normalize_coords": True,
        "img_height": encoder_kwargs["img_height"],
        "img_width": encoder_kwargs["img_width"],
    }
