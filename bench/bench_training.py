"""Training and evaluation throughput of the recogniser per mode, with the data loader's share of the time.

Run by hand, never by CI, from the repository root:

    python bench/bench_training.py                      # CPU-sized defaults
    python bench/bench_training.py --samples 1024 --batch-size 52 --num-workers 8 --epochs 2   # a GPU box

A fixed synthetic snapshot (seeded random uint8 images at the real shapes,
memory-mapped .npy files in a temporary folder, like an exported one) is read
through the project's own ``make_loader`` and trained with the loop's own
``train_step``. For each mode (B, I, B+I) it prints:

- compute only: optimiser steps on one batch already on the device (the ceiling);
- training: whole epochs through a fresh loader each, as ``train_model`` runs them;
- evaluation: the test split in inference mode, as ``predict_arrays`` runs it;

each as samples/s, with the share of the wall time spent waiting for the next
batch. On CUDA the device is synchronised after every batch, so that share is
the time the GPU sits idle for want of data. The evaluation rate is projected
to EMOTIC's test split (7,280 people).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from emotic.formats.arrays import array_names  # noqa: E402
from emotic.taxonomy import NUM_CATEGORIES  # noqa: E402
from training.core.checkpoint import seed_everything  # noqa: E402
from training.core.data import BODY_SIZE, CONTEXT_SIZE, make_loader, open_split  # noqa: E402
from training.core.devices import autocast_context, resolve_device, uses_mixed_precision  # noqa: E402
from training.core.hyperparameters import MODES, Hyperparameters  # noqa: E402
from training.core.loop import build_loss, build_optimizer, train_step  # noqa: E402
from training.core.model import EmoticNet  # noqa: E402

EMOTIC_TEST_PEOPLE = 7280


@dataclass(frozen=True)
class Timing:
    samples: int
    seconds: float
    waiting: float  # seconds blocked on the loader for the next batch

    @property
    def rate(self) -> float:
        return self.samples / self.seconds

    @property
    def wait_share(self) -> float:
        return self.waiting / self.seconds


def write_random_snapshot(root: Path, samples: int, seed: int = 0) -> Path:
    """Train and test splits of ``samples`` people each, random content at the baseline's shapes."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        names = array_names(split)
        categories = (rng.random((samples, NUM_CATEGORIES)) < 0.15).astype(np.float32)
        categories[np.arange(samples), rng.integers(0, NUM_CATEGORIES, samples)] = 1
        np.save(root / names["categories"], categories)
        np.save(root / names["continuous"], rng.integers(1, 11, (samples, 3)).astype(np.float32))
        for stream, side in (("context", CONTEXT_SIZE), ("body", BODY_SIZE)):
            images = np.lib.format.open_memmap(root / names[stream], "w+", np.uint8, (samples, side, side, 3))
            for start in range(0, samples, 256):  # in chunks: a GPU-sized snapshot need not fit in memory
                stop = min(start + 256, samples)
                images[start:stop] = rng.integers(0, 256, (stop - start, side, side, 3), dtype=np.uint8)
            images.flush()
            del images
    return root


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_compute_only(model, loss, optimizer, scaler, batch, device, amp, warmup: int, steps: int) -> Timing:
    batch = {key: value.to(device) for key, value in batch.items()}
    for _ in range(warmup):
        train_step(model, batch, loss, optimizer, scaler, device, amp)
    synchronise(device)
    started = time.perf_counter()
    for _ in range(steps):
        train_step(model, batch, loss, optimizer, scaler, device, amp)
    synchronise(device)
    return Timing(steps * len(batch["categories"]), time.perf_counter() - started, 0.0)


def timed_batches(loader, waits: list[float]):
    """The loader's batches, adding to ``waits`` how long each took to arrive (the loader's share)."""
    batches = iter(loader)
    while True:
        asked = time.perf_counter()
        batch = next(batches, None)
        waits.append(time.perf_counter() - asked)
        if batch is None:
            return
        yield batch


def time_training(model, loss, optimizer, scaler, files, hyperparameters, device, amp, epochs: int) -> Timing:
    """Whole epochs, a new loader each (worker start-up included, as in ``train_model``)."""
    samples, waits = 0, []
    started = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for batch in timed_batches(make_loader(files, hyperparameters, device, train=True, epoch=epoch), waits):
            train_step(model, batch, loss, optimizer, scaler, device, amp)
            synchronise(device)
            samples += len(batch["categories"])
    return Timing(samples, time.perf_counter() - started, sum(waits))


