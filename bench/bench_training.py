"""Training speed of the recogniser in each mode, on random data.

Run by hand, never by CI:  python bench/bench_training.py --batch-size 52 --steps 20
Prints optimiser steps per second and samples per second for body (B),
context (I) and body_context (B+I), using the training loop's own step.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotic.taxonomy import NUM_CATEGORIES  # noqa: E402
from training.data import BODY_SIZE, CONTEXT_SIZE  # noqa: E402
from training.devices import resolve_device, uses_mixed_precision  # noqa: E402
from training.hyperparameters import MODES, Hyperparameters  # noqa: E402
from training.loop import build_loss, build_optimizer, train_step  # noqa: E402
from training.model import EmoticNet  # noqa: E402


def random_batch(batch_size: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
    categories = (torch.rand(batch_size, NUM_CATEGORIES, generator=generator) < 0.1).float()
    return {
        "body": torch.randn(batch_size, 3, BODY_SIZE, BODY_SIZE, generator=generator),
        "context": torch.randn(batch_size, 3, CONTEXT_SIZE, CONTEXT_SIZE, generator=generator),
        "categories": categories,
        "vad": torch.randint(1, 11, (batch_size, 3), generator=generator).float() / 10,
    }


def steps_per_second(mode: str, batch_size: int, steps: int, warmup: int, device: torch.device, amp: bool) -> float:
    hyperparameters = Hyperparameters(mode=mode, batch_size=batch_size)
    model = EmoticNet(mode).to(device).train()
    optimizer = build_optimizer(model, hyperparameters)
    loss = build_loss(hyperparameters)
    mixed_precision = uses_mixed_precision(device, amp)
    scaler = torch.amp.GradScaler("cuda", enabled=mixed_precision)
    batch = random_batch(batch_size, torch.Generator().manual_seed(0))
    for _ in range(warmup):
        train_step(model, batch, loss, optimizer, scaler, device, mixed_precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, batch, loss, optimizer, scaler, device, mixed_precision)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=52)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-mixed-precision", action="store_true", help="full precision on CUDA too")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    for name, value, minimum in (("--batch-size", args.batch_size, 2), ("--steps", args.steps, 1),
                                 ("--warmup", args.warmup, 0)):
        if value < minimum:
            parser.error(f"argument {name}: must be at least {minimum}, got {value}")
    device = resolve_device(args.device)
    amp = uses_mixed_precision(device, not args.no_mixed_precision)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {label}; batch size {args.batch_size}; mixed precision {'on' if amp else 'off'}")
    for mode in args.modes:
        rate = steps_per_second(mode, args.batch_size, args.steps, args.warmup, device, amp)
        print(f"{mode:>13}: {rate:7.2f} steps/s  {rate * args.batch_size:8.1f} samples/s")


if __name__ == "__main__":
    main()
