"""`AnchorConfig`: one check of the anchor arguments, read back from built models."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.keras_ssd7 import build_model
from ssd_encoder_decoder.anchor_boxes import anchor_box_sizes, boxes_per_cell
from ssd_encoder_decoder.anchor_config import AnchorConfig, anchor_layers
from ssd_encoder_decoder.output_layout import (
    ANCHORS,
    BOX,
    BOX_COLUMNS,
    CLASS_SCORES,
    OBJECT_CLASS_SCORES,
    OFFSETS,
    VARIANCES,
    n_classes_of_width,
    prediction_width,
)

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"


def test_output_layout_slices_partition_the_last_axis():
    width = prediction_width(5)
    assert width == 18
    assert n_classes_of_width(width) == 5
    columns = np.arange(width)
    parts = [columns[CLASS_SCORES], columns[OFFSETS], columns[ANCHORS], columns[VARIANCES]]
    np.testing.assert_array_equal(np.concatenate(parts), columns)
    assert [len(p) for p in parts] == [6, 4, 4, 4]
    np.testing.assert_array_equal(columns[OBJECT_CLASS_SCORES], [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(columns[BOX_COLUMNS], np.arange(6, 18))
    np.testing.assert_array_equal(np.arange(6)[BOX], [2, 3, 4, 5])


@pytest.mark.parametrize(
    ("ratios", "two_boxes", "expected"),
    [([0.5, 1.0, 2.0], True, 4), ([0.5, 1.0, 2.0], False, 3), ([2.0, 3.0], True, 2),
     ([1.0, 1.0], True, 4)],
)  # fmt: skip
def test_boxes_per_cell_counts_the_boxes_the_anchor_generator_makes(ratios, two_boxes, expected):
    assert boxes_per_cell(ratios, two_boxes) == expected
    assert len(anchor_box_sizes(ratios, 0.2, 0.4, two_boxes, 100.0)) == expected


def test_from_arguments_expands_per_layer_values():
    config = AnchorConfig.from_arguments(
        3, 300, 480, min_scale=0.1, max_scale=0.7, aspect_ratios_global=[1, 2], steps=[8, 16, 32]
    )
    np.testing.assert_allclose(config.scales, [0.1, 0.3, 0.5, 0.7])
    assert config.aspect_ratios == ((1.0, 2.0),) * 3
    assert config.n_boxes == [3, 3, 3]
    assert config.steps == (8.0, 16.0, 32.0)
    assert config.offsets == (None, None, None)
    assert config.layer_arguments(1)["this_scale"] == pytest.approx(0.3)
    assert config.layer_arguments(1)["next_scale"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"min_scale": None}, r"`scales`.*min_scale=None"),
        ({"min_scale": 0.9, "max_scale": 0.1}, "min_scale = 0.9 and max_scale = 0.1"),
        ({"scales": [0.1, 0.2]}, r"`scales`.*3 entries.*got 2"),
        ({"scales": [0.1, -0.2, 0.3]}, r"`scales`.*-0\.2"),
        ({"aspect_ratios_global": None}, "cannot both be None"),
        ({"aspect_ratios_global": []}, r"aspect_ratios_global=\[\]"),
        ({"aspect_ratios_per_layer": [[1.0], [0.0]]}, r"aspect_ratios_per_layer\[1\]=\[0\.0\]"),
        ({"steps": [8, "x"]}, r"steps\[1\]='x'"),
        ({"offsets": [0.5]}, r"`offsets`.*\(2\), got 1"),
        ({"variances": [1, 1, 1]}, r"`variances`.*4 entries.*got 3"),
        ({"coords": "xyxy"}, "coords='xyxy'"),
    ],
)
def test_from_arguments_names_the_bad_argument(overrides, pattern):
    arguments = {"n_layers": 2, "img_height": 100, "img_width": 100, **overrides}
    with pytest.raises(ValueError, match=pattern):
        AnchorConfig.from_arguments(**arguments)


def test_from_model_reads_the_builder_arguments_back():
    kwargs = json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]
    model = build_model(**kwargs)
    config, sizes = AnchorConfig.from_model(model)
    expected = AnchorConfig.from_arguments(
        4, 300, 480, scales=kwargs["scales"], aspect_ratios_global=kwargs["aspect_ratios_global"],
        variances=kwargs["variances"], normalize_coords=True,
    )  # fmt: skip
    assert config.scales == expected.scales
    assert config.aspect_ratios == expected.aspect_ratios
    assert config.variances == expected.variances
    assert (config.img_height, config.img_width, config.normalize_coords) == (300, 480, True)
    assert config.n_boxes == expected.n_boxes
    np.testing.assert_array_equal(sizes, [[37, 60], [18, 30], [9, 15], [4, 7]])
    assert [layer.name for layer in anchor_layers(model)] == [f"anchors{i}" for i in range(4, 8)]


def test_from_model_refuses_models_without_anchor_layers():
    import keras

    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Conv2D(2, 3)(inputs))
    with pytest.raises(ValueError, match="no AnchorBoxes layers"):
        AnchorConfig.from_model(model)


def test_from_model_refuses_layers_that_disagree():
    model = build_model((64, 96, 3), n_classes=2, min_scale=0.2, max_scale=0.8)
    anchor_layers(model)[2].variances = [0.5, 0.5, 0.5, 0.5]
    with pytest.raises(ValueError, match="disagree on `variances`"):
        AnchorConfig.from_model(model)
