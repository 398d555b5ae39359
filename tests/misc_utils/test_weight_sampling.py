"""Tests of sub-sampling the classification layers of old-format .h5 weight files."""

# The functions under test are specified to use NumPy's global random state.
# ruff: noqa: NPY002

import shutil
from pathlib import Path

import h5py
import keras
import numpy as np
import pytest

from misc_utils.weight_sampling import (
    SSD7_CLASSIFIER_NAMES,
    classifier_channel_indices,
    read_legacy_weights,
    subsample_weights_file,
)

SSD7_FILE = Path(__file__).resolve().parents[1] / "data" / "golden_keras" / "ssd7_full_tfkeras.h5"


def write_keras2_weights(path, layers):
    """A Keras 2 weights-only file: {layer: [(weight_name, array), ...]}."""
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = np.array([name.encode() for name in layers])
        handle.attrs["backend"] = b"tensorflow"
        handle.attrs["keras_version"] = b"2.2.4"
        for layer, weights in layers.items():
            group = handle.create_group(layer)
            group.attrs["weight_names"] = np.array([name.encode() for name, _ in weights])
            for name, array in weights:
                group.create_dataset(name, data=array)


@pytest.fixture
def small_file(tmp_path):
    rng = np.random.default_rng(0)
    layers = {
        "input_1": [],
        "conv": [
            ("conv/kernel:0", rng.normal(size=(3, 3, 2, 4)).astype("f4")),
            ("conv/bias:0", rng.normal(size=4).astype("f4")),
        ],
        "cls": [
            ("cls/kernel:0", rng.normal(size=(1, 1, 4, 10)).astype("f4")),
            ("cls/bias:0", np.arange(10, dtype="f4")),
        ],
    }
    path = tmp_path / "source.h5"
    write_keras2_weights(path, layers)
    return path, layers


def test_channel_indices_follow_box_layout():
    assert classifier_channel_indices(10, 5, [0, 3]) == [0, 3, 5, 8]
    assert classifier_channel_indices(324, 81, [0, 3, 8])[-3:] == [243, 246, 251]
    with pytest.raises(ValueError, match="not a multiple"):
        classifier_channel_indices(10, 3, [0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 4\]"):
        classifier_channel_indices(10, 5, [0, 5])
    with pytest.raises(ValueError, match="repeats"):
        classifier_channel_indices(10, 5, [0, 2, 2])


def test_small_file_keeps_exact_rows(small_file, tmp_path):
    source, layers = small_file
    out = tmp_path / "out.h5"
    shapes = subsample_weights_file(
        source, out, ["cls"], n_classes_source=5, classes_of_interest=[0, 4, 2]
    )
    assert shapes == {"cls": ((1, 1, 4, 6), (6,))}
    weights = read_legacy_weights(out)
    assert list(weights) == ["input_1", "conv", "cls"]
    kernel = layers["cls"][0][1]
    np.testing.assert_array_equal(weights["cls"]["cls/kernel:0"], kernel[..., [0, 4, 2, 5, 9, 7]])
    np.testing.assert_array_equal(weights["cls"]["cls/bias:0"], [0, 4, 2, 5, 9, 7])
    assert weights["cls"]["cls/kernel:0"].dtype == np.float32
    np.testing.assert_array_equal(weights["conv"]["conv/kernel:0"], layers["conv"][0][1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.h5", "source.h5"]  # no temp left


def test_random_classes_are_drawn_once_with_global_state(small_file, tmp_path):
    source, _ = small_file
    np.random.seed(3)
    subsample_weights_file(source, tmp_path / "out.h5", ["cls"], 5, classes_of_interest=3)
    np.random.seed(3)
    classes = [0, *np.sort(np.random.choice(np.arange(1, 5), 2, replace=False)).tolist()]
    expected = classifier_channel_indices(10, 5, classes)
    bias = read_legacy_weights(tmp_path / "out.h5")["cls"]["cls/bias:0"]
    np.testing.assert_array_equal(bias, np.array(expected, dtype="f4"))


def test_overwriting_the_source_in_place(small_file):
    source, _ = small_file
    subsample_weights_file(source, source, ["cls"], 5, [0, 1])
    assert read_legacy_weights(source)["cls"]["cls/bias:0"].tolist() == [0, 1, 5, 6]


def test_bad_files_and_layers(small_file, tmp_path):
    source, _ = small_file
    out = tmp_path / "out.h5"
    with pytest.raises(ValueError, match=r"no layer\(s\) \['nope'\]"):
        subsample_weights_file(source, out, ["nope"], 5, [0, 1])
    with pytest.raises(ValueError, match="expected a kernel and a bias"):
        subsample_weights_file(source, out, ["input_1"], 5, [0, 1])
    with pytest.raises(ValueError, match="not a multiple"):
        subsample_weights_file(source, out, ["cls"], 3, [0, 1])
    with pytest.raises(ValueError, match=r"\[1, n_classes_source = 5\]"):
        subsample_weights_file(source, out, ["cls"], 5, 6)
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle.create_dataset("x", data=[1])
    with pytest.raises(ValueError, match="not a Keras 2"):
        subsample_weights_file(tmp_path / "plain.h5", out, ["cls"], 5, [0, 1])
    assert not out.exists()


def classifier_model(n_classes, in_channels=(64, 48, 48, 32), n_boxes=4):
    """Conv layers named like the SSD7 classifiers, each on its own input."""
    inputs = [keras.Input((6, 6, c)) for c in in_channels]
    outputs = [
        keras.layers.Conv2D(n_boxes * (n_classes + 1), 3, padding="same", name=name)(x)
        for name, x in zip(SSD7_CLASSIFIER_NAMES, inputs, strict=True)
    ]
    return keras.Model(inputs, outputs)


def test_ssd7_file_loads_by_name_into_model_with_fewer_classes(tmp_path):
    source = tmp_path / "ssd7.h5"
    shutil.copyfile(SSD7_FILE, source)
    out = tmp_path / "ssd7_2_classes.h5"
    classes = [0, 3, 1]  # background, source classes 3 and 1
    subsample_weights_file(source, out, SSD7_CLASSIFIER_NAMES, 6, classes)
    original = read_legacy_weights(source)
    model = classifier_model(n_classes=2)
    model.load_weights(str(out), by_name=True)
    for name in SSD7_CLASSIFIER_NAMES:
        kernel, bias = model.get_layer(name).get_weights()
        source_kernel = original[name][f"{name}/kernel:0"]
        keep = [box * 6 + c for box in range(4) for c in classes]
        np.testing.assert_array_equal(kernel, source_kernel[..., keep])
        np.testing.assert_array_equal(bias, original[name][f"{name}/bias:0"][keep])
    # every other layer is copied unchanged
    copied = read_legacy_weights(out)
    np.testing.assert_array_equal(
        copied["conv1"]["conv1/kernel:0"], original["conv1"]["conv1/kernel:0"]
    )
    with pytest.raises(ValueError):
        classifier_model(n_classes=5).load_weights(str(out), by_name=True)
