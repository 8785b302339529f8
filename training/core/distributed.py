"""Data-parallel training over the processes that torch's launcher starts.

``torchrun --nproc_per_node N -m training train ...`` runs N copies of the
command; each learns its rank from the environment the launcher sets and joins
one process group (NCCL on CUDA, one GPU a process; Gloo on the CPU).

``batch_size`` stays the size of one optimiser step's batch: every process
takes its equal share of each batch, in the order a single process would have
drawn them, the category weights are computed from the whole batch's positives
(summed across processes) and DDP averages the gradients, so a step is the
single-process step. BatchNorm is the exception: its batch statistics are the
process's own on the CPU, and synchronised (SyncBatchNorm) on CUDA.
An epoch's last batch is dropped when it is smaller than ``batch_size``.
Only rank 0 validates, writes checkpoints and reports progress; the others take
its decisions (validation mAP, early stopping, cancellation) from it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import Sampler

from emotic.errors import FieldError
from training.core.devices import DeviceError, resolve_device


@dataclass(frozen=True)
class ProcessGroup:
    """This process's place among the training processes (one process: rank 0 of 1)."""

    rank: int = 0
    world_size: int = 1
    device: torch.device | None = None  # set for launched processes: the GPU of this rank, or the CPU

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def total(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of ``tensor`` over all processes (in place, and returned)."""
        if self.distributed:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def step_summary(self, loss: torch.Tensor, stop_here: bool) -> tuple[float, bool]:
        """The whole batch's loss (mean of the equal shares) and whether any process asked to stop."""
        if not self.distributed:
            return loss.item(), stop_here
        values = torch.tensor([loss.item(), float(stop_here)], dtype=torch.float64, device=self._collective_device)
        self.total(values)
        return values[0].item() / self.world_size, values[1].item() > 0

    def any(self, flag: bool) -> bool:
        if not self.distributed:
            return flag
        value = torch.tensor([float(flag)], device=self._collective_device)
        return self.total(value).item() > 0

    def from_main(self, value):
        """Rank 0's ``value``, on every process."""
        if not self.distributed:
            return value
        holder = [value]
        dist.broadcast_object_list(holder, src=0, device=self._collective_device)
        return holder[0]

    @property
    def _collective_device(self) -> torch.device:
        return self.device if self.device is not None and self.device.type == "cuda" else torch.device("cpu")


SINGLE_PROCESS = ProcessGroup()


@contextmanager
def launched_processes(device_name: str = "auto") -> Iterator[ProcessGroup]:
    """Join the process group the launcher's environment describes; one process when there is none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        yield SINGLE_PROCESS
        return
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = resolve_device(device_name)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DeviceError(
                "device", f"process {rank} wants GPU {local_rank} but this machine has {torch.cuda.device_count()}; "
                "start at most one process per GPU"
            )
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo", rank=rank, world_size=world_size)
    try:
        yield ProcessGroup(rank=rank, world_size=world_size, device=device)
    finally:
        dist.destroy_process_group()


def per_process_batch_size(batch_size: int, group: ProcessGroup) -> int:
    """Each process's share of a batch; refused unless every process gets the same share of at least 2."""
    share, leftover = divmod(batch_size, group.world_size)
    if leftover or share < 2:
        raise FieldError(
            "batch_size", f"must be a multiple of the {group.world_size} training processes with at least 2 samples "
            f"for each (BatchNorm), got {batch_size}"
        )
    return share


class GlobalBatchShards(Sampler[list[int]]):
    """This process's share of every full batch of one epoch, in the single-process order.

    The order is ``torch.randperm`` from the epoch's generator, exactly what a
    shuffling ``DataLoader`` draws with that generator; batch k is positions
    k*batch_size onwards, and process r takes the r-th equal slice of it.
    """

    def __init__(self, size: int, batch_size: int, group: ProcessGroup, generator: torch.Generator):
        self.size = size
        self.batch_size = batch_size
        self.share = per_process_batch_size(batch_size, group)
        self.rank = group.rank
        self.generator = generator

    def __len__(self) -> int:
        return self.size // self.batch_size

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        for start in range(0, len(self) * self.batch_size, self.batch_size):
            first = start + self.rank * self.share
            yield order[first : first + self.share]


def reseed_for_epoch(seed: int, epoch: int, group: ProcessGroup) -> None:
    """Seed torch (dropout) per process and epoch, so a resumed run draws what an uninterrupted one would."""
    torch.manual_seed(int(np.random.SeedSequence([seed, epoch, group.rank]).generate_state(1, dtype=np.uint64)[0]))


def wrap_for_processes(model: nn.Module, group: ProcessGroup) -> nn.Module:
    """DDP around the model (SyncBatchNorm first on CUDA); the model itself for one process."""
    if not group.distributed:
        return model
    if group.device is not None and group.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return nn.parallel.DistributedDataParallel(model, device_ids=[group.device.index])
    return nn.parallel.DistributedDataParallel(model)


def unwrapped(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model
