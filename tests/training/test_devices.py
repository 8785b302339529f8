"""Mixed precision is a CUDA feature: asked for on the CPU, everything stays float32."""

from __future__ import annotations

import torch

from tests.training.conftest import write_snapshot
from training.core.checkpoint import load_checkpoint
from training.core.devices import autocast_context, uses_mixed_precision
from training.core.loop import train_model
from training.core.model import EmoticNet

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_mixed_precision_is_used_only_where_asked_for_and_on_cuda():
    assert uses_mixed_precision(CUDA, True)
    assert not uses_mixed_precision(CUDA, False)
    assert not uses_mixed_precision(CPU, True)


def test_on_the_cpu_the_autocast_context_changes_nothing():
    torch.manual_seed(0)
    model = EmoticNet("body").eval()
    body = torch.rand(2, 3, 128, 128)
    with torch.no_grad():
        expected = model(body=body)
        with autocast_context(CPU, True):
            assert not torch.is_autocast_enabled("cpu")
            scores, vad = model(body=body)
    assert scores.dtype == vad.dtype == torch.float32
    assert torch.equal(scores, expected[0]) and torch.equal(vad, expected[1])


def test_a_cpu_run_asking_for_mixed_precision_trains_exactly_as_one_that_does_not(tmp_path, tiny_hyperparameters):
    snapshot = write_snapshot(tmp_path / "snapshot", {"train": 6, "val": 4})
    hyperparameters = tiny_hyperparameters.replace(epochs=1)
    asked = train_model(snapshot, tmp_path / "asked", hyperparameters.replace(mixed_precision=True))
    plain = train_model(snapshot, tmp_path / "plain", hyperparameters.replace(mixed_precision=False))
    weights = load_checkpoint(asked.best_checkpoint)["model"]
    assert all(tensor.dtype != torch.float16 for tensor in weights.values())
    reference = load_checkpoint(plain.best_checkpoint)["model"]
    assert all(torch.equal(weights[name], reference[name]) for name in reference)
    assert asked.history[0]["train_loss"] == plain.history[0]["train_loss"]
