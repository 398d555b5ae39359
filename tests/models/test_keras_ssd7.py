"""Behaviour of `models.keras_ssd7.build_model`: outputs, modes, pre-processing, bad input."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from models.keras_ssd7 import build_model
from models.utils import get_predictor_sizes
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
SMALL = (64, 96, 3)  # smallest kind of input SSD7 accepts: feature maps 8x12, 4x6, 2x3, 1x1
N_CLASSES = 3


@pytest.fixture(scope="module")
def tutorial_kwargs():
    """The SSD7 tutorial's builder call (300x480, 5 classes, explicit scales)."""
    return json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]


@pytest.fixture(scope="module")
def tutorial_model(tutorial_kwargs):
    return build_model(**tutorial_kwargs, return_predictor_sizes=True)


def test_predictor_sizes_of_the_tutorial_model(tutorial_model):
    model, sizes = tutorial_model
    expected = [[37, 60], [18, 30], [9, 15], [4, 7]]
    np.testing.assert_array_equal(sizes, expected)
    assert sizes.dtype.kind == "i"
    np.testing.assert_array_equal(get_predictor_sizes(model), expected)
    assert model.output.shape == (None, 11692, 18)


def test_output_layout_and_anchors_match_the_encoder(tutorial_model, tutorial_kwargs):
    model, sizes = tutorial_model
    x = np.random.default_rng(0).uniform(0, 255, (1, 300, 480, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(model(x))
    np.testing.assert_allclose(y[..., :6].sum(-1), 1.0, rtol=1e-5)  # softmax over 6 classes
    assert np.all(y[..., :6] > 0)
    kw = tutorial_kwargs
    encoder = SSDInputEncoder(
        img_height=300, img_width=480, n_classes=5, predictor_sizes=sizes, scales=kw["scales"],
        aspect_ratios_global=kw["aspect_ratios_global"], two_boxes_for_ar1=True,
        variances=kw["variances"], normalize_coords=True,
    )  # fmt: skip
    template = encoder.generate_encoding_template(batch_size=1)
    np.testing.assert_allclose(y[..., -8:], template[..., -8:], rtol=1e-5, atol=1e-6)


def test_first_anchor_values_from_the_spec(tutorial_model):
    """SSD7 300x480, layer 0: steps (8.108, 8.0), first centre (4, 4.054), sizes for [.5,1,1',2]."""
    model, _ = tutorial_model
    anchors = keras.ops.convert_to_numpy(model.get_layer("anchors4")(np.zeros((1, 37, 60, 16))))
    scale = np.array([480, 300, 480, 300])
    wh = [(16.97, 33.94), (24.0, 24.0), (33.94, 33.94), (33.94, 16.97)]
    expected = np.array([[4.0, 300 / 37 / 2, w, h] for w, h in wh]) / scale
    np.testing.assert_allclose(anchors[0, 0, 0, :, :4], expected, rtol=1e-3)


def _sub_model(model, layer_name):
    return keras.Model(model.input, model.get_layer(layer_name).output)


def test_preprocessing_order_mean_then_stddev_then_swap():
    mean, std, swap = [10.0, 20.0, 30.0], [2.0, 4.0, 8.0], [2, 0, 1]
    model = build_model(
        SMALL, N_CLASSES, subtract_mean=mean, divide_by_stddev=std, swap_channels=swap
    )
    x = np.random.default_rng(1).uniform(0, 255, (2, *SMALL)).astype("float32")
    got = keras.ops.convert_to_numpy(_sub_model(model, "input_channel_swap")(x))
    expected = ((x - np.float32(mean)) / np.float32(std))[..., swap]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    names = [layer.name for layer in model.layers[:5]]
    assert names == [
        "input_1", "identity_layer", "input_mean_normalization",
        "input_stddev_normalization", "input_channel_swap",
    ]  # fmt: skip


def test_no_preprocessing_layers_unless_requested():
    model = build_model(SMALL, N_CLASSES)
    names = {layer.name for layer in model.layers}
    assert "identity_layer" in names
    assert not names & {"input_mean_normalization", "input_stddev_normalization"}
    assert "input_channel_swap" not in names
    assert model.get_layer("conv1").input is model.get_layer("identity_layer").output


def test_min_max_scales_are_spread_linearly():
    model = build_model(SMALL, N_CLASSES, min_scale=0.2, max_scale=0.6)
    configs = [model.get_layer(f"anchors{k}").get_config() for k in range(4, 8)]
    got = [(config["this_scale"], config["next_scale"]) for config in configs]
    np.testing.assert_allclose(got, [(0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6)])


def test_per_layer_aspect_ratios_override_global():
    per_layer = [[1.0], [1.0, 2.0], [0.5, 1.0, 2.0], [3.0]]
    model, _ = build_model(
        SMALL, N_CLASSES, aspect_ratios_per_layer=per_layer, return_predictor_sizes=True
    )
    n_boxes = [2, 3, 4, 1]  # +1 for aspect ratio 1 (two_boxes_for_ar1)
    for k, n in zip(range(4, 8), n_boxes, strict=True):
        assert model.get_layer(f"classes{k}").filters == n * (N_CLASSES + 1)
        assert model.get_layer(f"boxes{k}").filters == n * 4
    assert model.output.shape[1] == 8 * 12 * 2 + 4 * 6 * 3 + 2 * 3 * 4 + 1 * 1 * 1


def test_two_boxes_for_ar1_false():
    model = build_model(SMALL, N_CLASSES, two_boxes_for_ar1=False)
    assert model.get_layer("boxes4").filters == 3 * 4


@pytest.mark.parametrize(
    ("mode", "layer"),
    [("inference", "DecodeDetections"), ("inference_fast", "DecodeDetectionsFast")],
)
def test_inference_modes_append_the_decoder(mode, layer):
    model = build_model(
        SMALL, N_CLASSES, mode=mode, normalize_coords=True, top_k=7, confidence_thresh=0.3,
        iou_threshold=0.4, nms_max_output_size=50,
    )  # fmt: skip
    decoder = model.get_layer("decoded_predictions")
    assert type(decoder).__name__ == layer
    config = decoder.get_config()
    expected = {
        "confidence_thresh": 0.3, "iou_threshold": 0.4, "top_k": 7, "nms_max_output_size": 50,
        "coords": "centroids", "normalize_coords": True, "img_height": 64, "img_width": 96,
    }  # fmt: skip
    assert {key: config[key] for key in expected} == expected
    assert model.output.shape == (None, 7, 6)
    assert decoder.input is model.get_layer("predictions").output


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "train"}, r"`mode`.*'train'"),
        ({"n_classes": 0}, r"`n_classes`.*0"),
        ({"n_classes": -2}, r"`n_classes`.*-2"),
        ({"scales": [0.1, 0.2, 0.3]}, r"`scales`.*5 entries.*\[0.1, 0.2, 0.3\]"),
        ({"min_scale": None}, r"`scales`.*min_scale=None"),
        ({"aspect_ratios_global": None}, r"`aspect_ratios_global`.*both be None"),
        ({"aspect_ratios_per_layer": [[1.0]] * 3}, r"`aspect_ratios_per_layer`.*\(4\).*got 3"),
        ({"steps": [8, 16, 32]}, r"`steps`.*\(4\).*\[8, 16, 32\]"),
        ({"offsets": [0.5] * 5}, r"`offsets`.*\(4\).*got 5"),
        ({"variances": [1.0, 1.0, 1.0]}, r"`variances`.*4 entries.*got 3"),
        ({"variances": [1.0, 0.0, 1.0, 1.0]}, r"`variances`.*> 0"),
        ({"swap_channels": [2, 1]}, r"`swap_channels`.*3 or 4.*\[2, 1\]"),
        ({"image_size": (32, 32, 3)}, r"`image_size`=\(32, 32, 3\) is too small.*'pool"),
        ({"image_size": (300, 480)}, r"`image_size`.*\(300, 480\)"),
    ],
)
def test_bad_arguments_raise_value_error(kwargs, match):
    arguments = {"image_size": SMALL, "n_classes": N_CLASSES, **kwargs}
    with pytest.raises(ValueError, match=match):
        build_model(**arguments)


