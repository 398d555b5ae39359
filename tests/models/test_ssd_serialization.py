"""New models survive `.keras` and `.h5` round trips without custom_objects, in safe mode."""

import keras
import numpy as np
import pytest

from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300

SSD7_SIZE = (64, 96, 3)
VGG_SIZE = (257, 257, 3)


def _ssd7(mode):
    return build_model(
        SSD7_SIZE, 3, mode=mode, l2_regularization=0.0005, scales=[0.1, 0.2, 0.4, 0.6, 0.8],
        aspect_ratios_per_layer=[[1.0, 2.0], [0.5, 1.0], [1.0], [1.0, 3.0]],
        steps=[8, (16, 12), 32, 64], offsets=[0.5, (0.3, 0.6), 0.5, 0.5], normalize_coords=True,
        subtract_mean=[120.0, 110.0, 100.0], divide_by_stddev=[60.0, 55.0, 50.0],
        swap_channels=[2, 1, 0], confidence_thresh=0.2, top_k=20,
    )  # fmt: skip


def _ssd300():
    return ssd_300(
        VGG_SIZE, 3, scales=[0.1, 0.2, 0.37, 0.54, 0.71, 0.88, 1.05], offsets=[0.5] * 6,
    )  # fmt: skip


@pytest.fixture(scope="module")
def models():
    keras.utils.set_random_seed(0)
    built = {
        "ssd7_training": _ssd7("training"),
        "ssd7_inference": _ssd7("inference"),
        "ssd7_inference_fast": _ssd7("inference_fast"),
        "ssd300_training": _ssd300(),
    }
    # Kernels are random already; make biases, batch-norm statistics and the L2 norm's gamma
    # non-default too, so that a weight lost in the round trip shows in the outputs.
    rng = np.random.default_rng(1)
    for model in built.values():
        for variable in model.weights:
            if len(variable.shape) == 1:
                variable.assign(rng.uniform(0.5, 1.5, variable.shape).astype("float32"))
    return built


def _inputs(model, seed):
    shape = (2, *model.input.shape[1:])
    return np.random.default_rng(seed).uniform(0, 255, shape).astype("float32")


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
@pytest.mark.parametrize(
    "key", ["ssd7_training", "ssd7_inference", "ssd7_inference_fast", "ssd300_training"]
)
def test_round_trip(models, key, suffix, tmp_path):
    model = models[key]
    x = _inputs(model, seed=2)
    expected = keras.ops.convert_to_numpy(model(x))
    path = tmp_path / f"{key}{suffix}"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    assert [layer.name for layer in restored.layers] == [layer.name for layer in model.layers]
    assert [type(layer) for layer in restored.layers] == [type(layer) for layer in model.layers]
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), expected)
