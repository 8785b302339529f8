"""Command line: ``python -m training train|evaluate|predict``.

Every hyperparameter is a ``train`` option named after its field
(``batch_size`` -> ``--batch-size``); ``--hyperparameters FILE`` reads a JSON
object first, and options given on the line override it. A bad value exits with
status 2 and a message naming the option; a bad file exits with status 1 and a
message naming the file.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from training.core import hyperparameters as hp
from training.core.checkpoint import LAST_CHECKPOINT, CheckpointError, load_checkpoint
from training.core.data import SnapshotError
from training.core.devices import DeviceError
from training.core.distributed import launched_processes
from training.core.evaluate import evaluate_checkpoint
from training.core.metrics import MetricError
from training.core.hyperparameters import HyperparameterError, Hyperparameters
from training.core.loop import TrainingError, train_model
from training.core.model import PretrainedWeightsError
from training.core.predict import PredictionInputError, load_predictor, predict_folder

CHOICES: dict[str, tuple[str, ...]] = {
    "mode": hp.MODES,
    "optimizer": hp.OPTIMIZERS,
    "scheduler": hp.SCHEDULERS,
    "vad_loss": hp.VAD_LOSSES,
    "normalisation": hp.NORMALISATIONS,
    "device": hp.DEVICES,
}
# Failures caused by a file or a value the user gave: reported in one line, not as a traceback.
USER_ERRORS = (
    SnapshotError,
    PretrainedWeightsError,
    CheckpointError,
    PredictionInputError,
    MetricError,
    TrainingError,
    DeviceError,
)


def option_name(field_name: str) -> str:
    return "--" + field_name.replace("_", "-")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m training", description="Train and use the EMOTIC two-CNN recogniser."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train on a snapshot's train split, select on val")
    train.add_argument(
        "--snapshot",
        required=True,
        type=Path,
        help="folder holding the {split}_*_arr.npy files (or arrays/ with them), or an EMOTIC folder with "
        "Annotations/Annotations.mat and emotic/<folder>/<filename>, whose arrays are then written once into arrays/",
    )
    train.add_argument("--out", required=True, type=Path, help="folder for checkpoints and history")
    train.add_argument("--resume", action="store_true",
                       help="continue the run in --out from last.pt, with its settings unless options say otherwise")
    train.add_argument("--hyperparameters", type=Path, help="JSON object of hyperparameters (options override it)")
    defaults = Hyperparameters()
    for field in fields(Hyperparameters):
        default = getattr(defaults, field.name)
        name = option_name(field.name)
        help_text = f"default: {default}"
        if isinstance(default, bool):
            train.add_argument(name, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif field.name in CHOICES:
            train.add_argument(name, choices=CHOICES[field.name], default=None, help=help_text)
        else:
            kind = type(default) if default is not None else str
            train.add_argument(name, type=kind, default=None, help=help_text)
    train.add_argument("--lr", dest="learning_rate", type=float, default=None, help="same as --learning-rate")

    evaluate = commands.add_parser("evaluate", help="metrics, report.json and plots of a checkpoint on one split")
    evaluate.add_argument("--checkpoint", required=True, type=Path, help="best.pt written by train")
    evaluate.add_argument("--snapshot", required=True, type=Path)
    evaluate.add_argument("--split", choices=("train", "val", "test"), default="test")
    evaluate.add_argument("--out", required=True, type=Path, help="folder for report.json and the figures")
    evaluate.add_argument("--device", choices=hp.DEVICES, default="auto")
    evaluate.add_argument("--batch-size", type=int, default=None)
    evaluate.add_argument("--num-workers", type=int, default=None)

    predict = commands.add_parser("predict", help="predict the people listed in a box file")
    predict.add_argument("--checkpoint", required=True, type=Path, help="best.pt written by train")
    predict.add_argument("--images", required=True, type=Path, help="folder of images")
    predict.add_argument("--boxes", required=True, type=Path, help="CSV or JSON of filename, x1, y1, x2, y2")
    predict.add_argument("--out", required=True, type=Path, help="JSON file to write")
    predict.add_argument("--device", choices=hp.DEVICES, default="auto")
    return parser


def hyperparameters_from_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> Hyperparameters:
    """Options over ``--hyperparameters``; on ``--resume`` without that file, over the run's own settings."""
    values: dict[str, Any] = {}
    last = args.out / LAST_CHECKPOINT
    if args.resume and args.hyperparameters is None and last.is_file():
        values = dict(load_checkpoint(last)["hyperparameters"])
    if args.hyperparameters is not None:
        try:
            values = json.loads(args.hyperparameters.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            parser.error(f"argument --hyperparameters: cannot read {args.hyperparameters} ({error})")
    if not isinstance(values, dict):
        parser.error(f"argument --hyperparameters: {args.hyperparameters} must hold a JSON object")
    for field in fields(Hyperparameters):
        given = getattr(args, field.name)
        if given is not None:
            values[field.name] = given
    try:
        hyperparameters = Hyperparameters.from_dict(values)
    except HyperparameterError as error:
        parser.error(f"argument {option_name(error.field)}: {error.reason}")
    for stream in ("body", "context"):
        if getattr(args, f"{stream}_weights") and stream not in hyperparameters.streams:
            parser.error(f"argument --{stream}-weights: mode {hyperparameters.mode!r} has no {stream} stream")
    return hyperparameters


def _print_progress(progress) -> None:
    if progress.epoch_finished:
        print(
            f"epoch {progress.epoch}: train loss {progress.loss:.4f}, val mAP {progress.val_map:.4f}, "
            f"best {progress.best_val_map:.4f}",
            flush=True,
        )


def run_train(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any] | None:
    """Train; under ``torchrun`` every process trains its share and rank 0 alone answers (None elsewhere)."""
    hyperparameters = hyperparameters_from_args(parser, args)
    with launched_processes(hyperparameters.device) as group:
        result = train_model(
            args.snapshot, args.out, hyperparameters, resume=args.resume, progress=_print_progress, group=group
        )
    if not group.is_main:
        return None
    return {
        "status": result.status,
        "epochs_completed": result.epochs_completed,
        "best_epoch": result.best_epoch,
        "best_val_map": result.best_val_map,
        "best_checkpoint": str(result.best_checkpoint) if result.best_checkpoint else None,
        "last_checkpoint": str(result.last_checkpoint) if result.last_checkpoint else None,
    }


def run_evaluate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    for name in ("batch_size", "num_workers"):
        value, minimum = getattr(args, name), 2 if name == "batch_size" else 0
        if value is not None and value < minimum:
            parser.error(f"argument {option_name(name)}: must be at least {minimum}, got {value}")
    report = evaluate_checkpoint(
        args.checkpoint, args.snapshot, args.out, split=args.split, device=args.device,
        batch_size=args.batch_size, num_workers=args.num_workers,
    )
    metrics = report["metrics"]
    return {
        "split": args.split,
        "mean_average_precision": metrics["mean_average_precision"],
        "vad_mean_absolute_error": metrics["vad_mean_absolute_error"],
        "report": str(args.out / "report.json"),
    }


def run_predict(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    predictor = load_predictor(args.checkpoint, device=args.device)
    output = predict_folder(predictor, args.images, args.boxes, args.out)
    return {"people": len(output["results"]), "output": str(args.out)}


COMMANDS = {"train": run_train, "evaluate": run_evaluate, "predict": run_predict}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        summary = COMMANDS[args.command](parser, args)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    if summary is not None:
        print(json.dumps(summary, indent=2))
    return 0
