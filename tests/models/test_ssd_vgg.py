"""Behaviour of `ssd_300` and `ssd_512` (one shared VGG core)."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from models.keras_ssd300 import ssd_300
from models.keras_ssd512 import ssd_512
from models.utils import get_predictor_sizes
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
# The smallest square input both networks accept (their last 'valid' convolutions need it).
SMALLEST = (257, 257, 3)
SSD300_SOURCES = ["conv4_3_norm", "fc7", "conv6_2", "conv7_2", "conv8_2", "conv9_2"]


def _kwargs(key):
    return json.loads((GOLDEN / f"arch_{key}.json").read_text())["builder_kwargs"]


@pytest.fixture(scope="module")
def ssd300_voc():
    """The VOC tutorial's SSD300, with its predictor sizes."""
    keras.backend.clear_session()
    return ssd_300(**_kwargs("ssd300"), return_predictor_sizes=True)


def test_ssd300_predictor_sizes_and_anchor_count(ssd300_voc):
    model, sizes = ssd300_voc
    expected = [[38, 38], [19, 19], [10, 10], [5, 5], [3, 3], [1, 1]]
    np.testing.assert_array_equal(sizes, expected)
    np.testing.assert_array_equal(get_predictor_sizes(model), expected)
    assert model.output.shape == (None, 8732, 33)


def test_ssd300_anchors_match_the_encoder_and_the_spec(ssd300_voc):
    model, sizes = ssd300_voc
    kw = _kwargs("ssd300")
    y = keras.ops.convert_to_numpy(model(np.full((1, 300, 300, 3), 128.0, "float32")))
    encoder = SSDInputEncoder(
        img_height=300, img_width=300, n_classes=20, predictor_sizes=sizes,
        scales=kw["scales"], aspect_ratios_per_layer=kw["aspect_ratios_per_layer"],
        steps=kw["steps"], offsets=kw["offsets"], variances=kw["variances"],
        normalize_coords=True,
    )  # fmt: skip
    template = encoder.generate_encoding_template(batch_size=1)
    np.testing.assert_allclose(y[..., -8:], template[..., -8:], rtol=1e-5, atol=1e-6)
    # Reference anchors of the original's first and last SSD300 boxes.
    first = [[0.01333, 0.01333, w, h] for w, h in
             [(0.1, 0.1), (0.14142, 0.14142), (0.14142, 0.07071), (0.07071, 0.14142)]]  # fmt: skip
    np.testing.assert_allclose(y[0, :4, -8:-4], first, atol=1e-5)
    np.testing.assert_allclose(y[0, -1, -8:-4], [0.5, 0.5, 0.62225, 1.24451], atol=1e-5)
    np.testing.assert_allclose(y[0, :, -4:], np.tile([0.1, 0.1, 0.2, 0.2], (8732, 1)))


def test_ssd300_default_arguments_need_scales():
    with pytest.raises(ValueError, match=r"`scales`.*min_scale=None, max_scale=None"):
        ssd_300((300, 300, 3), 20)


def test_ssd512_at_its_smallest_input():
    model, sizes = ssd_512(SMALLEST, 4, min_scale=0.1, max_scale=0.9, return_predictor_sizes=True)
    np.testing.assert_array_equal(sizes, [[33, 33], [17, 17], [9, 9], [5, 5], [3, 3], [2, 2],
                                          [1, 1]])  # fmt: skip
    boxes = [4, 6, 6, 6, 6, 4, 4]
    assert model.output.shape[1] == sum(b * h * w for b, (h, w) in zip(boxes, sizes, strict=True))
    assert model.output.shape[2] == 5 + 12


@pytest.mark.parametrize(("builder", "size"), [(ssd_300, (256, 256, 3)), (ssd_512, (256, 256, 3))])
def test_too_small_image_raises(builder, size):
    with pytest.raises(ValueError, match=r"`image_size`=\(256, 256, 3\) is too small"):
        builder(size, 4, min_scale=0.1, max_scale=0.9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "predict"}, r"`mode`.*'predict'"),
        ({"n_classes": 0}, r"`n_classes`.*0"),
        ({"scales": [0.1] * 6}, r"`scales`.*7 entries.*got 6"),
        ({"aspect_ratios_per_layer": [[1.0, 2.0]] * 7}, r"`aspect_ratios_per_layer`.*\(6\)"),
        ({"steps": [8, 16, 32, 64, 100, 300, 600]}, r"`steps`.*\(6\).*got 7"),
        ({"offsets": [0.5] * 5}, r"`offsets`.*\(6\).*got 5"),
        ({"variances": [0.1, 0.1, -0.2, 0.2]}, r"`variances`.*> 0"),
    ],
)
def test_ssd300_bad_arguments(kwargs, match):
    arguments = {"image_size": (300, 300, 3), "n_classes": 20, "min_scale": 0.1,
                 "max_scale": 0.9, **kwargs}  # fmt: skip
    with pytest.raises(ValueError, match=match):
        ssd_300(**arguments)


def test_ssd512_wants_seven_layers_of_settings():
    with pytest.raises(ValueError, match=r"`steps`.*\(7\).*got 6"):
        ssd_512((512, 512, 3), 20, min_scale=0.1, max_scale=0.9, steps=[8, 16, 32, 64, 100, 300])


def test_inference_mode_decodes_in_pixels():
    model = ssd_300(SMALLEST, 2, mode="inference", min_scale=0.1, max_scale=0.9, top_k=5)
    decoder = model.get_layer("decoded_predictions")
    assert decoder.get_config()["img_height"] == 257
    assert model.output.shape == (None, 5, 6)
