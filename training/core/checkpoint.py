"""Seeding, random-number state and checkpoint files.

A checkpoint is written to a temporary file in the same folder and renamed over
the old one, so a crash mid-write leaves the previous checkpoint intact. It
holds only tensors and plain Python values, so it loads with
``torch.load(weights_only=True)``: opening a checkpoint never runs code from it.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from emotic.errors import FieldError
from emotic.formats.common import atomic_file
from training.core.hyperparameters import HyperparameterError, Hyperparameters
from training.core.model import EmoticNet

CHECKPOINT_FORMAT = 1
# The files of a run folder.
LAST_CHECKPOINT = "last.pt"  # everything needed to resume, after every epoch
BEST_CHECKPOINT = "best.pt"  # the weights with the best validation mAP, and their thresholds
HISTORY_FILE = "history.json"  # per-epoch losses and validation metrics


class CheckpointError(FieldError):
    """A checkpoint that is missing, unreadable or not one of ours; ``field`` is the file."""


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA); optionally ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        # cuBLAS needs this before its first call to be deterministic.
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cudnn.benchmark = not deterministic
    # warn_only: an op without a deterministic kernel warns instead of stopping the run.
    torch.use_deterministic_algorithms(deterministic, warn_only=True)


def capture_rng_state() -> dict[str, Any]:
    kind, keys, position, has_gauss, cached_gaussian = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "position": int(position),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    numpy_state = state["numpy"]
    np.random.set_state(
        (
            numpy_state["kind"],
            numpy_state["keys"].numpy().astype(np.uint32),
            numpy_state["position"],
            numpy_state["has_gauss"],
            numpy_state["cached_gaussian"],
        )
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(contents: dict[str, Any], path: str | Path) -> None:
    """Write atomically: the file at ``path`` is either the old checkpoint or the whole new one."""
    with atomic_file(path) as temporary:
        torch.save({"format": CHECKPOINT_FORMAT, **contents}, temporary)


def load_checkpoint(path: str | Path, required: tuple[str, ...] = ("model", "hyperparameters")) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "checkpoint not found")
    try:
        contents = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises several types for a corrupt or foreign file
        raise CheckpointError(path, f"not a readable checkpoint ({error})") from None
    if not isinstance(contents, dict) or contents.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(path, f"not a checkpoint written by training (format {CHECKPOINT_FORMAT})")
    absent = [key for key in required if key not in contents]
    if absent:
        raise CheckpointError(path, f"checkpoint lacks {', '.join(absent)}")
    return contents


def write_text_atomically(text: str, path: str | Path) -> None:
    with atomic_file(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def model_from_checkpoint(contents: dict[str, Any], path: str | Path) -> tuple[EmoticNet, Hyperparameters]:
    """Rebuild the trained model (no pretrained files needed: the checkpoint holds every weight)."""
    try:
        hyperparameters = Hyperparameters.from_dict(contents["hyperparameters"])
    except HyperparameterError as error:
        raise CheckpointError(path, f"stored hyperparameters are invalid ({error})") from None
    model = EmoticNet(hyperparameters.mode)
    try:
        model.load_state_dict(contents["model"], strict=True)
    except RuntimeError as error:
        raise CheckpointError(path, f"weights do not fit mode {hyperparameters.mode!r} ({error})") from None
    return model, hyperparameters
