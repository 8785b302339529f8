"""The training loop: determinism, resume, early stopping, cancelling, progress."""

from __future__ import annotations

import json

import pytest
import torch

from training.core.checkpoint import load_checkpoint
from training.core.loop import TrainingError, train_model


def _weights(path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)["model"]


def _same_tensors(first: dict, second: dict) -> bool:
    return first.keys() == second.keys() and all(torch.equal(first[key], second[key]) for key in first)


def test_same_seed_gives_identical_weights_and_another_seed_does_not(training_snapshot, tmp_path, tiny_hyperparameters):
    first = train_model(training_snapshot, tmp_path / "a", tiny_hyperparameters)
    second = train_model(training_snapshot, tmp_path / "b", tiny_hyperparameters)
    other = train_model(training_snapshot, tmp_path / "c", tiny_hyperparameters.replace(seed=4, epochs=1))

    assert first.status == "completed" and first.epochs_completed == 2
    assert _same_tensors(_weights(first.last_checkpoint), _weights(second.last_checkpoint))
    assert first.history == second.history
    assert other.history[0]["train_loss"] != first.history[0]["train_loss"]


def test_resuming_a_cancelled_run_matches_an_uninterrupted_one(training_snapshot, tmp_path, tiny_hyperparameters):
    hyperparameters = tiny_hyperparameters.replace(mode="body_context", scheduler="cosine")
    uninterrupted = train_model(training_snapshot, tmp_path / "whole", hyperparameters)

    finished_epochs = []
    interrupted = train_model(
        training_snapshot,
        tmp_path / "split",
        hyperparameters,
        progress=lambda p: finished_epochs.append(p.epoch) if p.epoch_finished else None,
        should_cancel=lambda: bool(finished_epochs),  # stop as soon as epoch 1 is done
    )
    assert interrupted.status == "cancelled" and interrupted.epochs_completed == 1
    resumed = train_model(training_snapshot, tmp_path / "split", hyperparameters, resume=True)

    assert resumed.status == "completed" and resumed.epochs_completed == 2
    whole, split = load_checkpoint(uninterrupted.last_checkpoint), load_checkpoint(resumed.last_checkpoint)
    assert _same_tensors(whole["model"], split["model"])
    assert whole["optimizer"]["state"].keys() == split["optimizer"]["state"].keys()
    assert all(
        _same_tensors(whole["optimizer"]["state"][key], split["optimizer"]["state"][key])
        for key in whole["optimizer"]["state"]
    )
    assert whole["scheduler"] == split["scheduler"]
    assert whole["history"] == split["history"]
    assert json.loads((tmp_path / "split" / "history.json").read_text()) == split["history"]


def test_early_stopping_after_patience_epochs_without_improvement(training_snapshot, tmp_path, tiny_hyperparameters):
    # A rise of 0.99 mAP is impossible after the first epoch, so no later epoch counts as better.
    hyperparameters = tiny_hyperparameters.replace(epochs=6, patience=2, min_delta=0.99)
    events = []
    result = train_model(training_snapshot, tmp_path / "run", hyperparameters, progress=events.append)

    assert result.status == "early_stopped"
    assert result.epochs_completed == 3 and result.best_epoch == 1
    best = load_checkpoint(result.best_checkpoint)
    assert best["epoch"] == 1 and best["val_map"] == result.best_val_map == result.history[0]["val_map"]
    assert len(best["thresholds"]) == 26
    # Two optimiser steps an epoch (6 samples, batches of 4 and 2), then one epoch summary.
    assert [(e.epoch, e.step, e.epoch_finished) for e in events] == [
        (1, 1, False), (1, 2, False), (1, 2, True),
        (2, 3, False), (2, 4, False), (2, 4, True),
        (3, 5, False), (3, 6, False), (3, 6, True),
    ]
    assert all(0 <= e.val_map <= 1 for e in events if e.epoch_finished)


def test_cancel_before_the_first_step_writes_nothing(training_snapshot, tmp_path, tiny_hyperparameters):
    result = train_model(training_snapshot, tmp_path / "run", tiny_hyperparameters, should_cancel=lambda: True)
    assert result.status == "cancelled" and result.epochs_completed == 0
    assert result.last_checkpoint is None and result.best_checkpoint is None


def test_a_finished_run_is_not_overwritten_or_resumed_with_other_settings(
    training_snapshot, tmp_path, tiny_hyperparameters
):
    hyperparameters = tiny_hyperparameters.replace(epochs=1)
    first = train_model(training_snapshot, tmp_path / "run", hyperparameters)
    before = (tmp_path / "run" / "last.pt").read_bytes()
    with pytest.raises(TrainingError, match="already holds a training run"):
        train_model(training_snapshot, tmp_path / "run", hyperparameters)
    with pytest.raises(TrainingError, match="cannot resume with different learning_rate"):
        train_model(training_snapshot, tmp_path / "run", hyperparameters.replace(learning_rate=0.5), resume=True)
    assert (tmp_path / "run" / "last.pt").read_bytes() == before
    again = train_model(training_snapshot, tmp_path / "run", hyperparameters, resume=True)
    assert again.status == "completed" and again.history == first.history


def test_sgd_with_momentum_and_the_step_schedule_decay_the_rate_as_asked(training_snapshot, tmp_path, tiny_hyperparameters):
    hyperparameters = tiny_hyperparameters.replace(
        optimizer="sgd", learning_rate=0.02, momentum=0.8, scheduler="step", step_size=2, gamma=0.5, epochs=3, patience=10
    )
    result = train_model(training_snapshot, tmp_path / "run", hyperparameters)
    assert result.epochs_completed == 3
    last = load_checkpoint(tmp_path / "run" / "last.pt")
    (group,) = last["optimizer"]["param_groups"]
    assert group["momentum"] == 0.8 and "betas" not in group  # SGD, not AdamW
    assert all("momentum_buffer" in state for state in last["optimizer"]["state"].values())
    # Stepped after each epoch: halved after epochs 2 (and would be again after 4).
    assert group["lr"] == pytest.approx(0.01)
    assert last["scheduler"]["last_epoch"] == 3


def test_the_cosine_schedule_reaches_zero_at_the_last_epoch(training_snapshot, tmp_path, tiny_hyperparameters):
    hyperparameters = tiny_hyperparameters.replace(scheduler="cosine", learning_rate=0.004, epochs=2, patience=10)
    train_model(training_snapshot, tmp_path / "run", hyperparameters)
    (group,) = load_checkpoint(tmp_path / "run" / "last.pt")["optimizer"]["param_groups"]
    assert group["lr"] == pytest.approx(0.0, abs=1e-12) and "betas" in group  # AdamW, annealed to 0
