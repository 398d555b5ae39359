"""Files the demo writes besides the models: loss plot, prediction images, AP table, summary."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from ssd_encoder_decoder.output_layout import BOX, CLASS_ID, CONFIDENCE, ROW_WIDTH

GT_COLOR = "#00c000"


def plot_training_log(log_path: str, out_file: str) -> None:
    """Saves the loss (and `val_loss` when logged) per epoch of a `CSVLogger` file as a PNG.

    Args:
        log_path: The `CSVLogger` file (columns `epoch`, `loss`, optionally `val_loss`
            and `learning_rate`).
        out_file: Where to save the figure.
    """
    import pandas as pd

    log = pd.read_csv(log_path)
    figure = Figure(figsize=(9, 5))
    ax = figure.subplots()
    epochs = log["epoch"] + 1
    ax.plot(epochs, log["loss"], "o-", label="training loss")
    if "val_loss" in log:
        ax.plot(epochs, log["val_loss"], "o-", label="validation loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("SSD loss (log scale)")
    ax.set_yscale("log")
    ax.grid(True, which="both")
    ax.legend(loc="upper right")
    if "learning_rate" in log:
        lr_ax = ax.twinx()
        lr_ax.plot(epochs, log["learning_rate"], ":", color="gray", label="learning rate")
        lr_ax.set_ylabel("learning rate (dotted)")
        lr_ax.set_ylim(bottom=0)
    figure.tight_layout()
    figure.savefig(out_file, dpi=90)


def _draw_boxes(
    ax, class_ids, corners, confidences, classes: Sequence[str], colors, predicted: bool
) -> None:
    """Draws boxes `corners` `(n, 4)` (xmin, ymin, xmax, ymax, pixels); labels show the class
    name, and the confidence for predictions."""
    for class_id, corner, confidence in zip(class_ids, corners, confidences, strict=True):
        class_id = int(class_id)
        xmin, ymin, xmax, ymax = (float(v) for v in corner)
        color = colors[class_id] if predicted else GT_COLOR
        style = "-" if predicted else "--"
        linewidth = 1.6 if predicted else 1.2
        ax.add_patch(_rectangle(xmin, ymin, xmax - xmin, ymax - ymin, color, style, linewidth))
        name = classes[class_id] if class_id < len(classes) else str(class_id)
        text = f"{name} {confidence:.2f}" if predicted else name
        ax.text(
            xmin,
            ymin - 2 if predicted else ymax + 9,
            text,
            fontsize=6,
            color="white",
            bbox={"facecolor": color, "alpha": 0.8, "pad": 0.5, "linewidth": 0},
            clip_on=True,
        )


def _rectangle(x, y, width, height, color, style, linewidth):
    from matplotlib.patches import Rectangle

    return Rectangle(
        (x, y), width, height, fill=False, edgecolor=color, linestyle=style, linewidth=linewidth
    )


def save_prediction_image(
    image: np.ndarray,
    ground_truth: np.ndarray,
    predictions: np.ndarray,
    classes: Sequence[str],
    out_file: str,
    title: str = "",
) -> None:
    """Saves one image with its ground truth (green, dashed) and predicted boxes (solid) as PNG.

    Args:
        image: `(H, W, 3)` uint8 RGB image.
        ground_truth: `(k, 5)` rows `(class_id, xmin, ymin, xmax, ymax)`, corners in pixels.
        predictions: `(m, 6)` rows `(class_id, confidence, xmin, ymin, xmax, ymax)`, corners
            in pixels.
        classes: Class names indexed by class id (element 0 = background).
        out_file: Where to save the PNG.
        title: Figure title.
    """
    import matplotlib

    height, width = image.shape[:2]
    figure = Figure(figsize=(width / 60, height / 60 + 0.4))
    ax = figure.subplots()
    ax.imshow(image)
    colors = matplotlib.colormaps["tab10"](np.arange(len(classes)) % 10)
    truth = np.asarray(ground_truth).reshape(-1, 5)  # the demo's label layout, see above
    rows = np.asarray(predictions).reshape(-1, ROW_WIDTH)
    _draw_boxes(ax, truth[:, 0], truth[:, 1:], [None] * len(truth), classes, colors, False)
    _draw_boxes(ax, rows[:, CLASS_ID], rows[:, BOX], rows[:, CONFIDENCE], classes, colors, True)
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    ax.set_title(title or "ground truth: green dashed, predictions: solid", fontsize=8)
    figure.tight_layout(pad=0.2)
    figure.savefig(out_file, dpi=100)


def write_average_precisions(
    path: str,
    average_precisions: Sequence[float],
    mean_average_precision: float,
    num_gt_per_class: Sequence[int],
    classes: Sequence[str],
) -> list[tuple]:
    """Writes `class_id,class,n_ground_truth,average_precision` rows plus a `mAP` row.

    Returns:
        The rows written, without the header.
    """
    rows = [
        (class_id, classes[class_id], int(num_gt_per_class[class_id]), average_precisions[class_id])
        for class_id in range(1, len(average_precisions))
    ]
    rows.append(("", "mAP", int(sum(r[2] for r in rows)), mean_average_precision))
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(("class_id", "class", "n_ground_truth", "average_precision"))
        writer.writerows((*row[:3], f"{float(row[3]):.4f}") for row in rows)
    return rows


def format_average_precisions(rows: Sequence[tuple]) -> str:
    """The rows of `write_average_precisions` as an aligned text table."""
    lines = [f"{'class':<15}{'boxes':>7}{'AP':>8}"]
    lines += [f"{name:<15}{n:>7}{float(ap):>8.3f}" for _, name, n, ap in rows]
    return "\n".join(lines)


def write_summary(path: str, summary: dict) -> None:
    """Writes the run's summary (settings, timings, results) as indented JSON."""
    with open(path, "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2, sort_keys=False)
        file.write("\n")
