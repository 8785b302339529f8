"""Evaluating a checkpoint on a snapshot split: predictions, metrics, report.json and figures.

The metrics and their conventions (mAP over categories with positives, the
precision = recall thresholds) are in ``training.core.metrics``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from emotic.taxonomy import CATEGORY_NAMES, VAD_DIMENSIONS
from training.core.checkpoint import HISTORY_FILE, load_checkpoint, model_from_checkpoint, write_text_atomically
from training.core.data import make_loader, open_split, vad_to_scale
from training.core.devices import autocast_context, resolve_device
from training.core.losses import EmoticLoss
from training.core.metrics import (
    average_precision_per_category,
    mean_average_precision,
    thresholds_where_precision_equals_recall,
    vad_mean_absolute_error,
)
from training.core.model import EmoticNet
from training.core.plots import plot_average_precision, plot_loss_curves, plot_precision_recall


@torch.no_grad()
def predict_arrays(
    model: EmoticNet,
    loader: DataLoader,
    device: torch.device,
    mixed_precision: bool = False,
    loss: EmoticLoss | None = None,
) -> dict[str, Any]:
    """Run the model over a loader: category scores, VAD on 1-10, the labels, and the mean batch loss."""
    model.eval()
    scores, vad, category_labels, vad_labels, losses = [], [], [], [], []
    for batch in loader:
        inputs = {stream: batch[stream].to(device, non_blocking=True) for stream in model.streams}
        with autocast_context(device, mixed_precision):
            batch_scores, batch_vad = model(**inputs)
        if loss is not None:
            parts = loss(batch_scores, batch_vad, batch["categories"].to(device), batch["vad"].to(device))
            losses.append(parts.total.item())
        scores.append(batch_scores.float().cpu().numpy())
        vad.append(batch_vad.float().cpu().numpy())
        category_labels.append(batch["categories"].numpy())
        vad_labels.append(batch["vad"].numpy())
    return {
        "scores": np.concatenate(scores).astype(np.float64),
        "vad": vad_to_scale(np.concatenate(vad)),
        "category_labels": np.concatenate(category_labels),
        "vad_labels": vad_to_scale(np.concatenate(vad_labels)),
        "loss": float(np.mean(losses)) if losses else None,
    }


def summarise(predictions: dict[str, np.ndarray]) -> dict[str, Any]:
    """The metrics of one split as a JSON-ready dict."""
    average_precisions = average_precision_per_category(predictions["category_labels"], predictions["scores"])
    vad_errors = vad_mean_absolute_error(predictions["vad_labels"], predictions["vad"])
    thresholds = thresholds_where_precision_equals_recall(predictions["category_labels"], predictions["scores"])
    return {
        "samples": int(len(predictions["scores"])),
        "mean_average_precision": mean_average_precision(average_precisions),
        "average_precision": {name: _finite_or_none(ap) for name, ap in zip(CATEGORY_NAMES, average_precisions)},
        "positives": {name: int(n) for name, n in zip(CATEGORY_NAMES, predictions["category_labels"].sum(axis=0))},
        "vad_mean_absolute_error": {name: float(e) for name, e in zip(VAD_DIMENSIONS, vad_errors)},
        "vad_mean_absolute_error_mean": float(vad_errors.mean()),
        "thresholds": {name: _finite_or_none(t) for name, t in zip(CATEGORY_NAMES, thresholds)},
    }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    snapshot_dir: str | Path,
    report_dir: str | Path,
    split: str = "test",
    device: str = "auto",
    batch_size: int | None = None,
    num_workers: int | None = None,
) -> dict[str, Any]:
    """Evaluate a checkpoint on one split; write ``report.json`` and the plots into ``report_dir``."""
    contents = load_checkpoint(checkpoint_path)
    model, hyperparameters = model_from_checkpoint(contents, checkpoint_path)
    overrides = {}
    if batch_size is not None:
        overrides["batch_size"] = batch_size
    if num_workers is not None:
        overrides["num_workers"] = num_workers
    hyperparameters = hyperparameters.replace(**overrides)
    torch_device = resolve_device(device)
    files = open_split(snapshot_dir, split, hyperparameters.streams)
    model.to(torch_device)
    loader = make_loader(files, hyperparameters, torch_device, train=False)
    predictions = predict_arrays(model, loader, torch_device, hyperparameters.mixed_precision)
    metrics = summarise(predictions)
    report_dir = Path(report_dir)
    report_dir.mkdir(parents=True, exist_ok=True)
    # The run folder's history.json covers every epoch; best.pt only those up to itself.
    history_file = Path(checkpoint_path).with_name(HISTORY_FILE)
    history = json.loads(history_file.read_text()) if history_file.is_file() else contents.get("history", [])
    report = {
        "checkpoint": str(checkpoint_path),
        "snapshot": str(snapshot_dir),
        "split": split,
        "mode": hyperparameters.mode,
        "epoch": contents.get("epoch"),
        "hyperparameters": hyperparameters.to_dict(),
        "metrics": metrics,
        "history": history,
        "plots": {"loss_curves": "loss_curves.png", "average_precision": "average_precision.png",
                  "precision_recall": "precision_recall.png"},
    }
    plot_loss_curves(history, report_dir / "loss_curves.png")
    plot_average_precision(metrics["average_precision"], metrics["mean_average_precision"], split,
                           report_dir / "average_precision.png")
    plot_precision_recall(predictions["category_labels"], predictions["scores"], report_dir / "precision_recall.png")
    write_text_atomically(json.dumps(report, indent=2), report_dir / "report.json")
    return report
