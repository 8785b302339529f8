"""Tiny snapshots at the real array shapes, written by the tests themselves."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotic.taxonomy import NUM_CATEGORIES
from training.core.hyperparameters import Hyperparameters


def write_snapshot(root: Path, sizes: dict[str, int] | None = None, seed: int = 0) -> Path:
    """Random images and labels in the baseline's array layout; every split has positives."""
    sizes = sizes or {"train": 8, "val": 6, "test": 6}
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for split, size in sizes.items():
        categories = np.zeros((size, NUM_CATEGORIES), dtype=np.float32)
        for row in range(size):
            categories[row, rng.choice(NUM_CATEGORIES, size=rng.integers(1, 4), replace=False)] = 1
        np.save(root / f"{split}_context_arr.npy", rng.integers(0, 256, (size, 224, 224, 3), dtype=np.uint8))
        np.save(root / f"{split}_body_arr.npy", rng.integers(0, 256, (size, 128, 128, 3), dtype=np.uint8))
        np.save(root / f"{split}_cat_arr.npy", categories)
        np.save(root / f"{split}_cont_arr.npy", rng.integers(1, 11, (size, 3)).astype(np.float32))
    return root


@pytest.fixture
def snapshot(tmp_path) -> Path:
    return write_snapshot(tmp_path / "snapshot")


@pytest.fixture
def training_snapshot(tmp_path) -> Path:
    """Two optimiser steps an epoch (6 samples in batches of 4) and a small validation split."""
    return write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})


@pytest.fixture
def tiny_hyperparameters() -> Hyperparameters:
    """Two steps an epoch on the CPU, no worker processes."""
    return Hyperparameters(mode="body", epochs=2, batch_size=4, num_workers=0, device="cpu", seed=3,
                           learning_rate=1e-3)
