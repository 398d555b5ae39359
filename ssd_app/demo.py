"""The main job: generate the road-traffic data, train SSD7, evaluate it, write one output folder.

`make demo` runs `python -m ssd_app.demo`; `ssd-keras demo` is the same command. Steps:

1. Write the synthetic road-traffic dataset (`data_generator.synthetic_traffic`) into
   `OUTPUT_DIR/data` unless the same dataset (same seed and sizes) is already there.
2. Build SSD7 with the SSD7 tutorial's configuration (300x480 input, 5 classes, its anchors,
   `l2_regularization=0.0005`, `SSDLoss(neg_pos_ratio=3, alpha=1.0)`, Adam) and train it with
   the tutorial's `SSDInputEncoder` (and, on request, its augmentation chain) for a budget of
   wall-clock minutes (`--minutes`) or a fixed number of epochs (`--epochs`), with a warm-up
   + cosine learning rate fitted to the budget
   (`ssd_app.training_budget.TrainingBudget`).
3. Evaluate on the validation split: Pascal VOC average precision per class and the mean
   (11-point, IoU 0.5), predictions decoded in the graph by an inference-mode model.
4. Write into `OUTPUT_DIR`: `ssd7.keras` and `ssd7.h5` (training-mode model, float32),
   `training_log.csv`, `loss.png`, `average_precisions.csv`, `precision_recall.png`,
   `predictions/*.png` (ground truth and predicted boxes) and `summary.json`.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

from models.prediction import predict_detections
from models.presets import SSD7_ROAD_TRAFFIC
from ssd_app import _cli_setup as setup
from ssd_app import _demo_report as report
from ssd_app._common import positive_float, positive_int

N_CLASSES = 5  # car, truck, pedestrian, bicyclist, traffic light
DEFAULT_MINUTES = 17.0  # with setup, data and evaluation: 18.3 minutes measured on 2 cores
STEPS_PER_EPOCH = 100
DEFAULT_LEARNING_RATE = 0.005  # peak of the warm-up + cosine schedule at batch 8 (see README)
PRECISIONS = ("auto", "float32", "mixed_bfloat16")
AUGMENTATIONS = ("none", "tutorial")
SCHEDULES = ("cosine", "constant")
_DATASET_STAMP = "dataset.json"


# ----------------------------------------------------------------------------------------------
# Arguments


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the demo's options to `parser`."""
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--minutes",
        type=positive_float,
        default=None,
        help=f"training budget in wall-clock minutes (validation included); the learning-rate "
        f"schedule is fitted to it, so training ends on time on any machine. "
        f"Default: {DEFAULT_MINUTES:g}.",
    )
    budget.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help="train a fixed number of epochs of --steps-per-epoch batches instead of a time "
        "budget (reproducible: the schedule depends on steps only)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        default=STEPS_PER_EPOCH,
        help=f"batches per logged epoch. Default: {STEPS_PER_EPOCH}.",
    )
    parser.add_argument(
        "--output-dir", default="demo_output", help="folder for everything. Default: demo_output."
    )
    parser.add_argument(
        "--data-dir",
        default=None,
        help="where the generated dataset goes (reused if already there). "
        "Default: OUTPUT_DIR/data.",
    )
    parser.add_argument(
        "--n-train", type=positive_int, default=3000, help="training images. Default: 3000."
    )
    parser.add_argument(
        "--n-val", type=positive_int, default=500, help="validation images. Default: 500."
    )
    parser.add_argument("--seed", type=int, default=0, help="dataset and training seed.")
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        default=8,
        help="images per step; on CPU the images per second hardly depend on it, so smaller "
        "batches give more optimizer steps for the same minutes. Default: 8.",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        default=DEFAULT_LEARNING_RATE,
        help="peak learning rate of the warm-up + cosine schedule (Adam). "
        f"Default: {DEFAULT_LEARNING_RATE:g}.",
    )
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default="cosine",
        help="cosine: the learning rate rises over the first 3%% of the budget, then falls along "
        "a half cosine to 1%% of the peak when the budget ends; constant: the tutorial's fixed "
        "rate. Default: cosine.",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="training precision: float32, or mixed_bfloat16 (bfloat16 computations, float32 "
        "weights); auto picks mixed_bfloat16 on CPUs with AVX512-BF16 or AMX. The saved "
        "models are float32 either way. Default: auto.",
    )
    parser.add_argument(
        "--augmentation",
        choices=AUGMENTATIONS,
        default="none",
        help="none: the images as they are; tutorial: the SSD7 tutorial's chain (photometric "
        "changes, flips, translation, scaling), 2%% slower; meant for long runs, where "
        "the validation loss flattens without it. Default: none.",
    )
    parser.add_argument(
        "--jit-compile",
        action="store_true",
        help="compile the training step with XLA (slower for SSD7 on the CPUs measured)",
    )
    parser.add_argument(
        "--val-loss-images",
        type=positive_int,
        default=96,
        help="validation images used for the per-epoch validation loss. Default: 96.",
    )
    parser.add_argument(
        "--n-predictions",
        type=int,
        default=6,
        help="validation images drawn with their predictions. Default: 6.",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="processes generating the dataset. Default: every core.",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `python -m ssd_app.demo`."""
    parser = argparse.ArgumentParser(
        prog="python -m ssd_app.demo",
        description="Generate the road-traffic dataset, train SSD7 on it, evaluate it on the "
        "validation split and write models, log, plots and prediction images to one folder.",
    )
    add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show tracebacks of errors")
    return parser


# ----------------------------------------------------------------------------------------------
# Steps


def _stage(title: str, start: float) -> None:
    print(f"\n== {title}  [{time.perf_counter() - start:6.1f} s]", flush=True)


def prepare_dataset(
    data_dir: str, n_train: int, n_val: int, seed: int, workers: int | None
) -> dict:
    """Generates the dataset into `data_dir` unless the same one is already there.

    Returns:
        The dict returned by `generate_dataset` (also stored as `data_dir/dataset.json`).
    """
    from data_generator.synthetic_traffic import generate_dataset

    stamp_path = os.path.join(data_dir, _DATASET_STAMP)
    wanted = {"seed": seed, "n_train": n_train, "n_val": n_val}
    if os.path.exists(stamp_path):
        with open(stamp_path, encoding="utf-8") as file:
            stamp = json.load(file)
        if stamp.get("request") == wanted and all(
            os.path.exists(stamp["result"][f"labels_{split}"]) for split in ("train", "val")
        ):
            print(f"Reusing the dataset in {data_dir}")
            return stamp["result"]
        os.remove(stamp_path)
    result = generate_dataset(data_dir, n_train=n_train, n_val=n_val, seed=seed, workers=workers)
    with open(stamp_path, "w", encoding="utf-8") as file:
        json.dump({"request": wanted, "result": result}, file, indent=2)
    return result


def cpu_has_bfloat16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX-BF16; Linux only)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as file:
            flags = file.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str) -> str:
    """`'float32'` or `'mixed_bfloat16'` for the `--precision` choice."""
    if precision == "auto":
        return "mixed_bfloat16" if cpu_has_bfloat16() else "float32"
    return precision


def load_split(data: dict, split: str, n_classes: int) -> Any:
    """The `DataGenerator` of one split of the generated dataset."""
    source = setup.DataSource(
        data_format="csv", images_dir=data["images_dir"], labels=data[f"labels_{split}"]
    )
    return setup.load_dataset(source, n_classes)


def training_inputs(
    args: argparse.Namespace, model: Any, train_set: Any, val_set: Any
) -> tuple[Any, Any]:
    """The training `PyDataset` (augmented, encoded) and the validation-loss `PyDataset`."""
    from ssd_app._cli_train import augmentation_chain, encoded_datasets, input_encoder

    preset = SSD7_ROAD_TRAFFIC
    return encoded_datasets(
        preset,
        input_encoder(preset, model),
        train_set,
        _first_images(val_set, args.val_loss_images),
        batch_size=args.batch_size,
        transformations=[augmentation_chain(preset)] if args.augmentation == "tutorial" else [],
        seed=args.seed,
        repeat=True,  # logged epochs are --steps-per-epoch batches, not passes over the images
    )


def _first_images(dataset: Any, count: int) -> Any:
    """A `DataGenerator` over the first `count` images of `dataset`."""
    from data_generator.object_detection_2d_data_generator import DataGenerator

    count = min(count, dataset.get_dataset_size())
    return DataGenerator(
        filenames=list(dataset.filenames[:count]),
        labels=list(dataset.labels[:count]),
        image_ids=list(dataset.image_ids[:count]),
        verbose=False,
    )


def budget_callback(args: argparse.Namespace) -> tuple[int, Any]:
    """The `epochs` to pass to `fit` and the `TrainingBudget` for the arguments."""
    from ssd_app.training_budget import TrainingBudget

    shape = {"warmup_fraction": 0.0, "final_fraction": 1.0} if args.schedule == "constant" else {}
    if args.epochs is not None:
        steps = args.epochs * args.steps_per_epoch
        return args.epochs, TrainingBudget(
            args.learning_rate, total_steps=steps, verbose=True, **shape
        )
    minutes = args.minutes if args.minutes is not None else DEFAULT_MINUTES
    budget = TrainingBudget(args.learning_rate, seconds=60.0 * minutes, verbose=True, **shape)
    return 10**6, budget  # an open-ended epoch count: the budget stops training


def check_finite_loss(losses: Sequence[float], steps: int) -> None:
    """Raises `CliError` if training ended on a NaN or infinite loss.

    Then nothing is saved or evaluated: a diverged model must not look like a result.
    """
    if losses and not math.isfinite(float(losses[-1])):
        raise setup.CliError(
            f"training diverged: the loss became {losses[-1]} within {steps} steps; nothing "
            "was saved. Try a lower --learning-rate."
        )


def train(
    args: argparse.Namespace, train_set: Any, val_set: Any, output_dir: str
) -> tuple[Any, dict]:
    """Builds and trains SSD7; returns the trained model and facts about the run."""
    import keras

    from ssd_app._cli_train import LOG_NAME, build_model
    from ssd_app.training_budget import BudgetProgbarLogger

    precision = resolve_precision(args.precision)
    keras.utils.set_random_seed(args.seed)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = build_model(SSD7_ROAD_TRAFFIC, N_CLASSES, args.learning_rate)
        model.compile(optimizer=model.optimizer, loss=model.loss, jit_compile=args.jit_compile)
        train_data, val_data = training_inputs(args, model, train_set, val_set)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    epochs, budget = budget_callback(args)
    log_path = os.path.join(output_dir, LOG_NAME)
    if os.path.exists(log_path):
        os.remove(log_path)
    callbacks = [
        BudgetProgbarLogger(budget),  # "Epoch 3: 12% spent", not "Epoch 3/1000000"
        budget,
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.CSVLogger(log_path),
    ]
    start = time.perf_counter()
    history = model.fit(
        train_data,
        steps_per_epoch=args.steps_per_epoch,
        epochs=epochs,
        validation_data=val_data,
        callbacks=callbacks,
        shuffle=False,  # the dataset shuffles itself, every pass
        verbose=1 if sys.stdout.isatty() else 2,
    )
    seconds = time.perf_counter() - start
    check_finite_loss(history.history.get("loss", []), budget.steps_done)
    images = budget.steps_done * args.batch_size
    facts = {
        "precision": precision,
        "jit_compile": bool(args.jit_compile),
        "batch_size": args.batch_size,
        "augmentation": args.augmentation,
        "schedule": args.schedule,
        "peak_learning_rate": args.learning_rate,
        "budget": budget.describe(),
        "epochs": len(history.history.get("loss", [])),
        "steps": budget.steps_done,
        "images_seen": images,
        "passes_over_training_set": round(images / len(train_set.filenames), 2),
        "training_seconds": round(seconds, 1),
        "training_images_per_second": round(images / seconds, 2),
        "final_loss": _last(history.history.get("loss")),
        "final_val_loss": _last(history.history.get("val_loss")),
    }
    return model, facts


def _last(values: Sequence[float] | None) -> float | None:
    return round(float(values[-1]), 4) if values else None


def float32_models(trained: Any) -> tuple[Any, Any]:
    """A float32 training-mode copy of `trained` (weights and optimizer state) and an
    inference-mode model with its weights.

    The inference model decodes in the graph (confidence 0.01, NMS IoU 0.45, top 200), as the
    evaluation uses it.
    """
    import keras

    from ssd_app._cli_train import build_model

    export = build_model(SSD7_ROAD_TRAFFIC, N_CLASSES, float(trained.optimizer.learning_rate))
    export.set_weights(trained.get_weights())
    # Carry the optimizer state over too, so that the saved model resumes training seamlessly.
    export.optimizer.build(export.trainable_variables)
    for target, source in zip(export.optimizer.variables, trained.optimizer.variables, strict=True):
        target.assign(keras.ops.cast(source, target.dtype))
    inference = SSD7_ROAD_TRAFFIC.build_model(
        mode="inference",
        n_classes=N_CLASSES,
        confidence_thresh=0.01,
        iou_threshold=0.45,
        top_k=200,
    )
    inference.set_weights(trained.get_weights())
    return export, inference


def evaluate(inference_model: Any, val_set: Any, output_dir: str) -> dict:
    """Pascal VOC AP per class and mAP on `val_set`; writes the CSV table and the PR plot."""
    from data_generator.synthetic_traffic import CLASS_NAMES
    from eval_utils.average_precision_evaluator import Evaluator
    from eval_utils.plots import plot_precision_recall_curves

    evaluator = Evaluator(inference_model, N_CLASSES, val_set, model_mode="inference")
    mean_ap, average_precisions, precisions, recalls = evaluator(
        img_height=SSD7_ROAD_TRAFFIC.img_height,
        img_width=SSD7_ROAD_TRAFFIC.img_width,
        batch_size=16,
        matching_iou_threshold=0.5,
        average_precision_mode="sample",
        num_recall_points=11,
        return_precisions=True,
        return_recalls=True,
        return_average_precisions=True,
        verbose=False,
    )
    rows = report.write_average_precisions(
        os.path.join(output_dir, "average_precisions.csv"),
        average_precisions,
        mean_ap,
        evaluator.num_gt_per_class,
        CLASS_NAMES,
    )
    print(report.format_average_precisions(rows))
    plot_precision_recall_curves(
        precisions,
        recalls,
        average_precisions,
        classes=CLASS_NAMES,
        out_file=os.path.join(output_dir, "precision_recall.png"),
    )
    return {
        "mAP": float(mean_ap),
        "average_precisions": {
            CLASS_NAMES[i]: float(average_precisions[i]) for i in range(1, N_CLASSES + 1)
        },
    }


def draw_predictions(inference_model: Any, val_set: Any, count: int, output_dir: str) -> list:
    """Saves `predictions/<image>.png` for the first `count` validation images."""
    from data_generator.image_io import read_image, to_three_channels
    from data_generator.synthetic_traffic import CLASS_NAMES

    folder = os.path.join(output_dir, "predictions")
    os.makedirs(folder, exist_ok=True)
    written = []
    paths, labels_list = val_set.filenames[:count], val_set.labels[:count]
    images = [to_three_channels(read_image(path)) for path in paths]
    detections = predict_detections(inference_model, images, confidence_thresh=0.5)
    for path, labels, image, boxes in zip(paths, labels_list, images, detections, strict=True):
        name = os.path.splitext(os.path.basename(path))[0] + ".png"
        out_file = os.path.join(folder, name)
        report.save_prediction_image(
            image,
            labels,
            boxes,
            CLASS_NAMES,
            out_file,
            title=f"{os.path.basename(path)}: ground truth green dashed, "
            f"{len(boxes)} predictions (confidence >= 0.5) solid",
        )
        written.append(out_file)
    return written


# ----------------------------------------------------------------------------------------------
# Entry points


def run(args: argparse.Namespace) -> int:
    """Runs the whole demo for parsed arguments; returns the exit code."""
    start = time.perf_counter()
    output_dir = setup.ensure_writable_dir(args.output_dir)
    data_dir = args.data_dir or os.path.join(output_dir, "data")
    setup.ensure_writable_dir(data_dir)
    summary: dict = {"output_dir": os.path.abspath(output_dir)}

    _stage(f"1/4 Dataset: {args.n_train} training + {args.n_val} validation images", start)
    data = prepare_dataset(data_dir, args.n_train, args.n_val, args.seed, args.workers)
    summary["dataset_seconds"] = round(time.perf_counter() - start, 1)

    _stage("2/4 Training SSD7", start)
    keras = setup.import_keras()  # imported late: TensorFlow takes seconds to load

    train_set = load_split(data, "train", N_CLASSES)
    val_set = load_split(data, "val", N_CLASSES)
    trained, summary["training"] = train(args, train_set, val_set, output_dir)
    log_path = os.path.join(output_dir, "training_log.csv")
    report.plot_training_log(log_path, os.path.join(output_dir, "loss.png"))
    export, inference = float32_models(trained)
    setup.save_model(export, os.path.join(output_dir, "ssd7.keras"))
    setup.save_model(export, os.path.join(output_dir, "ssd7.h5"))

    _stage("3/4 Evaluating on the validation split (Pascal VOC 11-point AP, IoU 0.5)", start)
    eval_start = time.perf_counter()
    summary["evaluation"] = evaluate(inference, val_set, output_dir)
    summary["evaluation"]["seconds"] = round(time.perf_counter() - eval_start, 1)

    _stage("4/4 Drawing predictions", start)
    draw_predictions(inference, val_set, args.n_predictions, output_dir)
    summary["keras_version"] = keras.__version__
    summary["total_seconds"] = round(time.perf_counter() - start, 1)
    report.write_summary(os.path.join(output_dir, "summary.json"), summary)
    evaluation = summary["evaluation"]
    print(
        f"\nDone in {summary['total_seconds'] / 60:.1f} min: mAP {evaluation['mAP']:.3f}, "
        f"car AP {evaluation['average_precisions']['car']:.3f}. Everything is in "
        f"{os.path.abspath(output_dir)}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Command line `python -m ssd_app.demo`; bad input gives one error line and exit 2."""
    from data_generator.dataset_errors import DatasetError

    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (setup.CliError, DatasetError, ValueError, OSError) as error:
        if args.debug:
            raise
        text = " ".join(str(error).split()) or type(error).__name__
        print(f"demo: error: {text}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
