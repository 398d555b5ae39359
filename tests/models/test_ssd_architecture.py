"""The three builders against the architectures recorded from the original library.

`tests/data/golden_keras/arch_*.json` hold, for one builder call each, every layer of the original
model: name, class, output shape, inbound layers, config and weight shapes, plus parameter counts.
"""

import json
from pathlib import Path

import keras
import pytest

from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300
from models.keras_ssd512 import ssd_512

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
BUILDERS = {"ssd7": build_model, "ssd300": ssd_300, "ssd512": ssd_512}
# The original's Lambda pre-processing layers and what replaces them.
REPLACED_LAMBDAS = {
    "identity_layer": "Identity",
    "input_mean_normalization": "InputMeanNormalization",
    "input_stddev_normalization": "InputStddevNormalization",
    "input_channel_swap": "InputChannelSwap",
}
# Config keys compared per class (values as recorded by Keras 2).
CONV_KEYS = ("filters", "kernel_size", "strides", "padding", "dilation_rate", "activation")
POOL_KEYS = ("pool_size", "strides", "padding")
ANCHOR_KEYS = (
    "img_height", "img_width", "this_scale", "next_scale", "aspect_ratios",
    "two_boxes_for_ar1", "clip_boxes", "variances", "coords", "normalize_coords",
)  # fmt: skip


def _load_arch(key):
    return json.loads((GOLDEN / f"arch_{key}.json").read_text())


@pytest.fixture(scope="module", params=sorted(BUILDERS))
def built(request):
    """(original architecture record, our model built with the same call), once per builder."""
    arch = _load_arch(request.param)
    keras.backend.clear_session()
    model = BUILDERS[request.param](**arch["builder_kwargs"], mode=arch["mode"])
    return arch, model


def _inbound_names(model):
    producers = {id(layer.output): layer.name for layer in model.layers}
    inbound = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            inbound[layer.name] = []
            continue
        inputs = layer.input if isinstance(layer.input, list) else [layer.input]
        inbound[layer.name] = [producers[id(t)] for t in inputs]
    return inbound


def test_same_layer_names(built):
    arch, model = built
    assert sorted(layer.name for layer in model.layers) == sorted(
        layer["name"] for layer in arch["layers"]
    )
    assert len(model.layers) == arch["n_layers"]


def test_no_lambda_layers(built):
    _, model = built
    assert not [layer.name for layer in model.layers if isinstance(layer, keras.layers.Lambda)]


def test_parameter_counts(built):
    arch, model = built
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    non_trainable = sum(int(w.numpy().size) for w in model.non_trainable_weights)
    assert model.count_params() == arch["total_params"]
    assert trainable == arch["trainable_params"]
    assert non_trainable == arch["non_trainable_params"]


def test_input_and_output_shapes(built):
    arch, model = built
    assert list(model.input.shape) == arch["input_shape"]
    assert list(model.output.shape) == arch["output_shape"]


def test_every_layer_matches(built):
    arch, model = built
    inbound = _inbound_names(model)
    for record in arch["layers"]:
        layer = model.get_layer(record["name"])
        expected_class = REPLACED_LAMBDAS.get(record["name"], record["class_name"])
        assert type(layer).__name__ == expected_class, record["name"]
        assert list(layer.output.shape) == record["output_shape"], record["name"]
        assert inbound[record["name"]] == record["inbound"], record["name"]
        shapes = [list(w.shape) for w in layer.trainable_weights + layer.non_trainable_weights]
        assert shapes == [w["shape"] for w in record["weights"]], record["name"]
        trainable = [True] * len(layer.trainable_weights) + [False] * len(
            layer.non_trainable_weights
        )
        assert trainable == [w["trainable"] for w in record["weights"]], record["name"]


def _check_keys(layer, record, keys):
    config = layer.get_config()
    for key in keys:
        mine = config[key]
        mine = list(mine) if isinstance(mine, tuple) else mine
        assert mine == record["config"][key], (record["name"], key)


def test_layer_configs(built):
    arch, model = built
    for record in arch["layers"]:
        layer = model.get_layer(record["name"])
        cls = record["class_name"]
        if cls == "Conv2D":
            _check_keys(layer, record, CONV_KEYS)
            expected_l2 = record["config"]["kernel_regularizer"]["config"]["l2"]
            assert layer.kernel_regularizer.l2 == pytest.approx(expected_l2, rel=1e-6)
            assert layer.get_config()["kernel_initializer"]["class_name"] == "HeNormal"
            assert layer.use_bias
        elif cls == "MaxPooling2D":
            _check_keys(layer, record, POOL_KEYS)
        elif cls == "BatchNormalization":
            assert isinstance(layer, keras.layers.BatchNormalization)
            assert layer.axis == record["config"]["axis"]
            assert layer.momentum == pytest.approx(record["config"]["momentum"])
            assert layer.epsilon == pytest.approx(record["config"]["epsilon"])
        elif cls == "ZeroPadding2D":
            assert [list(p) for p in layer.padding] == record["config"]["padding"]
        elif cls == "Reshape":
            assert list(layer.target_shape) == record["config"]["target_shape"]
        elif cls == "Concatenate":
            assert layer.axis == record["config"]["axis"]
        elif cls == "AnchorBoxes":
            _check_keys(layer, record, ANCHOR_KEYS)
        elif cls == "L2Normalization":
            assert layer.gamma_init == record["config"]["gamma_init"]


def test_steps_and_offsets_reach_the_anchor_layers():
    arch = _load_arch("ssd300")
    model = ssd_300(**arch["builder_kwargs"])
    sources = ["conv4_3_norm", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2"]
    for i, source in enumerate(sources):
        config = model.get_layer(f"{source}_mbox_priorbox").get_config()
        assert config["this_steps"] == arch["builder_kwargs"]["steps"][i]
        assert config["this_offsets"] == arch["builder_kwargs"]["offsets"][i]
