"""The model presets hold the tutorials' and the SSD papers' configurations."""

import json
from pathlib import Path

import numpy as np
import pytest

from models.presets import PRESETS, SSD7_ROAD_TRAFFIC, SSD300_VOC, SSD512_VOC

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"


@pytest.mark.parametrize(
    ("preset", "golden"),
    [(SSD7_ROAD_TRAFFIC, "ssd7"), (SSD300_VOC, "ssd300"), (SSD512_VOC, "ssd512")],
)
def test_presets_equal_the_recorded_builder_calls(preset, golden):
    """The recorded builder arguments of the original tutorials, value for value."""
    recorded = json.loads((GOLDEN / f"arch_{golden}.json").read_text())["builder_kwargs"]
    arguments = preset.builder_arguments()
    for key, value in recorded.items():
        if value is None:
            assert arguments.get(key) is None, key
        elif key == "aspect_ratios_per_layer":
            assert len(arguments[key]) == len(value)
            for mine, theirs in zip(arguments[key], value, strict=True):
                np.testing.assert_allclose(mine, theirs, err_msg=key)
        else:
            np.testing.assert_allclose(np.asarray(arguments[key], float), value, err_msg=key)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_builds_and_gives_a_matching_encoder(name):
    preset = PRESETS[name]
    model = preset.build_model()
    encoder = preset.input_encoder(model)
    assert model.output.shape[1] == encoder.generate_encoding_template(1).shape[1]
    assert encoder.n_classes == preset.n_classes + 1
    assert encoder.neg_iou_limit == preset.matching_kwargs["neg_iou_limit"]
    hand = preset.encoder_arguments(predictor_sizes=encoder.predictor_sizes)
    from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

    np.testing.assert_array_equal(
        SSDInputEncoder(**hand).generate_encoding_template(1),
        encoder.generate_encoding_template(1),
    )


def test_presets_cannot_be_changed_through_the_arguments_they_hand_out():
    arguments = SSD300_VOC.builder_arguments()
    arguments["scales"].append(2.0)
    arguments["aspect_ratios_per_layer"][0].append(7.0)
    assert len(SSD300_VOC.builder_arguments()["scales"]) == 7
    assert SSD300_VOC.builder_arguments()["aspect_ratios_per_layer"][0] == [1.0, 2.0, 0.5]
    with pytest.raises(TypeError):
        SSD300_VOC.anchor_kwargs["scales"] = None


def test_overrides_change_the_model_and_the_encoder_follows():
    model = SSD7_ROAD_TRAFFIC.build_model(image_size=(120, 160, 3), n_classes=2)
    encoder = SSD7_ROAD_TRAFFIC.input_encoder(model, neg_iou_limit=0.4)
    assert (encoder.img_height, encoder.img_width, encoder.n_classes) == (120, 160, 3)
    assert encoder.neg_iou_limit == 0.4
