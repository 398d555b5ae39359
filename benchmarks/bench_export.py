"""Keras predict against the exported ONNX and LiteRT detectors on CPU, side by side in one run.

For SSD7 (the road-traffic tutorial's model with the trained test weights) and SSD300 (Pascal
VOC configuration, seeded random weights) with the decoding inside (`DecodeDetections`,
confidence 0.01, top_k 200): the latency of one image (median of `--repeats` calls after
warm-up) and the throughput at batch 8 (images per second), for

* Keras: `model.predict_on_batch` of the detection model (TensorFlow backend),
* ONNX Runtime (`ssd_app.light_predict.ExportedDetector`, CPU provider),
* LiteRT (`ssd_app.light_predict.ExportedDetector`, float32 `.tflite`),

and each runtime's ratio to Keras (latency: Keras / runtime, so above 1 is faster).

With `--quantization MODEL.keras --data-dir DIR` it instead exports one trained SSD7 to LiteRT
without quantization, with dynamic-range and with float16 quantization, and prints each file's
size and its Pascal VOC mAP on DIR's validation split (`labels_val.csv`, as the demo writes it).

Usage:
    .venv/bin/python benchmarks/bench_export.py [--models ssd7 ssd300] [--repeats 20]
    .venv/bin/python benchmarks/bench_export.py --quantization demo_output/ssd7.keras \
        --data-dir demo_output/data
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(1, str(ROOT / "benchmarks"))

import numpy as np  # noqa: E402
from bench_models import median_time  # noqa: E402

GOLDEN = ROOT / "tests" / "data" / "golden_keras"


def _ssd7():
    from models.keras_ssd7 import build_model

    kwargs = json.loads((GOLDEN / "arch_ssd7.json").read_text())["builder_kwargs"]
    model = build_model(**kwargs)
    model.load_weights(GOLDEN / "ssd7_full_tfkeras.h5", by_name=True)
    return model


def _ssd300():
    from models.presets import SSD300_VOC

    model = SSD300_VOC.build_model()
    rng = np.random.default_rng(0)
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.02, weight.shape).astype("float32"))
    return model


BUILDERS = {"ssd7": _ssd7, "ssd300": _ssd300}


def benchmark(name: str, repeats: int, folder: str) -> list[tuple]:
    from models.export import detection_model, export_model
    from ssd_app.light_predict import ExportedDetector

    model = BUILDERS[name]()
    keras_model = detection_model(model)
    height, width = keras_model.inputs[0].shape[1:3]
    rng = np.random.default_rng(0)
    one = rng.uniform(0, 255, (1, height, width, 3)).astype("float32")
    eight = rng.uniform(0, 255, (8, height, width, 3)).astype("float32")
    runners = {"Keras predict": lambda batch: keras_model.predict_on_batch(batch)}
    for format, suffix in (("onnx", ".onnx"), ("litert", ".tflite")):
        path = export_model(model, format, os.path.join(folder, f"{name}{suffix}"))
        detector = ExportedDetector(path)
        runners["ONNX Runtime" if format == "onnx" else "LiteRT"] = detector.detect
    rows = []
    for runtime, run in runners.items():
        latency = median_time(lambda run=run: run(one), repeats, warmup=2)
        batch_time = median_time(lambda run=run: run(eight), max(3, repeats // 4), warmup=2)
        rows.append((name, runtime, latency * 1000, 8 / batch_time))
    return rows


def _print_table(rows: list[tuple]) -> None:
    print("| model | runtime | batch 1 latency (ms) | vs Keras | batch 8 (images/s) | vs Keras |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    base = {row[0]: row for row in rows if row[1] == "Keras predict"}
    for name, runtime, latency, throughput in rows:
        keras_latency, keras_throughput = base[name][2], base[name][3]
        print(
            f"| {name} | {runtime} | {latency:.1f} | {keras_latency / latency:.2f}x "
            f"| {throughput:.1f} | {throughput / keras_throughput:.2f}x |"
        )


class _RuntimeModel:
    """The Keras detection model's `inputs`/`outputs`/`layers`, predicting with a runtime."""

    def __init__(self, keras_model, detector):
        self.inputs, self.outputs, self.layers = (
            keras_model.inputs,
            keras_model.outputs,
            keras_model.layers,
        )
        self.name = keras_model.name
        self.detector = detector

    def predict(self, batch, verbose=0):
        return self.detector.detect(np.asarray(batch))


def quantization(model_path: str, data_dir: str, folder: str) -> None:
    from eval_utils.average_precision_evaluator import Evaluator
    from models.export import detection_model, export_model
    from ssd_app import _cli_setup as setup
    from ssd_app.light_predict import ExportedDetector
    from ssd_encoder_decoder.output_layout import model_n_classes

    model = setup.load_model(model_path)
    n_classes = model_n_classes(model)
    source = setup.DataSource(
        data_format="csv",
        images_dir=data_dir,
        labels=os.path.join(data_dir, "labels_val.csv"),
        annotations_dir=None,
        classes=setup.VOC_CLASSES,
    )
    dataset = setup.load_dataset(source, n_classes)
    keras_model = detection_model(model)
    height, width = keras_model.inputs[0].shape[1:3]

    def mean_ap(predictor) -> float:
        evaluator = Evaluator(predictor, n_classes, dataset, model_mode="inference")
        return float(
            evaluator(
                img_height=height,
                img_width=width,
                batch_size=8,
                matching_iou_threshold=0.5,
                average_precision_mode="sample",
                decoding_confidence_thresh=0.01,
                verbose=False,
            )
        )

    print("| artefact | size (MiB) | mAP (VOC 11-point, IoU 0.5) |")
    print("| --- | ---: | ---: |")
    print(
        f"| Keras model ({os.path.basename(model_path)}) | "
        f"{os.path.getsize(model_path) / 2**20:.2f} | {mean_ap(keras_model):.4f} |"
    )
    for quantize in ("none", "dynamic_range", "float16"):
        path = os.path.join(folder, f"ssd7_{quantize}.tflite")
        export_model(model, "litert", path, quantize=quantize)
        predictor = _RuntimeModel(keras_model, ExportedDetector(path))
        size = os.path.getsize(path) / 2**20
        print(f"| LiteRT, quantize={quantize} | {size:.2f} | {mean_ap(predictor):.4f} |")
    path = export_model(model, "onnx", os.path.join(folder, "ssd7.onnx"))
    predictor = _RuntimeModel(keras_model, ExportedDetector(path))
    print(f"| ONNX | {os.path.getsize(path) / 2**20:.2f} | {mean_ap(predictor):.4f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=tuple(BUILDERS), default=list(BUILDERS))
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quantization", metavar="MODEL", help="trained SSD7 .keras file")
    parser.add_argument("--data-dir", help="demo data folder holding labels_val.csv")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.quantization:
            quantization(args.quantization, args.data_dir, folder)
            return
        rows = []
        for name in args.models:
            rows.extend(benchmark(name, args.repeats, folder))
        _print_table(rows)


if __name__ == "__main__":
    main()
