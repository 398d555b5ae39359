"""Mixed precision: 16-bit convolutions, float32 anchors, scores, loss and decoded detections.

Tolerances of a `mixed_bfloat16` SSD7 against the float32 model with the same weights (SSD7 at
64x96 pixels, box heads scaled so that boxes stay near their anchors): decoded scores within
`SCORE_TOLERANCE` (0.01) and box corners within `BOX_TOLERANCE_PX` (0.5 pixels). On the
development machine the largest differences were 0.004 and 0.09 pixels.
"""

import keras
import numpy as np
import pytest

from keras_loss_function.keras_ssd_loss import SSDLoss
from models.keras_ssd7 import build_model
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

SIZE = (64, 96, 3)
N_CLASSES = 3
SCORE_TOLERANCE = 0.01
BOX_TOLERANCE_PX = 0.5
TOP_K = 20
KWARGS = {
    "image_size": SIZE, "n_classes": N_CLASSES, "normalize_coords": True,
    "subtract_mean": 127.5, "divide_by_stddev": 127.5,
}  # fmt: skip
# Layers that a mixed policy leaves in float32 (besides the anchor reshapes).
FLOAT32_LAYERS = (
    "identity_layer", "input_mean_normalization", "input_stddev_normalization",
    "anchors4", "anchors_concat", "classes_softmax", "predictions", "decoded_predictions",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _float32_afterwards():
    yield
    keras.config.set_dtype_policy("float32")


def _images(n, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, *SIZE)).astype("float32")


def _tame(model):
    """Scales the random head kernels so boxes stay near anchors and scores are spread out."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith("boxes"):
            layer.kernel.assign(layer.kernel * 0.05)
        if isinstance(layer, keras.layers.Conv2D) and layer.name.startswith("classes"):
            layer.kernel.assign(layer.kernel * 0.3)


def test_convolutions_run_in_bfloat16_and_outputs_stay_float32():
    model = build_model(**KWARGS, mode="inference", dtype="mixed_bfloat16")
    policies = {layer.name: layer.dtype_policy.name for layer in model.layers}
    for name in FLOAT32_LAYERS:
        assert policies[name] == "float32", name
    assert policies["anchors4_reshape"] == "float32"
    assert policies["conv1"] == policies["bn1"] == policies["classes4"] == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in model.weights)  # variables stay float32
    assert keras.backend.standardize_dtype(model(_images(1)).dtype) == "float32"
    # The argument leaves the global policy as it was.
    assert keras.config.dtype_policy().name == "float32"


def test_the_global_policy_is_taken_when_no_dtype_is_given():
    keras.config.set_dtype_policy("mixed_bfloat16")
    model = build_model(**KWARGS)
    assert model.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert model.get_layer("predictions").dtype_policy.name == "float32"
    # An explicit argument wins over the global policy.
    model = build_model(**KWARGS, dtype="float32")
    assert model.get_layer("conv1").dtype_policy.name == "float32"
    assert keras.config.dtype_policy().name == "mixed_bfloat16"


def test_an_unknown_policy_is_refused():
    with pytest.raises(ValueError):
        build_model(**KWARGS, dtype="mixed_float8")
    assert keras.config.dtype_policy().name == "float32"


def _matches(reference, other):
    """Asserts every `reference` detection clearly inside the top `TOP_K` is in `other`."""
    cut = reference[TOP_K - 1, 1] + SCORE_TOLERANCE  # detections near the cut may swap places
    checked = 0
    for row in reference[reference[:, 1] > cut]:
        same_class = other[other[:, 0] == row[0]]
        assert len(same_class), row
        box_error = np.abs(same_class[:, 2:] - row[2:]).max(axis=1)
        best = np.argmin(box_error)
        assert box_error[best] <= BOX_TOLERANCE_PX, (row, same_class[best])
        assert abs(same_class[best, 1] - row[1]) <= SCORE_TOLERANCE, (row, same_class[best])
        checked += 1
    return checked


@pytest.mark.parametrize("mode", ["inference", "inference_fast"])
def test_bfloat16_detections_match_float32_detections(mode):
    keras.utils.set_random_seed(0)
    kwargs = dict(KWARGS, mode=mode, confidence_thresh=0.5, top_k=TOP_K)
    model_32 = build_model(**kwargs)
    _tame(model_32)
    model_16 = build_model(**kwargs, dtype="mixed_bfloat16")
    model_16.set_weights(model_32.get_weights())
    x = _images(2)
    detections_32 = keras.ops.convert_to_numpy(model_32(x))
    detections_16 = keras.ops.convert_to_numpy(model_16(x))
    assert detections_16.dtype == np.float32
    assert np.all(detections_32[:, TOP_K - 1, 1] > 0.5)  # the test looks at real detections
    checked = sum(_matches(a, b) for a, b in zip(detections_32, detections_16, strict=True))
    assert checked >= TOP_K


def test_one_fit_step_in_bfloat16_gives_a_finite_float32_loss():
    keras.utils.set_random_seed(1)
    model = build_model(**KWARGS, l2_regularization=0.0005, dtype="mixed_bfloat16")
    encoder = SSDInputEncoder.from_model(model)
    labels = [np.array([[1, 10, 8, 40, 30], [2, 50, 20, 90, 60]], float)] * 2
    x, y_true = _images(2), encoder(labels)
    loss = SSDLoss()(y_true, model(x, training=True))
    assert keras.backend.standardize_dtype(loss.dtype) == "float32"
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=SSDLoss())
    history = model.fit(x, y_true, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert all(np.all(np.isfinite(keras.ops.convert_to_numpy(w))) for w in model.weights)


def test_a_bfloat16_model_round_trips_through_a_keras_file(tmp_path):
    model = build_model(**KWARGS, mode="inference", dtype="mixed_bfloat16")
    path = tmp_path / "ssd7_bf16.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert loaded.get_layer("conv1").dtype_policy.name == "mixed_bfloat16"
    assert loaded.get_layer("decoded_predictions").dtype_policy.name == "float32"
    x = _images(1)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x))
    )
