"""Real training processes on the CPU: each joins a Gloo process group from the environment torchrun would set."""

from __future__ import annotations

import multiprocessing
import os
import socket
import traceback
from collections.abc import Callable
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _rank_main(rank: int, world_size: int, port: int, function: Callable, arguments: tuple, answers) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size), LOCAL_WORLD_SIZE=str(world_size),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1",
    )
    import torch

    torch.set_num_threads(1)
    try:
        answers.put((rank, "ok", function(rank, *arguments)))
    except BaseException:  # the test shows the process's own traceback
        answers.put((rank, "error", traceback.format_exc()))


def run_processes(function: Callable, world_size: int, *arguments: Any, timeout: float = 300) -> list[Any]:
    """Run ``function(rank, *arguments)`` in ``world_size`` fresh processes; their answers by rank."""
    context = multiprocessing.get_context("spawn")
    answers = context.Queue()
    port = free_port()
    processes = [
        context.Process(target=_rank_main, args=(rank, world_size, port, function, arguments, answers))
        for rank in range(world_size)
    ]
    for process in processes:
        process.start()
    try:
        results = dict((rank, (status, value)) for rank, status, value in (answers.get(timeout=timeout) for _ in processes))
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    failures = [f"process {rank}:\n{value}" for rank, (status, value) in sorted(results.items()) if status != "ok"]
    if failures:
        raise AssertionError("\n".join(failures))
    return [results[rank][1] for rank in range(world_size)]
