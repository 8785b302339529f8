"""Training the recogniser on a snapshot: epochs, validation, checkpoints, early stopping.

``train_model`` is the one entry point, for the command line and for the Django
task alike. It reports through ``progress`` and stops cleanly when
``should_cancel`` says so; the last complete epoch stays on disk (``last.pt``),
and ``train_model(..., resume=True)`` continues from it with the same result an
uninterrupted run would have reached (seeded per epoch, RNG states restored).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from emotic.errors import FieldError
from emotic.taxonomy import CATEGORY_NAMES
from training.core.checkpoint import (
    BEST_CHECKPOINT,
    HISTORY_FILE,
    LAST_CHECKPOINT,
    capture_rng_state,
    load_checkpoint,
    restore_rng_state,
    save_checkpoint,
    seed_everything,
    write_text_atomically,
)
from training.core.data import SnapshotError, make_loader, open_split, split_fingerprint
from training.core.devices import autocast_context, resolve_device, uses_mixed_precision
from training.core.distributed import (
    SINGLE_PROCESS,
    ProcessGroup,
    per_process_batch_size,
    reseed_for_epoch,
    unwrapped,
    wrap_for_processes,
)
from training.core.evaluate import predict_arrays, summarise
from training.core.hyperparameters import Hyperparameters, differences_blocking_resume
from training.core.losses import EmoticLoss, LossParts
from training.core.model import EmoticNet, build_model


class TrainingError(FieldError, RuntimeError):
    """Training cannot start or go on; ``field`` names the option, file or value at fault, ``reason`` says why."""


@dataclass(frozen=True)
class TrainingProgress:
    """What a caller can show: sent after every optimiser step and after every validation."""

    epoch: int  # 1-based, the epoch in progress or just finished
    step: int  # optimiser steps taken since the run began
    loss: float  # the last batch's loss, or the epoch's mean training loss when epoch_finished
    val_map: float | None  # this epoch's validation mAP, when epoch_finished
    best_val_map: float | None
    epoch_finished: bool
    history: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class TrainingResult:
    status: str  # "completed", "early_stopped" or "cancelled"
    epochs_completed: int
    best_epoch: int | None
    best_val_map: float | None
    best_checkpoint: Path | None
    last_checkpoint: Path | None
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _RunState:
    epoch: int = 0
    step: int = 0
    best_val_map: float | None = None
    best_epoch: int | None = None
    epochs_without_improvement: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


def build_optimizer(model: nn.Module, hyperparameters: Hyperparameters) -> torch.optim.Optimizer:
    if hyperparameters.optimizer == "sgd":
        return torch.optim.SGD(
            model.parameters(),
            lr=hyperparameters.learning_rate,
            momentum=hyperparameters.momentum,
            weight_decay=hyperparameters.weight_decay,
        )
    return torch.optim.AdamW(
        model.parameters(), lr=hyperparameters.learning_rate, weight_decay=hyperparameters.weight_decay
    )


def build_scheduler(
    optimizer: torch.optim.Optimizer, hyperparameters: Hyperparameters
) -> torch.optim.lr_scheduler.LRScheduler:
    """Stepped once per epoch."""
    if hyperparameters.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=hyperparameters.epochs)
    return torch.optim.lr_scheduler.StepLR(optimizer, step_size=hyperparameters.step_size, gamma=hyperparameters.gamma)


def build_loss(hyperparameters: Hyperparameters) -> EmoticLoss:
    return EmoticLoss(
        vad_loss=hyperparameters.vad_loss,
        vad_margin=hyperparameters.vad_margin,
        vad_weight=hyperparameters.vad_loss_weight,
        zero_count_weight=hyperparameters.zero_count_weight,
    )


def train_step(
    model: EmoticNet,
    batch: dict[str, torch.Tensor],
    loss: EmoticLoss,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    device: torch.device,
    mixed_precision: bool,
    group: ProcessGroup = SINGLE_PROCESS,
) -> LossParts:
    """One optimiser step on one batch, or on this process's share of it (the model must be in training mode)."""
    inputs = {stream: batch[stream].to(device, non_blocking=True) for stream in unwrapped(model).streams}
    category_targets = batch["categories"].to(device, non_blocking=True)
    vad_targets = batch["vad"].to(device, non_blocking=True)
    # The category weights come from the whole batch: its positives summed over the processes' shares.
    whole_batch_counts = group.total(category_targets.sum(dim=0)) if group.distributed else None
    optimizer.zero_grad(set_to_none=True)
    with autocast_context(device, mixed_precision):
        scores, vad = model(**inputs)
    parts = loss(scores, vad, category_targets, vad_targets, whole_batch_counts)
    scaler.scale(parts.total).backward()
    scaler.step(optimizer)
    scaler.update()
    return parts


