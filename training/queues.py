"""Which Celery queue a training run goes to, and which machines may consume it.

Runs go to ``training``, or to ``training-gpu`` when they ask for
``device=cuda``. Only a worker that can train consumes them: one that
declares it with ``-Q training`` (and ``-Q training,training-gpu`` on a GPU
machine) and passes the check ``config/celery.py`` makes when the worker
starts: torch must import (``requirements-training.txt``), and for
``training-gpu`` CUDA must be available. A worker that fails the check
refuses to start, with one line saying why, instead of taking runs it can
only fail. Every other worker (the default one, the web side's, the demo's
without torch) consumes only ``celery``.

Nothing here imports torch: the probe runs in a child process, so the
worker's own process neither pays for a failed import nor initialises CUDA
before it forks its pool.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass

TRAINING_QUEUE = "training"
GPU_TRAINING_QUEUE = "training-gpu"
TRAINING_QUEUES = (TRAINING_QUEUE, GPU_TRAINING_QUEUE)

_PROBE = """
import json
try:
    import torch
except BaseException as error:
    print(json.dumps({"torch": None, "error": f"{type(error).__name__}: {error}", "cuda": False}))
else:
    print(json.dumps({"torch": torch.__version__, "error": "", "cuda": bool(torch.cuda.is_available())}))
"""


def queue_for_device(device: str) -> str:
    """A run asking for a GPU waits for a GPU worker; ``auto`` and ``cpu`` runs go to any training worker."""
    return GPU_TRAINING_QUEUE if device == "cuda" else TRAINING_QUEUE


@dataclass(frozen=True)
class TrainingAbility:
    torch_version: str | None
    error: str
    cuda: bool

    def refusal(self, queue: str) -> str | None:
        """Why this machine must not consume ``queue``; None when it may."""
        if queue not in TRAINING_QUEUES:
            return None
        if self.torch_version is None:
            return (f"the {queue!r} queue needs torch, which does not import here ({self.error}); "
                    f"install requirements-training.txt, or leave {queue!r} out of -Q")
        if queue == GPU_TRAINING_QUEUE and not self.cuda:
            return (f"the {queue!r} queue is for machines with a GPU, and torch {self.torch_version} sees no CUDA "
                    f"device here; leave {queue!r} out of -Q")
        return None

    def consumable(self) -> list[str]:
        return [queue for queue in TRAINING_QUEUES if self.refusal(queue) is None]


def probe(python: str = sys.executable, timeout: float = 300) -> TrainingAbility:
    """Import torch (and ask for CUDA) in a child process of the same interpreter and environment."""
    try:
        result = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=timeout)
        answer = json.loads(result.stdout.strip().splitlines()[-1])
    except (subprocess.TimeoutExpired, json.JSONDecodeError, IndexError, OSError) as error:
        return TrainingAbility(None, f"the torch probe failed: {error}", False)
    return TrainingAbility(answer["torch"], answer["error"], answer["cuda"])


def refusal_for(queues: Iterable[str], ability: TrainingAbility | None = None) -> str | None:
    """The reason a worker consuming ``queues`` must not start, or None (no probe unless a training queue is asked for)."""
    asked = [queue for queue in queues if queue in TRAINING_QUEUES]
    if not asked:
        return None
    ability = ability or probe()
    reasons = [reason for reason in (ability.refusal(queue) for queue in asked) if reason]
    return "; ".join(reasons) or None
