"""`SSDInputEncoder.from_model` equals an encoder built by hand from the same arguments."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from models.keras_ssd7 import build_model
from models.keras_ssd300 import ssd_300
from models.keras_ssd512 import ssd_512
from models.utils import get_predictor_sizes
from ssd_encoder_decoder.output_layout import ANCHORS, VARIANCES
from ssd_encoder_decoder.ssd_input_encoder import SSDInputEncoder

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
BUILDERS = {"ssd7": build_model, "ssd300": ssd_300, "ssd512": ssd_512}
ANCHOR_ARGUMENTS = (
    "scales", "aspect_ratios_global", "aspect_ratios_per_layer", "two_boxes_for_ar1", "steps",
    "offsets", "clip_boxes", "variances", "normalize_coords",
)  # fmt: skip


def _builder_kwargs(name: str) -> dict:
    return json.loads((GOLDEN / f"arch_{name}.json").read_text())["builder_kwargs"]


def _hand_built_encoder(model, kwargs: dict, **matching) -> SSDInputEncoder:
    """The tutorials' way: repeat the builder's anchor arguments for the encoder."""
    height, width, _ = kwargs["image_size"]
    return SSDInputEncoder(
        img_height=height,
        img_width=width,
        n_classes=kwargs["n_classes"],
        predictor_sizes=get_predictor_sizes(model),
        **{key: kwargs[key] for key in ANCHOR_ARGUMENTS if key in kwargs},
        **matching,
    )


def _random_labels(rng, n_images: int, height: int, width: int, n_classes: int) -> list:
    labels = []
    for _ in range(n_images):
        k = rng.integers(0, 6)
        xy = rng.uniform(0, [width - 20, height - 20], size=(k, 2))
        wh = rng.uniform(8, [width / 2, height / 2], size=(k, 2))
        boxes = np.concatenate([xy, np.minimum(xy + wh, [width, height])], axis=1)
        classes = rng.integers(1, n_classes + 1, size=(k, 1))
        labels.append(np.concatenate([classes, boxes], axis=1))
    return labels


@pytest.mark.parametrize("name", ["ssd7", "ssd300", "ssd512"])
@pytest.mark.parametrize("mode", ["training", "inference"])
def test_from_model_equals_the_hand_built_encoder(name, mode):
    kwargs = _builder_kwargs(name)
    model = BUILDERS[name](**kwargs, mode=mode)
    matching = {"pos_iou_threshold": 0.5, "neg_iou_limit": 0.4}
    expected = _hand_built_encoder(model, kwargs, **matching)
    encoder = SSDInputEncoder.from_model(model, **matching)

    assert (encoder.img_height, encoder.img_width) == (expected.img_height, expected.img_width)
    assert encoder.n_classes == expected.n_classes
    np.testing.assert_array_equal(encoder.predictor_sizes, expected.predictor_sizes)
    np.testing.assert_array_equal(
        encoder.generate_encoding_template(2), expected.generate_encoding_template(2)
    )
    rng = np.random.default_rng(7)
    labels = _random_labels(rng, 3, expected.img_height, expected.img_width, kwargs["n_classes"])
    np.testing.assert_array_equal(encoder(labels), expected(labels))


def test_from_model_of_a_saved_and_reloaded_model(tmp_path):
    kwargs = _builder_kwargs("ssd7")
    path = tmp_path / "ssd7.keras"
    build_model(**kwargs).save(path)
    reloaded = keras.models.load_model(path, compile=False)
    expected = _hand_built_encoder(reloaded, kwargs)
    np.testing.assert_array_equal(
        SSDInputEncoder.from_model(reloaded).generate_encoding_template(1),
        expected.generate_encoding_template(1),
    )


def test_from_model_of_an_old_h5_file():
    from models.legacy_h5 import load_legacy_model

    model = load_legacy_model(str(GOLDEN / "ssd7_full_tfkeras.h5"), compile=False)
    kwargs = _builder_kwargs("ssd7")
    expected = _hand_built_encoder(model, kwargs)
    np.testing.assert_array_equal(
        SSDInputEncoder.from_model(model).generate_encoding_template(1),
        expected.generate_encoding_template(1),
    )


def test_from_model_follows_the_model_not_the_defaults():
    """A model with pixel anchors and clipped boxes gives an encoder with the same."""
    model = build_model(
        (64, 96, 3), n_classes=2, min_scale=0.2, max_scale=0.8, normalize_coords=False,
        clip_boxes=True, coords="minmax", steps=[8, 16, 32, 64], offsets=[0.3] * 4,
    )  # fmt: skip
    encoder = SSDInputEncoder.from_model(model)
    assert encoder.normalize_coords is False  # the constructor's default is True
    assert encoder.clip_boxes is True
    assert encoder.coords == "minmax"
    template = encoder.generate_encoding_template(1)
    anchors = keras.Model(model.inputs, model.get_layer("predictions").output).predict(
        np.zeros((1, 64, 96, 3)), verbose=0
    )
    for columns in (ANCHORS, VARIANCES):
        np.testing.assert_allclose(template[..., columns], anchors[..., columns], atol=1e-4)


def test_from_model_refuses_a_model_that_is_not_an_ssd():
    inputs = keras.Input((8, 8, 3))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    with pytest.raises(ValueError, match="AnchorBoxes"):
        SSDInputEncoder.from_model(model)