def train_model(
    snapshot_dir: str | Path,
    out_dir: str | Path,
    hyperparameters: Hyperparameters,
    *,
    resume: bool = False,
    progress: Callable[[TrainingProgress], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    group: ProcessGroup = SINGLE_PROCESS,
) -> TrainingResult:
    """Train on the snapshot's train split, select on its val split, write checkpoints into ``out_dir``.

    ``out_dir`` gets ``last.pt`` (everything needed to resume, after every
    epoch), ``best.pt`` (the weights with the best validation mAP and their
    precision=recall thresholds: what ``evaluate`` and ``predict`` read) and
    ``history.json``. A folder that already holds a run is refused unless
    ``resume`` is true, so a finished run is never overwritten by accident.
    ``group``: this process's place among the processes torchrun started
    (``training.core.distributed``); only its rank 0 writes files and reports progress.
    """
    out_dir = Path(out_dir)
    last_path, best_path = out_dir / LAST_CHECKPOINT, out_dir / BEST_CHECKPOINT
    device = group.device or resolve_device(hyperparameters.device)
    if group.distributed:
        try:
            per_process_batch_size(hyperparameters.batch_size, group)
        except FieldError as error:
            raise TrainingError(error.field, error.reason) from None
    mixed_precision = uses_mixed_precision(device, hyperparameters.mixed_precision)
    seed_everything(hyperparameters.seed, hyperparameters.deterministic)

    train_files = open_split(snapshot_dir, "train", hyperparameters.streams)
    val_files = open_split(snapshot_dir, "val", hyperparameters.streams)
    if train_files.size < 2:
        raise SnapshotError(train_files.categories, f"training needs at least 2 samples, found {train_files.size}")
    if not np.load(val_files.categories, mmap_mode="r").any():
        raise SnapshotError(val_files.categories, "no category has a positive label, so validation mAP is undefined")
    fingerprint = {"train": split_fingerprint(train_files), "val": split_fingerprint(val_files)}

    if group.distributed and train_files.size < hyperparameters.batch_size:
        raise SnapshotError(
            train_files.categories, f"{train_files.size} samples make no full batch of {hyperparameters.batch_size} "
            "to share among the training processes"
        )
    # What rank 0 finds in the output folder decides for all (the others may not share its disk).
    found_last, found_any = group.from_main((last_path.exists(), last_path.exists() or best_path.exists()))
    resuming = resume and found_last
    if not resume and found_any:
        raise TrainingError("out", f"{out_dir} already holds a training run; resume it or choose another folder")
    network = (
        EmoticNet(hyperparameters.mode)
        if resuming  # every weight comes from the checkpoint
        else build_model(
            hyperparameters.mode, hyperparameters.weights_for("body"), hyperparameters.weights_for("context")
        )
    ).to(device)
    model = wrap_for_processes(network, group)  # DDP across processes; ``network`` itself for one
    network = unwrapped(model)  # with SyncBatchNorm layers when converted on CUDA
    optimizer = build_optimizer(network, hyperparameters)
    scheduler = build_scheduler(optimizer, hyperparameters)
    scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision)
    loss = build_loss(hyperparameters)
    state = _RunState()
    if resuming:
        state = _restore(last_path, hyperparameters, fingerprint, network, optimizer, scheduler, scaler)

    def report(**values: Any) -> None:
        if progress is not None and group.is_main:
            progress(TrainingProgress(best_val_map=state.best_val_map, **values))

    def cancelled() -> bool:
        return should_cancel is not None and bool(should_cancel())

    def result(status: str) -> TrainingResult:
        return TrainingResult(
            status=status,
            epochs_completed=state.epoch,
            best_epoch=state.best_epoch,
            best_val_map=state.best_val_map,
            best_checkpoint=best_path if best_path.exists() else None,
            last_checkpoint=last_path if last_path.exists() else None,
            history=list(state.history),
        )

    if state.epochs_without_improvement >= hyperparameters.patience:
        return result("early_stopped")
    while state.epoch < hyperparameters.epochs:
        epoch = state.epoch + 1
        if group.distributed:
            reseed_for_epoch(hyperparameters.seed, epoch, group)
        model.train()
        train_losses = []
        for batch in make_loader(train_files, hyperparameters, device, train=True, epoch=epoch, group=group):
            if not group.distributed and cancelled():
                return result("cancelled")
            parts = train_step(model, batch, loss, optimizer, scaler, device, mixed_precision, group)
            # Across processes, a stop asked for by any of them is taken after this step by all.
            batch_loss, stop = group.step_summary(parts.total.detach(), group.distributed and cancelled())
            if stop:
                return result("cancelled")
            if not math.isfinite(batch_loss):
                raise TrainingError(
                    "loss", f"became {batch_loss} at epoch {epoch}, step {state.step + 1}; try a lower learning_rate"
                )
            train_losses.append(batch_loss)
            state.step += 1
            report(epoch=epoch, step=state.step, loss=batch_loss, val_map=None, epoch_finished=False)
        if group.any(cancelled()):
            return result("cancelled")
        scheduler.step()

        metrics = None
        if group.is_main:  # the others wait for its figures
            validation = predict_arrays(network, make_loader(val_files, hyperparameters, device, train=False), device,
                                        mixed_precision, loss)
            metrics = summarise(validation)
        figures = group.from_main(
            None if metrics is None else {
                "val_loss": validation["loss"],
                "val_map": metrics["mean_average_precision"],
                "val_vad_mae": metrics["vad_mean_absolute_error_mean"],
            }
        )
        val_map = figures["val_map"]
        improved = state.best_val_map is None or val_map > state.best_val_map + hyperparameters.min_delta
        state.epoch = epoch
        state.history.append(
            {
                "epoch": epoch,
                "train_loss": float(np.mean(train_losses)),
                **figures,
                "learning_rate": optimizer.param_groups[0]["lr"],
            }
        )
        if improved:
            state.best_val_map, state.best_epoch, state.epochs_without_improvement = val_map, epoch, 0
        else:
            state.epochs_without_improvement += 1
        if group.is_main:
            if improved:
                save_checkpoint(_best_contents(network, hyperparameters, state, metrics, fingerprint), best_path)
            save_checkpoint(
                _last_contents(network, optimizer, scheduler, scaler, hyperparameters, state, fingerprint), last_path
            )
            write_text_atomically(json.dumps(state.history, indent=2), out_dir / HISTORY_FILE)
        report(epoch=epoch, step=state.step, loss=state.history[-1]["train_loss"], val_map=val_map,
               epoch_finished=True, history=tuple(state.history))
        if state.epochs_without_improvement >= hyperparameters.patience:
            return result("early_stopped")
    return result("completed")


