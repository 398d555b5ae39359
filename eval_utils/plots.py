"""Precision-recall plots of an evaluation (matplotlib, no pyplot state)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

_TICKS = np.linspace(0, 1, 11)


def plot_precision_recall_curves(
    precisions: Sequence[np.ndarray],
    recalls: Sequence[np.ndarray],
    average_precisions: Sequence[float],
    classes: Sequence[str] | None = None,
    out_file: str | None = None,
) -> Figure:
    """One recall-precision subplot per positive class, two per row, titled with the AP.

    Args:
        precisions: Per class id `0..n` the cumulative precisions (element 0 ignored).
        recalls: Per class id the cumulative recalls (element 0 ignored).
        average_precisions: Per class id the average precision (element 0 ignored).
        classes: Class names indexed by class id (element 0 = background); the ids if None.
        out_file: If given, the figure is saved there (format from the extension).

    Returns:
        The figure: `max((n + 1) // 2, 2)` rows of 2 axes, 8 inches high each; axes beyond
        the last class are hidden. Show it in a notebook with `IPython.display.display`.

    Raises:
        ValueError: If the three sequences differ in length or `classes` is too short.
    """
    n_classes = len(average_precisions) - 1
    if not len(precisions) == len(recalls) == n_classes + 1:
        raise ValueError(
            f"`precisions` ({len(precisions)}), `recalls` ({len(recalls)}) and "
            f"`average_precisions` ({n_classes + 1}) must have one entry per class id."
        )
    if classes is not None and len(classes) < n_classes + 1:
        raise ValueError(
            f"`classes` needs {n_classes + 1} names (background first), got {len(classes)}."
        )
    n_rows = max((n_classes + 1) // 2, 2)
    figure = Figure(figsize=(16, 8 * n_rows))
    axes = figure.subplots(n_rows, 2).reshape(-1)
    for class_id, ax in enumerate(axes, start=1):
        if class_id > n_classes:
            ax.set_visible(False)
            continue
        name = str(class_id) if classes is None else classes[class_id]
        ax.plot(recalls[class_id], precisions[class_id], color="blue", linewidth=1.0)
        ax.set_xlabel("recall", fontsize=14)
        ax.set_ylabel("precision", fontsize=14)
        ax.grid(True)
        ax.set_xticks(_TICKS)
        ax.set_yticks(_TICKS)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(0.0, 1.0)
        ax.set_title(f"{name}, AP: {average_precisions[class_id]:.3f}", fontsize=16)
    if out_file is not None:
        figure.savefig(out_file)
    return figure
