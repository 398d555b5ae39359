"""`models.export.export_model`: each artefact, run by its own runtime, gives the Keras rows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.export import FORMATS, check_export_arguments, detection_model, export_model
from models.keras_ssd7 import build_model
from ssd_app.light_predict import ExportedDetector

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "golden_keras"
ROOT = Path(__file__).resolve().parents[2]
CONFIDENCE_TOLERANCE = 1e-4
BOX_TOLERANCE = 0.05  # pixels

pytestmark = [
    pytest.mark.only_backends("tensorflow", reason="the artefacts are exported from TensorFlow"),
    # tf2onnx and the LiteRT converter warn about their own deprecated internals
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def trained_ssd7():
    """The SSD7 of the tutorial with trained weights (training mode), as tests/models uses."""
    kwargs = json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]
    model = build_model(**kwargs)
    model.load_weights(GOLDEN / "ssd7_full_tfkeras.h5", by_name=True)
    return model


@pytest.fixture(scope="module")
def images():
    """Four road images `(4, 300, 480, 3)`: the two recorded ones and their mirror images."""
    recorded = np.load(GOLDEN / "ssd7_full_tfkeras_outputs.npz")["input_ssd7"].astype("float32")
    return np.concatenate([recorded, recorded[:, :, ::-1]])


def _rows(output):
    """The non-padding rows of one image, in a fixed order (class, then rounded box)."""
    output = np.asarray(output, dtype=np.float64)
    output = output[output[:, 0] != 0]
    return output[np.lexsort(np.round(output[:, ::-1], 2).T)]


def assert_same_detections(got, expected):
    """Order-insensitive equality: same classes, confidences within 1e-4, boxes within 0.05 px."""
    assert np.shape(got) == np.shape(expected)
    for mine, theirs in zip(got, expected, strict=True):
        mine, theirs = _rows(mine), _rows(theirs)
        assert mine.shape == theirs.shape
        np.testing.assert_array_equal(mine[:, 0], theirs[:, 0])
        np.testing.assert_allclose(mine[:, 1], theirs[:, 1], atol=CONFIDENCE_TOLERANCE, rtol=0)
        np.testing.assert_allclose(mine[:, 2:], theirs[:, 2:], atol=BOX_TOLERANCE, rtol=0)


def run_artefact(format, path, batch):
    """Runs an exported artefact with its own runtime (TensorFlow, ONNX Runtime, LiteRT)."""
    if format == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return np.asarray(loaded.serve(tf.constant(batch)))
    return ExportedDetector(str(path)).detect(batch)


SUFFIX = {"saved_model": "", "onnx": ".onnx", "litert": ".tflite"}


@pytest.fixture(scope="module")
def exported(trained_ssd7, tmp_path_factory):
    """Exports once per (format, confidence) and caches the path."""
    folder = tmp_path_factory.mktemp("exported")
    cache = {}

    def get(format, confidence):
        key = (format, confidence)
        if key not in cache:
            path = folder / f"ssd7_{format}_{confidence}{SUFFIX[format]}"
            cache[key] = export_model(trained_ssd7, format, path, confidence_thresh=confidence)
        return cache[key]

    return get


@pytest.mark.parametrize("confidence", [0.5, 0.01])
@pytest.mark.parametrize("format", ["saved_model", "onnx", "litert"])
def test_exported_ssd7_gives_the_keras_rows(trained_ssd7, images, exported, format, confidence):
    reference = detection_model(trained_ssd7, confidence_thresh=confidence)
    path = exported(format, confidence)
    expected = np.asarray(reference.predict(images, verbose=0))
    assert (expected[..., 0] != 0).sum() > 4 * (10 if confidence == 0.5 else 150)  # non-trivial
    for batch in (images[:1], images):  # batch 1 and batch 4
        assert_same_detections(run_artefact(format, path, batch), expected[: len(batch)])


@pytest.mark.slow
@pytest.mark.parametrize("format", ["saved_model", "onnx", "litert"])
def test_exported_ssd300_gives_the_keras_rows(format, tmp_path):
    from models.presets import SSD300_VOC

    model = SSD300_VOC.build_model()
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.02, weight.shape).astype("float32"))
    batch = np.random.default_rng(1).uniform(0, 255, (2, 300, 300, 3)).astype("float32")
    expected = np.asarray(detection_model(model, confidence_thresh=0.01).predict(batch, verbose=0))
    assert (expected[..., 0] != 0).sum() > 0
    path = export_model(model, format, tmp_path / f"ssd300{SUFFIX[format]}", confidence_thresh=0.01)
    assert_same_detections(run_artefact(format, path, batch), expected)


def test_an_inference_model_is_exported_as_it_is_unless_thresholds_are_given(trained_ssd7):
    kwargs = json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]
    model = build_model(**kwargs, mode="inference_fast", confidence_thresh=0.3, top_k=50)
    same = detection_model(model)
    assert same.layers[-1] is model.layers[-1]
    changed = detection_model(model, top_k=20)
    parameters = changed.layers[-1].decoding_parameters()
    assert parameters["mode"] == "inference_fast"
    assert (parameters["top_k"], parameters["confidence_thresh"]) == (20, 0.3)
    appended = detection_model(trained_ssd7, mode="inference_fast", iou_threshold=0.3)
    parameters = appended.layers[-1].decoding_parameters()
    assert parameters["mode"] == "inference_fast"
    assert (parameters["iou_threshold"], parameters["top_k"]) == (0.3, 200)
    assert appended.output.shape[1:] == (200, 6)


@pytest.mark.parametrize(
    ("format", "output", "quantize", "pattern"),
    [
        ("tflite", "m.tflite", "none", "format must be one of"),
        ("onnx", "m.tflite", "none", r"must end with \.onnx"),
        ("litert", "m.tflite", "int4", "quantize must be one of"),
        ("onnx", "m.onnx", "float16", "applies to format 'litert' only"),
    ],
)
def test_bad_requests_are_named(tmp_path, format, output, quantize, pattern):
    with pytest.raises(ValueError, match=pattern):
        check_export_arguments(format, tmp_path / output, quantize)


def test_a_missing_output_folder_is_refused(tmp_path):
    with pytest.raises(OSError, match="does not exist"):
        check_export_arguments("onnx", tmp_path / "missing" / "m.onnx")


def test_a_failed_export_leaves_the_old_artefact_and_no_partial_file(
    trained_ssd7, tmp_path, monkeypatch
):
    from models import export

    target = tmp_path / "model.tflite"
    target.write_bytes(b"previous")
    monkeypatch.setattr(export, "_litert_options", lambda quantize: {"no_such_option": True})
    with pytest.raises(ValueError, match="Unknown converter attribute"):
        export_model(trained_ssd7, "litert", target, quantize="dynamic_range")
    assert target.read_bytes() == b"previous"
    assert sorted(os.listdir(tmp_path)) == ["model.tflite"]


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_are_refused_naming_tensorflow(backend):
    pytest.importorskip(backend)
    code = (
        "from models.export import check_backend\n"
        "for f in ('saved_model', 'onnx', 'litert'):\n"
        "    try:\n"
        "        check_backend(f)\n"
        "    except ValueError as e:\n"
        "        print(e)\n"
    )
    env = {**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 3
    assert all(f"{backend!r} Keras backend" in line for line in lines)
    assert all("KERAS_BACKEND=tensorflow" in line for line in lines)


@pytest.mark.only_backends("jax", "torch", reason="TensorFlow exports every format")
@pytest.mark.parametrize("format", FORMATS)
def test_export_on_jax_and_torch_is_refused_naming_the_cause(trained_ssd7, tmp_path, format):
    import keras

    backend = keras.backend.backend()
    with pytest.raises(ValueError, match=rf"{backend!r} Keras backend here \(.+\); run with "):
        export_model(trained_ssd7, format, tmp_path / f"ssd7{SUFFIX[format]}")
    assert os.listdir(tmp_path) == []


@pytest.mark.only_backends("torch", reason="checks the PyTorch exporters' common first step")
def test_torch_export_cannot_trace_the_decoding(trained_ssd7):
    """Why every format is refused on PyTorch: the SavedModel, ONNX (`torch.onnx` with
    `dynamo=True`) and LiteRT (`litert-torch`) exporters of Keras 3.15 trace the model with
    `torch.export`, and on PyTorch `keras.ops.while_loop` is a Python loop whose condition reads
    the scores, so `torch.export` stops at it (docs/export.md, Backends). When this test fails,
    `torch.export` traces the decoding and those exporters are worth trying again."""
    import torch
    from torch.fx.experimental.symbolic_shapes import GuardOnDataDependentSymNode

    model = detection_model(trained_ssd7, confidence_thresh=0.5)
    with pytest.raises(GuardOnDataDependentSymNode) as failure:
        torch.export.export(model, (torch.zeros(1, 300, 480, 3),), strict=False)
    assert any("_decoding.py" in str(entry.path) for entry in failure.traceback)