@torch.no_grad()
def time_evaluation(model: EmoticNet, files, hyperparameters, device, amp) -> Timing:
    """One pass over the test split as ``predict_arrays`` makes it: forward, scores back to the host."""
    model.eval()
    samples, waits = 0, []
    started = time.perf_counter()
    for batch in timed_batches(make_loader(files, hyperparameters, device, train=False), waits):
        inputs = {stream: batch[stream].to(device, non_blocking=True) for stream in model.streams}
        with autocast_context(device, amp):
            scores, vad = model(**inputs)
        scores.float().cpu(), vad.float().cpu()  # the copy back synchronises
        samples += len(batch["categories"])
    return Timing(samples, time.perf_counter() - started, sum(waits))


def bench_mode(mode: str, snapshot: Path, args: argparse.Namespace, device: torch.device) -> dict[str, Timing]:
    hyperparameters = Hyperparameters(
        mode=mode, batch_size=args.batch_size, num_workers=args.num_workers, device=device.type,
        mixed_precision=not args.no_mixed_precision, deterministic=args.deterministic,
    )
    seed_everything(hyperparameters.seed, hyperparameters.deterministic)
    amp = uses_mixed_precision(device, hyperparameters.mixed_precision)
    model = EmoticNet(mode).to(device).train()
    optimizer = build_optimizer(model, hyperparameters)
    loss = build_loss(hyperparameters)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)
    train_files = open_split(snapshot, "train", hyperparameters.streams)
    test_files = open_split(snapshot, "test", hyperparameters.streams)
    first_batch = next(iter(make_loader(train_files, hyperparameters.replace(num_workers=0), device, train=True)))
    return {
        "compute only": time_compute_only(model, loss, optimizer, scaler, first_batch, device, amp,
                                          args.warmup, args.steps),
        "training": time_training(model, loss, optimizer, scaler, train_files, hyperparameters, device, amp,
                                  args.epochs),
        "evaluation": time_evaluation(model, test_files, hyperparameters, device, amp),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=64, help="people per split of the synthetic snapshot")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--num-workers", type=int, default=2, help="DataLoader worker processes")
    parser.add_argument("--epochs", type=int, default=1, help="timed training epochs")
    parser.add_argument("--steps", type=int, default=3, help="timed compute-only steps")
    parser.add_argument("--warmup", type=int, default=1, help="untimed compute-only steps first")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--no-mixed-precision", action="store_true", help="full precision on CUDA too")
    parser.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=True,
                        help="deterministic kernels as training's default; --no-deterministic: cuDNN autotuning")
    parser.add_argument("--modes", nargs="+", choices=MODES, default=list(MODES))
    args = parser.parse_args()
    for name, value, minimum in (("--samples", args.samples, 2), ("--batch-size", args.batch_size, 2),
                                 ("--num-workers", args.num_workers, 0), ("--epochs", args.epochs, 1),
                                 ("--steps", args.steps, 1), ("--warmup", args.warmup, 0)):
        if value < minimum:
            parser.error(f"argument {name}: must be at least {minimum}, got {value}")
    if args.samples < args.batch_size:
        parser.error(f"argument --samples: must be at least --batch-size ({args.batch_size}), got {args.samples}")

    device = resolve_device(args.device)
    amp = uses_mixed_precision(device, not args.no_mixed_precision)
    label = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {label}; torch {torch.__version__}, {torch.get_num_threads()} intra-op threads; "
          f"batch {args.batch_size}; loader workers {args.num_workers}; mixed precision {'on' if amp else 'off'}; "
          f"deterministic {args.deterministic}; {args.samples} people per split")
    with tempfile.TemporaryDirectory(prefix="bench-training-") as folder:
        snapshot = write_random_snapshot(Path(folder), args.samples)
        print(f"{'mode':>13} | {'phase':<12} | {'samples':>7} | {'samples/s':>9} | {'waiting for data':>16}")
        for mode in args.modes:
            timings = bench_mode(mode, snapshot, args, device)
            for phase, timing in timings.items():
                share = "-" if phase == "compute only" else f"{timing.wait_share:.0%}"
                print(f"{mode:>13} | {phase:<12} | {timing.samples:>7} | {timing.rate:>9.1f} | {share:>16}")
            evaluation = timings["evaluation"]
            print(f"{mode:>13} | EMOTIC test ({EMOTIC_TEST_PEOPLE:,} people) projected: "
                  f"{EMOTIC_TEST_PEOPLE / evaluation.rate:.0f} s", flush=True)


if __name__ == "__main__":
    main()
