"""Training in several processes (torchrun, Gloo on the CPU): the same steps as one process, one writer, exact resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from emotic.taxonomy import NUM_CATEGORIES
from tests.training.conftest import write_snapshot
from tests.training.distributed_harness import run_processes
from training.core.checkpoint import load_checkpoint
from training.core.data import SnapshotError, make_loader, open_split
from training.core.distributed import ProcessGroup, launched_processes, per_process_batch_size, wrap_for_processes
from training.core.hyperparameters import Hyperparameters
from training.core.loop import TrainingError, build_loss, train_model, train_step
from training.core.losses import dynamic_category_weights

REPO = Path(__file__).resolve().parents[2]


class LinearEmotions(nn.Module):
    """A model without BatchNorm, so one step over shares must equal the single-process step to the last bit of noise."""

    streams = ("body",)

    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(3 * 4 * 4, NUM_CATEGORIES + 3)

    def forward(self, body):
        out = self.layer(body.flatten(1))
        return out[:, :NUM_CATEGORIES], torch.sigmoid(out[:, NUM_CATEGORIES:])


def _batch() -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    categories = (torch.rand(8, NUM_CATEGORIES, generator=generator) < 0.2).float()
    categories[:4, 0], categories[4:, 0] = 1, 0  # the first share holds every positive of category 0
    return {
        "body": torch.randn(8, 3, 4, 4, generator=generator),
        "categories": categories,
        "vad": torch.rand(8, 3, generator=generator),
    }


def _one_step(rank: int, model_seed: int) -> dict[str, np.ndarray]:
    batch = _batch()
    with launched_processes("cpu") as group:
        torch.manual_seed(model_seed)
        model = LinearEmotions()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
        share = per_process_batch_size(8, group)
        mine = {name: values[rank * share : (rank + 1) * share] for name, values in batch.items()}
        train_step(wrap_for_processes(model, group), mine, build_loss(Hyperparameters()), optimizer,
                   torch.amp.GradScaler("cuda", enabled=False), torch.device("cpu"), False, group)
        return {name: value.detach().numpy().copy() for name, value in model.named_parameters()}


def test_a_step_shared_by_two_processes_is_the_step_one_process_takes_on_the_whole_batch():
    batch = _batch()
    # Each share alone would weigh the categories differently from the whole batch.
    assert not torch.allclose(dynamic_category_weights(batch["categories"][:4]), dynamic_category_weights(batch["categories"]))
    torch.manual_seed(11)
    model = LinearEmotions()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    train_step(model, batch, build_loss(Hyperparameters()), optimizer, torch.amp.GradScaler("cuda", enabled=False),
               torch.device("cpu"), False)
    single = {name: value.detach().numpy() for name, value in model.named_parameters()}

    shared = run_processes(_one_step, 2, 11)
    for name, value in single.items():
        np.testing.assert_array_equal(shared[0][name], shared[1][name])  # the processes stay identical
        np.testing.assert_allclose(shared[0][name], value, rtol=0, atol=1e-6)


def test_each_process_loads_its_slice_of_the_batches_one_process_would_load(tmp_path):
    files = open_split(write_snapshot(tmp_path / "snapshot", {"train": 10}), "train", ("body",))
    hyperparameters = Hyperparameters(mode="body", batch_size=4, num_workers=0, seed=5)
    single = list(make_loader(files, hyperparameters, torch.device("cpu"), train=True, epoch=3))
    shares = [
        list(make_loader(files, hyperparameters, torch.device("cpu"), train=True, epoch=3,
                         group=ProcessGroup(rank=rank, world_size=2)))
        for rank in range(2)
    ]
    assert [len(s) for s in shares] == [2, 2]  # the last batch of 2 is dropped, not split unevenly
    for number, (first, second) in enumerate(zip(*shares)):
        for name in ("body", "categories", "vad"):  # augmented images included: per sample, not per process
            assert torch.equal(torch.cat([first[name], second[name]]), single[number][name])


def test_a_batch_that_does_not_split_evenly_among_the_processes_is_refused_before_anything_is_written(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})
    with pytest.raises(TrainingError, match="batch_size: must be a multiple of the 3 training processes .* got 4"):
        train_model(snapshot, tmp_path / "run", Hyperparameters(mode="body", batch_size=4, device="cpu"),
                    group=ProcessGroup(rank=0, world_size=3))
    assert not (tmp_path / "run").exists()


def test_a_train_split_smaller_than_one_batch_is_refused_among_several_processes(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})
    with pytest.raises(SnapshotError, match="6 samples make no full batch of 8"):
        train_model(snapshot, tmp_path / "run", Hyperparameters(mode="body", batch_size=8, device="cpu"),
                    group=ProcessGroup(rank=0, world_size=2))
    assert not (tmp_path / "run").exists()


def _train(rank: int, snapshot: str, out: str, settings: dict, resume: bool, cancel_in_second_epoch: bool) -> dict:
    seen = []

    def stop() -> bool:  # asked by rank 0 alone: the others must stop with it
        return cancel_in_second_epoch and rank == 0 and any(p.epoch_finished for p in seen)

    with launched_processes("cpu") as group:
        result = train_model(snapshot, out, Hyperparameters.from_dict(settings), resume=resume,
                             progress=seen.append, should_cancel=stop, group=group)
    return {"status": result.status, "epochs": result.epochs_completed, "history": result.history,
            "progress_calls": len(seen)}


def test_two_processes_stopped_by_rank_zero_and_resumed_end_where_an_uninterrupted_run_ends(tmp_path):
    snapshot = str(write_snapshot(tmp_path / "snapshot", {"train": 8, "val": 4}))
    settings = Hyperparameters(mode="body", epochs=2, batch_size=4, num_workers=0, device="cpu", seed=3,
                               learning_rate=1e-3).to_dict()
    whole = run_processes(_train, 2, snapshot, str(tmp_path / "whole"), settings, False, False)
    stopped = run_processes(_train, 2, snapshot, str(tmp_path / "split"), settings, False, True)
    resumed = run_processes(_train, 2, snapshot, str(tmp_path / "split"), settings, True, False)

    assert [r["status"] for r in whole] == ["completed", "completed"]
    assert [(r["status"], r["epochs"]) for r in stopped] == [("cancelled", 1), ("cancelled", 1)]
    assert [r["status"] for r in resumed] == ["completed", "completed"]
    assert whole[0]["history"] == whole[1]["history"] == resumed[0]["history"]  # every process holds rank 0's figures
    assert whole[0]["progress_calls"] > 0 and whole[1]["progress_calls"] == 0  # only rank 0 reports
    expected, got = load_checkpoint(tmp_path / "whole" / "last.pt"), load_checkpoint(tmp_path / "split" / "last.pt")
    assert expected["model"].keys() == got["model"].keys() and not any(k.startswith("module.") for k in got["model"])
    for name, value in expected["model"].items():
        assert torch.equal(value, got["model"][name]), name


def test_torchrun_trains_from_the_command_line_and_rank_zero_alone_writes_and_answers(tmp_path):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 8, "val": 4})
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "training", "train", "--snapshot", str(snapshot), "--out", str(tmp_path / "run"), "--mode", "body",
         "--epochs", "2", "--batch-size", "4", "--num-workers", "0", "--device", "cpu"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("epoch 1:") == 1 and completed.stdout.count("epoch 2:") == 1
    summary = json.loads(completed.stdout[completed.stdout.index("{"):])
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["best.pt", "history.json", "last.pt"]
    assert len(json.loads((tmp_path / "run" / "history.json").read_text())) == 2