def _best_contents(model, hyperparameters, state: _RunState, metrics: dict, fingerprint: dict) -> dict[str, Any]:
    thresholds = [metrics["thresholds"][name] for name in CATEGORY_NAMES]
    return {
        "kind": "best",
        "model": model.state_dict(),
        "hyperparameters": hyperparameters.to_dict(),
        "epoch": state.epoch,
        "val_map": state.best_val_map,
        "category_names": list(CATEGORY_NAMES),
        # +inf (never predicted) where validation had no positive for the category
        "thresholds": [math.inf if value is None else value for value in thresholds],
        "val_metrics": metrics,
        "history": list(state.history),
        "snapshot_fingerprint": fingerprint,
    }


def _last_contents(
    model, optimizer, scheduler, scaler, hyperparameters, state: _RunState, fingerprint: dict
) -> dict[str, Any]:
    return {
        "kind": "last",
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "hyperparameters": hyperparameters.to_dict(),
        "epoch": state.epoch,
        "step": state.step,
        "best_val_map": state.best_val_map,
        "best_epoch": state.best_epoch,
        "epochs_without_improvement": state.epochs_without_improvement,
        "history": list(state.history),
        "rng": capture_rng_state(),
        "snapshot_fingerprint": fingerprint,
    }


def _restore(path: Path, hyperparameters, fingerprint, model, optimizer, scheduler, scaler) -> _RunState:
    contents = load_checkpoint(path, required=("model", "optimizer", "scheduler", "hyperparameters", "rng", "epoch"))
    saved = Hyperparameters.from_dict(contents["hyperparameters"])
    blocking = differences_blocking_resume(saved, hyperparameters)
    if blocking:
        raise TrainingError(path, f"cannot resume with different {', '.join(blocking)} than the run was started with")
    if contents.get("snapshot_fingerprint") != fingerprint:
        raise TrainingError(path, "the run was trained on different snapshot data; resume it on the same snapshot")
    model.load_state_dict(contents["model"])
    optimizer.load_state_dict(contents["optimizer"])
    scheduler.load_state_dict(contents["scheduler"])
    if "scaler" in contents:
        scaler.load_state_dict(contents["scaler"])
    restore_rng_state(contents["rng"])
    return _RunState(
        epoch=contents["epoch"],
        step=contents["step"],
        best_val_map=contents["best_val_map"],
        best_epoch=contents["best_epoch"],
        epochs_without_improvement=contents["epochs_without_improvement"],
        history=list(contents["history"]),
    )
