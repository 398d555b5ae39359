"""Fixtures of the evaluation tests: a tiny image dataset on disk and a scripted "model"."""

import types

import cv2
import numpy as np
import pytest

# Original images are 60 x 80 (H x W); the model input is 30 x 40, so input coordinates are half
# the original ones. Image "c" has no ground truth.
IMAGE_SHAPE = (60, 80, 3)
INPUT_SIZE = (30, 40)
LABELS = [np.array([[1, 10, 10, 50, 50]]), np.array([[2, 40, 20, 70, 50]]), np.zeros((0, 5))]
IMAGE_IDS = ["a", "b", "c"]
# Decoded predictions in model input coordinates, per image (class, conf, xmin, ymin, xmax, ymax).
INPUT_PREDICTIONS = [
    [[1, 0.9, 5, 5, 25, 25], [2, 0.8, 20, 2, 35, 12]],
    [[2, 0.7, 20, 10, 35, 25]],
    [[1, 0.6, 0, 0, 10, 10]],
]


class ScriptedModel:
    """Stands in for a Keras model: `predict` returns prepared outputs image by image."""

    def __init__(self, outputs_per_image):
        self.outputs = [np.asarray(o, dtype=np.float32) for o in outputs_per_image]
        self.seen_shapes = []
        self.calls = 0

    def predict(self, batch):
        self.seen_shapes.append(batch.shape)
        start = sum(shape[0] for shape in self.seen_shapes[:-1])
        self.calls += 1
        return np.stack([self.outputs[(start + k) % len(self.outputs)] for k in range(len(batch))])


def padded(rows, top_k=4):
    """Decoded rows zero-padded to `(top_k, 6)` as inference-mode models output them."""
    out = np.zeros((top_k, 6), dtype=np.float32)
    out[: len(rows)] = np.reshape(rows, (-1, 6))
    return out


@pytest.fixture
def image_files(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for image_id in IMAGE_IDS:
        path = tmp_path / f"{image_id}.png"
        cv2.imwrite(str(path), rng.integers(0, 255, IMAGE_SHAPE, dtype=np.uint8))
        paths.append(str(path))
    return paths


@pytest.fixture
def dataset(image_files):
    from data_generator.object_detection_2d_data_generator import DataGenerator

    return DataGenerator(
        filenames=image_files,
        labels=[label.copy() for label in LABELS],
        image_ids=list(IMAGE_IDS),
        verbose=False,
    )


@pytest.fixture
def inference_model():
    return ScriptedModel([padded(rows) for rows in INPUT_PREDICTIONS])


@pytest.fixture
def toy():
    """The constants and helpers above, for the test modules (conftest is not importable)."""
    return types.SimpleNamespace(
        INPUT_SIZE=INPUT_SIZE,
        LABELS=LABELS,
        IMAGE_IDS=IMAGE_IDS,
        INPUT_PREDICTIONS=INPUT_PREDICTIONS,
        ScriptedModel=ScriptedModel,
        padded=padded,
    )
