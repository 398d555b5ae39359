"""`ssd-keras export`, and `ssd-keras predict` on exported `.onnx` / `.tflite` detectors."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ssd_app import cli

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "data" / "golden_keras"

pytestmark = [
    pytest.mark.only_backends("tensorflow", reason="the artefacts are exported from TensorFlow"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A trained SSD7 saved as `.keras` (training mode) and three road images of other sizes."""
    from models.keras_ssd7 import build_model

    folder = tmp_path_factory.mktemp("export_cli")
    kwargs = json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]
    model = build_model(**kwargs)
    model.load_weights(GOLDEN / "ssd7_full_tfkeras.h5", by_name=True)
    model.save(folder / "ssd7.keras")
    recorded = np.load(GOLDEN / "ssd7_full_tfkeras_outputs.npz")["input_ssd7"].astype(np.uint8)
    images = folder / "images"
    images.mkdir()
    for name, image, size in (
        ("a.png", recorded[0], (480, 300)),
        ("b.jpg", recorded[1], (640, 360)),
        ("c.png", recorded[0][:, ::-1], (300, 200)),
    ):
        cv2.imwrite(str(images / name), cv2.cvtColor(cv2.resize(image, size), cv2.COLOR_RGB2BGR))
    return folder


def _run(*argv, env_extra=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-m", "ssd_app.cli", *argv], capture_output=True, text=True, env=env
    )


def _detections(path):
    with open(path, newline="", encoding="utf-8") as file:
        rows = list(csv.reader(file))
    assert tuple(rows[0]) == cli.DETECTION_COLUMNS
    by_image = {}
    for row in rows[1:]:
        by_image.setdefault(os.path.basename(row[0]), []).append(
            [float(v) for v in row[1:]] if row[1] else None
        )
    return {
        name: np.array(sorted(r for r in rows if r is not None)).reshape(-1, 6)
        for name, rows in by_image.items()
    }


@pytest.fixture(scope="module")
def keras_detections(workspace):
    out = workspace / "keras_predict"
    assert cli.main(["predict", str(workspace / "ssd7.keras"), str(workspace / "images"),
                     "--output-dir", str(out), "--confidence", "0.3"]) == 0  # fmt: skip
    return _detections(out / "detections.csv")


@pytest.mark.parametrize(("format", "suffix"), [("onnx", ".onnx"), ("litert", ".tflite")])
def test_exported_detector_predicts_without_keras_or_tensorflow(
    workspace, keras_detections, format, suffix
):
    artefact = workspace / f"ssd7{suffix}"
    assert cli.main(["export", str(workspace / "ssd7.keras"), "--format", format,
                     "--output", str(artefact)]) == 0  # fmt: skip
    out = workspace / f"predict_{format}"
    code = (
        "import sys\n"
        "from ssd_app.cli import main\n"
        f"code = main(['predict', {str(artefact)!r}, {str(workspace / 'images')!r},"
        f" '--output-dir', {str(out)!r}, '--confidence', '0.3'])\n"
        "loaded = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules)\n"
        "print('LOADED', ','.join(loaded))\n"
        "sys.exit(code)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "LOADED \n" in result.stdout
    assert sorted(os.listdir(out)) == ["a.png", "b.png", "c.png", "detections.csv"]
    mine = _detections(out / "detections.csv")
    assert mine.keys() == keras_detections.keys()
    for name, expected in keras_detections.items():
        assert len(expected) > 5
        got = mine[name]
        assert got.shape == expected.shape
        # each Keras row has its own exported row: same class, confidence within the CSV's
        # rounding, box within 0.05 px of the model input (scaled to the original image)
        distance = np.abs(expected[:, None, 1:] - got[None, :, 1:]).max(axis=-1)
        distance[expected[:, None, 0] != got[None, :, 0]] = np.inf
        match = distance.argmin(axis=1)
        assert len(set(match.tolist())) == len(expected)
        np.testing.assert_allclose(got[match, 1], expected[:, 1], atol=2e-4)
        np.testing.assert_allclose(got[match, 2:], expected[:, 2:], atol=0.05 * 640 / 480 + 2e-4)


def test_export_writes_a_saved_model_folder(workspace):
    target = workspace / "saved"
    argv = ["export", str(workspace / "ssd7.keras"), "--format", "saved_model", "--output",
            str(target), "--top-k", "10", "--mode", "inference_fast"]  # fmt: skip
    assert cli.main(argv) == 0
    assert (target / "saved_model.pb").is_file()
    assert not [name for name in os.listdir(workspace) if name.endswith(".partial")]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["export", "{model}", "--format", "pdf", "--output", "{dir}/m.pdf"],
         "argument --format: invalid choice"),
        (["export", "{dir}/missing.keras", "--format", "onnx", "--output", "{dir}/m.onnx"],
         "missing.keras"),
        (["export", "{dir}/images/a.png", "--format", "onnx", "--output", "{dir}/m.onnx"],
         "cannot load model"),
        (["export", "{model}", "--format", "onnx", "--output", "{dir}/m.tflite"],
         r"must end with .onnx"),
        (["export", "{model}", "--format", "onnx", "--output", "{dir}/m.onnx", "--quantize",
          "float16"], "applies to format 'litert' only"),
        (["export", "{model}", "--format", "onnx", "--output", "/proc/none/m.onnx"],
         "/proc/none"),
        (["predict", "{dir}/images/a.png", "{dir}/images", "--output-dir", "{dir}/x"],
         "cannot load model"),
        (["predict", "{dir}/missing.onnx", "{dir}/images", "--output-dir", "{dir}/x"],
         "missing.onnx"),
        (["predict", "{dir}/bad.onnx", "{dir}/images", "--output-dir", "{dir}/x"],
         "cannot load exported model"),
        (["predict", "{dir}/bad.tflite", "{dir}/images", "--output-dir", "{dir}/x"],
         "cannot load exported model .*bad.tflite"),
        (["predict", "{dir}/bad.onnx", "{dir}/images", "--output-dir", "{dir}/x",
          "--iou-threshold", "0.3"], "fixed at export"),
    ],
)  # fmt: skip
def test_bad_input_is_one_error_line(workspace, capsys, argv, message):
    (workspace / "bad.onnx").write_bytes(b"not an onnx file")
    (workspace / "bad.tflite").write_bytes(b"not a flatbuffer")
    argv = [a.format(model=workspace / "ssd7.keras", dir=workspace) for a in argv]
    with pytest.raises(SystemExit) as raised:
        raise SystemExit(cli.main(argv))
    assert raised.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ssd-keras: error: ")
    assert re.search(message, lines[0])


def test_export_on_another_backend_is_refused_before_the_model_is_read(tmp_path):
    pytest.importorskip("torch")
    not_a_model = tmp_path / "model.keras"
    not_a_model.write_text("not a zip archive")
    result = _run(
        "export",
        str(not_a_model),
        "--format",
        "onnx",
        "--output",
        str(tmp_path / "m.onnx"),
        env_extra={"KERAS_BACKEND": "torch"},
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "ssd-keras: error: format 'onnx' cannot be exported from the 'torch' Keras backend here "
        "(torch.export cannot trace the decoding's data-dependent loops); "
        "run with KERAS_BACKEND=tensorflow"
    ]
    assert not (tmp_path / "m.onnx").exists()
