"""Synthetic SSD300 VOC model output for `bench_encoder_decoder.py`.

`make_benchmark_predictions` builds a batch of predictions shaped like a trained SSD300's:
mostly confident background with a small fraction of anchors carrying random class scores and box
offsets, so the decoders have a realistic number of candidates to threshold and suppress.
"""

from __future__ import annotations

import numpy as np

from benchmarks.configs import SSD300_ENCODER
from ssd_encoder_decoder.output_layout import (
    ANCHORS,
    BACKGROUND_ID,
    BOX_VALUES,
    CLASS_SCORES,
    VARIANCES,
)
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder


def ssd300_anchor_template(n_images: int) -> np.ndarray:
    """The SSD300 VOC encoding template `(n_images, 8732, 33)` from `SSDInputEncoder`."""
    encoder = SSDInputEncoder(**SSD300_ENCODER)
    return encoder.generate_encoding_template(n_images)


def make_benchmark_predictions(
    n_images: int = 16,
    seed: int = 0,
    template: np.ndarray | None = None,
    active_fraction: float = 0.05,
) -> np.ndarray:
    """Synthetic SSD300 VOC model output, shaped like a real one: `(n_images, 8732, 33)` float32.

    Most anchors are confidently background (softmax of logit 8 for background against 0 for the
    20 object classes, zero offsets). A random `active_fraction` of the anchors in every image
    gets a softmax of random logits (standard deviation 3, so some classes reach high
    confidences) and box offsets drawn from N(0, 0.5). Anchors and variances are the SSD300 VOC
    ones (normalised centroids, variances 0.1, 0.1, 0.2, 0.2).

    Args:
        n_images: batch size.
        seed: seed of the `np.random.default_rng` generator (same seed, same output).
        template: an encoding template `(n_images, #boxes, C + 12)` to take the anchors and
            variances from; by default the SSD300 VOC template of `SSDInputEncoder`.
        active_fraction: fraction of anchors per image that do not predict background.

    Returns:
        float32 array `(n_images, #boxes, C + 12)`: scores, offsets, anchors, variances.
    """
    if template is None:
        template = ssd300_anchor_template(n_images)
    rng = np.random.default_rng(seed)
    n_boxes, n_scores = template.shape[1], template[..., CLASS_SCORES].shape[-1]
    logits = np.zeros((n_images, n_boxes, n_scores))
    logits[:, :, BACKGROUND_ID] = 8.0
    offsets = np.zeros((n_images, n_boxes, BOX_VALUES))
    active = rng.random((n_images, n_boxes)) < active_fraction
    n_active = int(active.sum())
    logits[active] = rng.normal(0.0, 3.0, size=(n_active, n_scores))
    offsets[active] = rng.normal(0.0, 0.5, size=(n_active, BOX_VALUES))
    scores = np.exp(logits - logits.max(axis=-1, keepdims=True))
    scores /= scores.sum(axis=-1, keepdims=True)
    anchors = template[..., ANCHORS], template[..., VARIANCES]
    y_pred = np.concatenate([scores, offsets, *anchors], axis=-1)
    return y_pred.astype(np.float32)
