"""Command-line interface `ssd-keras` (also `python -m ssd_app.cli`).

Subcommands:

* `train`: trains SSD7 (the road-traffic tutorial's configuration) or SSD300 (the Pascal VOC
  configuration) on CSV, Pascal VOC XML or MS COCO JSON data, optionally resuming from a saved
  model, and writes `model.keras`, `model.h5` and `training_log.csv`.
* `evaluate`: prints the Pascal VOC average precision per class and the mean.
* `predict`: draws the detected boxes on images (PNG) and writes `detections.csv`; also runs
  exported `.onnx` / `.tflite` detectors with ONNX Runtime / LiteRT, without Keras or TensorFlow.
* `export`: writes a SavedModel, ONNX or LiteRT artefact with the decoding inside
  (`models.export.export_model`).
* `demo`: the main job of `make demo` (`ssd_app.demo`): generates the road-traffic
  data, trains SSD7 for a budget of minutes or epochs, evaluates it and writes one folder.

Bad input (missing paths, class ids above `--n-classes`, unwritable output folders, unreadable
files) is reported as one line on stderr with exit code 2; `--debug` shows the traceback.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np

from ssd_app import _cli_setup as setup
from ssd_app import _cli_train
from ssd_app._common import (
    class_names,
    confidence,
    iou_threshold,
    positive_float,
    positive_int,
)
from ssd_encoder_decoder.output_layout import BOX, CLASS_ID, CONFIDENCE, model_n_classes

EXIT_BAD_INPUT = 2
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DETECTION_COLUMNS = ("image", "class_id", "confidence", "xmin", "ymin", "xmax", "ymax")
"""Columns of `detections.csv` (corners, absolute pixels of the original image)."""
PREDICT_CHUNK = 32
"""Images `predict` reads and detects at a time (their detections are kept, the pixels are not)."""


# ----------------------------------------------------------------------------------------------
# Argument parsing


class ArgumentParser(argparse.ArgumentParser):
    """`argparse` parser whose errors are one `ssd-keras: error: ...` line (exit code 2)."""

    def error(self, message: str) -> NoReturn:
        text = " ".join(message.split())
        self.exit(EXIT_BAD_INPUT, f"ssd-keras: error: {text} (see '{self.prog} --help')\n")


def _add_data_options(parser: argparse.ArgumentParser, splits: Sequence[str]) -> None:
    group = parser.add_argument_group("data")
    group.add_argument(
        "--data-format",
        choices=("csv", "voc", "coco"),
        default="csv",
        help="label format: 'csv' (one box per row; the header names the columns frame, xmin, "
        "xmax, ymin, ymax, class_id in any order, case and spaces ignored; image_name, "
        "filename, image, ... may name the frame column and class, label, ... the class_id "
        "column), "
        "'voc' (Pascal VOC image set file + XML annotations) or 'coco' (MS COCO JSON). "
        "Default: csv.",
    )
    group.add_argument("--images-dir", required=True, help="folder holding the images")
    for split in splits:
        flag = "--labels" if split == "" else f"--{split}-labels"
        what = "evaluation" if split == "" else split
        group.add_argument(
            flag,
            required=split != "val",
            help=f"{what} labels: the CSV file (csv), the image set .txt file listing image ids "
            "(voc) or the annotations .json file (coco)"
            + ("; optional, without it the training loss is monitored" if split == "val" else ""),
        )
    group.add_argument(
        "--annotations-dir",
        help="voc only: folder of the XML annotation files (default: IMAGES_DIR/Annotations)",
    )
    group.add_argument(
        "--classes",
        help="voc only: comma-separated positive class names in class-id order "
        "(default: the 20 Pascal VOC classes)",
    )


def _add_class_names_option(parser: argparse.ArgumentParser, use: str) -> None:
    parser.add_argument(
        "--class-names",
        type=class_names,
        metavar="NAMES",
        help="comma-separated names of the classes 1..N in class-id order (as many as the "
        f"model has classes), used {use}",
    )


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--debug", action="store_true", help="show the full traceback when something fails"
    )


def _train_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train SSD7 or SSD300",
        description="Train an SSD model with the tutorials' configuration and augmentation. "
        "Writes model.keras, model.h5, training_log.csv, train_summary.json and checkpoints/ into "
        "--output-dir.",
    )
    _add_data_options(parser, ("train", "val"))
    parser.add_argument(
        "--model",
        choices=tuple(setup.MODEL_PRESETS),
        default="ssd7",
        help="ssd7: 300x480 input, the SSD7 road-traffic tutorial's anchors, Adam; ssd300: "
        "300x300 input, the Pascal VOC configuration, SGD with momentum. Default: ssd7.",
    )
    parser.add_argument(
        "--n-classes",
        type=positive_int,
        default=5,
        help="number of positive classes (without background); label class ids must lie in "
        "1..N. Default: 5 (the traffic data).",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=10,
        help="epochs to train in this run; with --resume they are added to the epochs already "
        "in the log. Default: 10.",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        default=None,
        help="batches per epoch (default: one pass over the training images)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=16,
        help="global batch size: with --distribute each of the R replicas gets BATCH_SIZE / R "
        "images (BATCH_SIZE must be a multiple of R). Default: 16.",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=0.001,
        help="initial learning rate. Default: 0.001.",
    )
    parser.add_argument(
        "--output-dir", required=True, help="folder for the model files, log and checkpoints"
    )
    parser.add_argument(
        "--resume",
        metavar="PATH",
        help="continue training a saved .keras model (e.g. OUTPUT_DIR/model.keras or a "
        "checkpoint); the epoch count continues from OUTPUT_DIR/training_log.csv and the log is "
        "appended to. Without it a new model is built and an old log is replaced.",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="threads preparing batches. Default: 1."
    )
    parser.add_argument(
        "--seed", type=int, default=None, help="random seed for weights, shuffling, augmentation"
    )
    parser.add_argument(
        "--verbose",
        type=int,
        choices=(0, 1, 2),
        default=1,
        help="Keras progress output: 0 silent, 1 progress bar, 2 one line per epoch. Default: 1.",
    )
    _cli_train.add_distribute_options(parser)
    _add_common_options(parser)
    parser.set_defaults(handler=_run_train)


def _evaluate_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="Pascal VOC average precision of a saved model",
        description="Run a saved model over a dataset and print the average precision of "
        "every class and their mean (mAP).",
    )
    parser.add_argument("model", help="saved model (.keras or .h5)")
    _add_data_options(parser, ("",))
    parser.add_argument(
        "--n-classes",
        type=positive_int,
        default=None,
        help="number of positive classes (default: read from the model)",
    )
    parser.add_argument(
        "--ap-mode",
        choices=("sample", "integrate", "voc2010"),
        default="sample",
        help="'sample': VOC2007 11-point AP; 'voc2010': all-point AP; 'integrate': the original "
        "library's integration. Default: sample.",
    )
    parser.add_argument(
        "--iou-threshold",
        type=iou_threshold,
        default=0.5,
        help="IoU in (0, 1] a prediction needs with a ground truth box to count. Default: 0.5.",
    )
    parser.add_argument(
        "--confidence",
        type=confidence,
        default=0.01,
        help="minimum confidence in [0, 1] of a scored detection (training-mode models; an "
        "inference-mode model applies its own). Default: 0.01.",
    )
    parser.add_argument(
        "--batch-size", type=positive_int, default=8, help="batch size. Default: 8."
    )
    parser.add_argument("--output-csv", help="also write class,ap rows (and mAP) to this CSV file")
    _add_class_names_option(parser, "in the table and the CSV file instead of 'class K'")
    _add_common_options(parser)
    parser.set_defaults(handler=_run_evaluate)


def _predict_parser(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="draw detections on images",
        description="Detect objects on images; writes one PNG per image with the boxes drawn "
        "and detections.csv (image, class_id, confidence, xmin, ymin, xmax, ymax in pixels of "
        "the original image).",
    )
    parser.add_argument(
        "model",
        help="saved model (.keras or .h5), or a detector exported by 'ssd-keras export' (.onnx "
        "run by ONNX Runtime, .tflite run by LiteRT; neither Keras nor TensorFlow is imported)",
    )
    parser.add_argument(
        "images", nargs="+", help="image files or folders (.jpg, .jpeg, .png, .bmp files in them)"
    )
    parser.add_argument(
        "--confidence",
        type=confidence,
        default=0.5,
        help="minimum confidence in [0, 1] of a detection. Default: 0.5.",
    )
    parser.add_argument(
        "--iou-threshold",
        type=iou_threshold,
        default=None,
        help="NMS IoU threshold in (0, 1]. Default: the model's own (its decoding layer's; "
        "0.45 for a training-mode model). Not for exported detectors, whose threshold is fixed "
        "at export.",
    )
    parser.add_argument("--output-dir", required=True, help="folder for the PNGs and CSV")
    _add_class_names_option(parser, "as box captions instead of the class id")
    _add_common_options(parser)
    parser.set_defaults(handler=_run_predict)


def _demo_parser(subparsers: Any) -> None:
    from ssd_app import demo

    parser = subparsers.add_parser(
        "demo",
        help="generate the traffic data, train SSD7, evaluate, write one folder",
        description=demo.build_parser().description,
    )
    demo.add_arguments(parser)
    _add_common_options(parser)
    parser.set_defaults(handler=demo.run)


def _export_parser(subparsers: Any) -> None:
    from models.export import DEFAULTS, FORMATS, MODES, QUANTIZATIONS

    parser = subparsers.add_parser(
        "export",
        help="export a model with its decoding to SavedModel, ONNX or LiteRT",
        description="Write a SavedModel folder, an .onnx or a .tflite file that takes images "
        "(batch, H, W, 3) (float32 RGB, 0-255, the model's input size) and returns detections "
        "(batch, top_k, 6): [class_id, confidence, xmin, ymin, xmax, ymax] in pixels of the "
        "model input. A training-mode model gets the decoding layer appended, built from its "
        "own anchors; an inference-mode model keeps its own unless thresholds are given.",
    )
    parser.add_argument("model", help="saved model (.keras or .h5)")
    parser.add_argument("--format", choices=FORMATS, required=True, help="artefact format")
    parser.add_argument(
        "--output",
        required=True,
        help="destination: a folder (saved_model), a .onnx file (onnx) or a .tflite file "
        "(litert); an existing one is replaced only once the new one is complete",
    )
    parser.add_argument(
        "--confidence",
        type=confidence,
        default=None,
        help="minimum confidence in [0, 1] of a detection. Default: the model's decoding "
        f"layer's, {DEFAULTS['confidence_thresh']} for a training-mode model.",
    )
    parser.add_argument(
        "--iou-threshold",
        type=iou_threshold,
        default=None,
        help="NMS IoU threshold in (0, 1]. Default: the model's decoding layer's, "
        f"{DEFAULTS['iou_threshold']} for a training-mode model.",
    )
    parser.add_argument(
        "--top-k",
        type=positive_int,
        default=None,
        help="detections per image. Default: the model's decoding layer's, "
        f"{DEFAULTS['top_k']} for a training-mode model.",
    )
    parser.add_argument(
        "--nms-max-output-size",
        type=positive_int,
        default=None,
        help="boxes kept per class by the NMS. Default: the model's decoding layer's, "
        f"{DEFAULTS['nms_max_output_size']} for a training-mode model.",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default=None,
        help="decoding layer: 'inference' (one NMS per class) or 'inference_fast' (one NMS "
        "over the best class of each box). Default: the model's own, 'inference' for a "
        "training-mode model.",
    )
    parser.add_argument(
        "--quantize",
        choices=QUANTIZATIONS,
        default="none",
        help="litert only: 'dynamic_range' (int8 weights) or 'float16' (float16 weights). "
        "Default: none.",
    )
    _add_common_options(parser)
    parser.set_defaults(handler=_run_export)


def build_parser() -> argparse.ArgumentParser:
    """The `ssd-keras` argument parser with its subcommands."""
    parser = ArgumentParser(
        prog="ssd-keras",
        description="Train, evaluate and run SSD object detectors (Keras 3).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _train_parser(subparsers)
    _evaluate_parser(subparsers)
    _predict_parser(subparsers)
    _demo_parser(subparsers)
    _export_parser(subparsers)
    return parser


# ----------------------------------------------------------------------------------------------
# Subcommands


def _run_train(args: argparse.Namespace) -> int:
    from ssd_app._cli_train import run_train

    return run_train(args)


def _n_classes_of(model: Any, requested: int | None) -> int:
    found = model_n_classes(model)
    n_classes = requested if requested is not None else found
    if n_classes is None:
        raise setup.CliError("--n-classes is required: the model's class count cannot be read")
    if found is not None and found != n_classes:
        raise setup.CliError(f"the model has {found} classes, but --n-classes is {n_classes}")
    return n_classes


def _check_class_names(names: Sequence[str] | None, n_classes: int | None, model: str) -> None:
    """Raises `CliError` unless `names` (if given) has one name per class."""
    if names is not None and n_classes is not None and len(names) != n_classes:
        raise setup.CliError(
            f"--class-names gives {len(names)} names, but the model {model} has {n_classes} classes"
        )


def _run_evaluate(args: argparse.Namespace) -> int:
    from eval_utils.average_precision_evaluator import Evaluator
    from misc_utils.atomic_write import atomic_path
    from models.prediction import model_decoding

    setup.require_path(args.model, "model")
    _check_class_names(args.class_names, args.n_classes, args.model)
    dataset = setup.load_dataset(setup.data_source(args, args.labels), args.n_classes)
    if setup.count_boxes(dataset) == 0:
        raise setup.CliError(
            f"labels {args.labels} hold no ground-truth boxes ({len(dataset.filenames)} images): "
            "there is nothing to evaluate against"
        )
    if args.output_csv:
        setup.ensure_writable_dir(os.path.dirname(os.path.abspath(args.output_csv)))
    model = setup.load_model(args.model)
    n_classes = _n_classes_of(model, args.n_classes)
    _check_class_names(args.class_names, n_classes, args.model)
    setup.check_class_ids(dataset.labels, n_classes, args.labels)
    settings = model_decoding(model)
    height, width = settings.img_height, settings.img_width
    mode = settings.mode
    evaluator = Evaluator(
        setup.CheckedModel(model, args.model), n_classes, dataset, model_mode=mode
    )
    mean_ap, average_precisions = evaluator(
        img_height=height,
        img_width=width,
        batch_size=args.batch_size,
        matching_iou_threshold=args.iou_threshold,
        average_precision_mode=args.ap_mode,
        decoding_confidence_thresh=args.confidence,
        return_average_precisions=True,
        verbose=False,
    )
    names = args.class_names or [str(k) for k in range(1, n_classes + 1)]
    rows = [(names[k - 1], float(average_precisions[k])) for k in range(1, n_classes + 1)]
    rows.append(("mAP", float(mean_ap)))
    shown = [name if args.class_names or name == "mAP" else f"class {name}" for name, _ in rows]
    column = max(12, *(len(name) + 2 for name in shown))
    for name, (_, value) in zip(shown, rows, strict=True):
        print(f"{name:<{column}}{value:8.4f}")
    if args.output_csv:
        with atomic_path(args.output_csv) as temporary:
            with open(temporary, "w", newline="", encoding="utf-8") as file:
                writer = csv.writer(file)
                writer.writerow(("class", "ap"))
                writer.writerows((name, f"{value:.6f}") for name, value in rows)
    return 0


def image_paths(inputs: Sequence[str]) -> list[str]:
    """Image files named by `inputs`: files as given, folders expanded (sorted by name).

    A file named more than once (also through a folder) is listed once, where first named.

    Raises:
        CliError: For a path that does not exist or when no image is found.
    """
    paths, seen = [], set()
    for item in inputs:
        setup.require_path(item, "image")
        if os.path.isdir(item):
            names = sorted(n for n in os.listdir(item) if n.lower().endswith(IMAGE_SUFFIXES))
            found = [os.path.join(item, name) for name in names]
        else:
            found = [item]
        for path in found:
            key = os.path.normcase(os.path.realpath(path))
            if key not in seen:
                seen.add(key)
                paths.append(path)
    if not paths:
        raise setup.CliError(f"no images found in {', '.join(inputs)}")
    return paths


def drawing_names(paths: Sequence[str]) -> list[str]:
    """One distinct PNG file name per image path, in order: `<stem>.png`, or `<stem>_2.png`,
    `<stem>_3.png`... when an earlier image took the name (compared case-insensitively)."""
    names, taken = [], set()
    for path in paths:
        stem = os.path.splitext(os.path.basename(path))[0]
        name, count = f"{stem}.png", 1
        while name.lower() in taken:
            count += 1
            name = f"{stem}_{count}.png"
        taken.add(name.lower())
        names.append(name)
    return names


def draw_detections(image: np.ndarray, boxes: np.ndarray, names: Sequence[str] | None) -> Any:
    """A BGR copy of the RGB `image` with `boxes` (rows as `predict_detections`) drawn on it.

    Corners far outside the image are clipped to just beyond its border for drawing.
    """
    import cv2

    canvas = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    height, width = image.shape[:2]
    for box in boxes:
        k, conf, corners = int(box[CLASS_ID]), box[CONFIDENCE], box[BOX]
        xmin, xmax = (int(v) for v in np.clip(corners[0::2], -1, width))
        ymin, ymax = (int(v) for v in np.clip(corners[1::2], -1, height))
        color = tuple(int(c) for c in np.array([37, 91, 151]) * (k + 1) % 255)
        cv2.rectangle(canvas, (xmin, ymin), (xmax, ymax), color, 2)
        name = names[k - 1] if names and 0 < k <= len(names) else str(k)
        cv2.putText(
            canvas, f"{name} {conf:.2f}", (xmin, max(ymin - 4, 10)),
            cv2.FONT_HERSHEY_SIMPLEX, 0.45, color, 1, cv2.LINE_AA,
        )  # fmt: skip
    return canvas


def _detection_rows(image_name: str, boxes: np.ndarray) -> list[tuple]:
    """`detections.csv` rows of one image (columns `DETECTION_COLUMNS`); an image
    without detections gets one row with only its name."""
    if len(boxes) == 0:
        return [(image_name, *[""] * (len(DETECTION_COLUMNS) - 1))]
    return [
        (
            image_name,
            int(box[CLASS_ID]),
            round(float(box[CONFIDENCE]), 4),
            *(round(float(value), 4) for value in box[BOX]),
        )
        for box in boxes
    ]


def _read_rgb(path: str) -> np.ndarray | None:
    """The RGB image at `path`, or None (after a warning line on stderr) if it is unreadable."""
    from data_generator.dataset_errors import DatasetError
    from data_generator.image_io import read_image, to_three_channels

    try:
        return to_three_channels(read_image(path))
    except (DatasetError, OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        print(f"ssd-keras: warning: skipping {path}: {reason}", file=sys.stderr)
        return None


def _keras_detector(args: argparse.Namespace) -> Any:
    """`detect(images)` of a saved Keras model: `predict_detections` with the CLI thresholds."""
    from models.prediction import predict_detections

    model = setup.load_model(args.model)
    _check_class_names(args.class_names, model_n_classes(model), args.model)
    checked = setup.CheckedModel(model, args.model)

    def detect(images: list[np.ndarray]) -> list[np.ndarray]:
        return predict_detections(
            checked, images, confidence_thresh=args.confidence, iou_threshold=args.iou_threshold
        )

    return detect


def _exported_detector(args: argparse.Namespace) -> Any:
    """`detect(images)` of an exported `.onnx` / `.tflite` detector (no Keras, no TensorFlow)."""
    from ssd_app.light_predict import ExportedDetector, predict_exported

    if args.iou_threshold is not None:
        raise setup.CliError(
            f"--iou-threshold cannot be applied to the exported detector {args.model}: its NMS "
            "threshold was fixed at export (ssd-keras export --iou-threshold)"
        )
    setup.require_path(args.model, "model")
    try:
        detector = ExportedDetector(args.model)
    except Exception as error:  # our checks, or the runtime's own errors for a damaged file
        message = " ".join(str(error).split())[:300] or type(error).__name__
        raise setup.CliError(f"cannot load exported model {args.model}: {message}") from error

    def detect(images: list[np.ndarray]) -> list[np.ndarray]:
        return predict_exported(detector, images, confidence_thresh=args.confidence)

    return detect


def _run_predict(args: argparse.Namespace) -> int:
    import cv2

    from data_generator.image_io import read_image, to_three_channels
    from misc_utils.atomic_write import atomic_path
    from ssd_app.light_predict import is_exported_model

    paths = image_paths(args.images)
    if is_exported_model(args.model):
        detect = _exported_detector(args)
    else:
        detect = _keras_detector(args)
    results = []  # every image is detected before anything is written
    for start in range(0, len(paths), PREDICT_CHUNK):  # bounded memory for many large images
        chunk = [(path, _read_rgb(path)) for path in paths[start : start + PREDICT_CHUNK]]
        chunk = [(path, image) for path, image in chunk if image is not None]
        detections = detect([image for _, image in chunk]) if chunk else []
        results.extend(zip([path for path, _ in chunk], detections, strict=True))
    if not results:
        raise setup.CliError(f"none of the {len(paths)} images could be read")
    output_dir = setup.ensure_writable_dir(args.output_dir)
    drawings = drawing_names([path for path, _ in results])
    rows = []
    for (path, boxes), drawing in zip(results, drawings, strict=True):
        canvas = draw_detections(to_three_channels(read_image(path)), boxes, args.class_names)
        out_path = os.path.join(output_dir, drawing)
        with atomic_path(out_path, keep_extension=True) as temporary:
            if not cv2.imwrite(temporary, canvas):
                raise setup.CliError(f"cannot write {out_path}")
        rows.extend(_detection_rows(path, boxes))
        print(f"{path}: {len(boxes)} detections -> {out_path}")
    with atomic_path(os.path.join(output_dir, "detections.csv")) as temporary:
        with open(temporary, "w", newline="", encoding="utf-8") as file:
            writer = csv.writer(file)
            writer.writerow(DETECTION_COLUMNS)
            writer.writerows(rows)
    return 0


# ----------------------------------------------------------------------------------------------
# Entry point


def _error_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return f"ssd-keras: error: {text}"


def _run_export(args: argparse.Namespace) -> int:
    from models.export import check_backend, check_export_arguments, export_model

    setup.require_path(args.model, "model")
    output = os.path.abspath(args.output)
    setup.ensure_writable_dir(os.path.dirname(output))
    check_export_arguments(args.format, output, args.quantize)
    check_backend(args.format)  # before loading, which can take a while
    model = setup.load_model(args.model)
    try:
        written = export_model(
            model,
            args.format,
            output,
            confidence_thresh=args.confidence,
            iou_threshold=args.iou_threshold,
            top_k=args.top_k,
            nms_max_output_size=args.nms_max_output_size,
            mode=args.mode,
            quantize=args.quantize,
        )
    except (ValueError, OSError):
        raise
    except Exception as error:  # a converter's own failure; nothing was left at --output
        message = " ".join(str(error).split())[:300] or type(error).__name__
        raise setup.CliError(
            f"export of {args.model} to {args.format} failed: {message}"
        ) from error
    print(f"{args.model} -> {written} ({args.format})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the command line `argv` (default `sys.argv[1:]`) and returns the exit code.

    Bad arguments, and bad input (`ssd_app._cli_setup.CliError`, the data generator's
    `DatasetError` family, `ValueError`, `OSError`), print one `ssd-keras: error: ...` line
    on stderr and give exit code 2; with `--debug` the traceback is printed as well. Arguments,
    paths and label files are checked before Keras is imported, and its backend's start-up log
    lines are hidden (`ssd_app._cli_setup.import_keras`).
    """
    from data_generator.dataset_errors import DatasetError

    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except (setup.CliError, DatasetError, ValueError, OSError) as error:
        if args.debug:
            traceback.print_exc()
        print(_error_line(error), file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