def test_batch_norm_layers_are_fused_and_interchangeable_with_keras_layer(tmp_path):
    """SSD7 models saved with Keras's own BatchNormalization load and predict the same."""
    from keras_layers.keras_layer_BatchNormalization import (
        BatchNormalization as FusedBatchNormalization,
    )

    model = build_model(image_size=SMALL, n_classes=N_CLASSES, min_scale=0.1, max_scale=0.9)
    bn_layers = [layer for layer in model.layers if layer.name.startswith("bn")]
    assert [layer.name for layer in bn_layers] == [f"bn{i}" for i in range(1, 8)]
    assert all(type(layer) is FusedBatchNormalization for layer in bn_layers)

    def with_keras_batch_norm(layer):
        if isinstance(layer, FusedBatchNormalization):
            return keras.layers.BatchNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    rng = np.random.default_rng(0)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in model.weights])
    plain = keras.models.clone_model(model, clone_function=with_keras_batch_norm)
    plain.set_weights(model.get_weights())
    assert type(plain.get_layer("bn1")) is keras.layers.BatchNormalization
    plain.save(tmp_path / "plain.keras")
    loaded = keras.models.load_model(tmp_path / "plain.keras", safe_mode=True)
    x = rng.uniform(0, 255, (2, *SMALL)).astype("float32")
    np.testing.assert_allclose(
        loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )
    plain.save_weights(tmp_path / "plain.weights.h5")
    fresh = build_model(image_size=SMALL, n_classes=N_CLASSES, min_scale=0.1, max_scale=0.9)
    fresh.load_weights(tmp_path / "plain.weights.h5")
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))
