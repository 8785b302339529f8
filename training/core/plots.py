"""Figures of the evaluation report.

Built on ``matplotlib.figure.Figure`` (rendered by the Agg canvas), not pyplot:
no global figure state and no display needed, so it is safe in Celery workers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.metrics import precision_recall_curve

from emotic.taxonomy import CATEGORY_NAMES
from training.core.metrics import precision_equals_recall_index


def plot_loss_curves(history: list[dict[str, Any]], path: str | Path) -> None:
    """Training and validation loss per epoch, with validation mAP on a second axis."""
    figure = Figure(figsize=(7, 4), layout="constrained")
    axes = figure.add_subplot()
    if history:
        epochs = [record["epoch"] for record in history]
        axes.plot(epochs, [record["train_loss"] for record in history], marker="o", label="train loss")
        axes.plot(epochs, [record["val_loss"] for record in history], marker="o", label="validation loss")
        map_axes = axes.twinx()
        map_axes.plot(epochs, [record["val_map"] for record in history], marker="s", color="tab:green",
                      label="validation mAP")
        map_axes.set_ylabel("mAP")
        map_axes.legend(loc="upper right")
        axes.legend(loc="upper left")
    else:
        axes.text(0.5, 0.5, "no training history in this checkpoint", ha="center", va="center")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("epoch")
    axes.set_ylabel("loss")
    axes.set_title("Loss curves")
    figure.savefig(path, dpi=100)


def plot_average_precision(
    average_precision: dict[str, float | None], mean_average_precision: float, split: str, path: str | Path
) -> None:
    """One bar per category; categories without positives are marked n/a."""
    figure = Figure(figsize=(10, 4.5), layout="constrained")
    axes = figure.add_subplot()
    names = list(CATEGORY_NAMES)
    values = [average_precision[name] if average_precision[name] is not None else 0.0 for name in names]
    bars = axes.bar(range(len(names)), values, color="tab:blue")
    for bar, name in zip(bars, names):
        if average_precision[name] is None:
            axes.text(bar.get_x() + bar.get_width() / 2, 0.01, "n/a", ha="center", va="bottom", fontsize=7,
                      rotation=90)
    axes.axhline(mean_average_precision, color="tab:red", linestyle="--", label=f"mAP {mean_average_precision:.3f}")
    axes.set_xticks(range(len(names)), names, rotation=70, ha="right", fontsize=8)
    axes.set_ylim(0, 1)
    axes.set_ylabel("average precision")
    axes.set_title(f"Average precision per category ({split})")
    axes.legend()
    figure.savefig(path, dpi=100)


def plot_precision_recall(labels: np.ndarray, scores: np.ndarray, path: str | Path) -> None:
    """Small multiples: one precision-recall curve per category, with its P=R point."""
    columns = 5
    rows = -(-len(CATEGORY_NAMES) // columns)
    figure = Figure(figsize=(3 * columns, 2.3 * rows))
    grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    for index, axes in enumerate(grid.flat):
        if index >= len(CATEGORY_NAMES):
            axes.set_visible(False)
            grid.flat[index - columns].xaxis.set_tick_params(labelbottom=True)  # the cell above ends its column
            grid.flat[index - columns].set_xlabel("recall")
            continue
        axes.set_title(CATEGORY_NAMES[index], fontsize=9)
        if labels[:, index].sum() == 0:
            axes.text(0.5, 0.5, "no positives", ha="center", va="center", fontsize=8)
            continue
        precision, recall, _ = precision_recall_curve(labels[:, index], scores[:, index])
        axes.plot(recall, precision, linewidth=1)
        crossing = precision_equals_recall_index(precision, recall)
        axes.plot(recall[crossing], precision[crossing], "o", color="tab:red", markersize=3)
    for axes in grid[-1]:
        axes.set_xlabel("recall")
    for axes in grid[:, 0]:
        axes.set_ylabel("precision")
    figure.suptitle("Precision-recall per category (red dot: precision = recall)")
    # Fixed margins: a constrained layout over 30 axes takes seconds.
    figure.subplots_adjust(left=0.05, right=0.98, bottom=0.05, top=0.94, wspace=0.12, hspace=0.35)
    figure.savefig(path, dpi=80)
