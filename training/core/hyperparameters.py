"""The settings of one training run, validated in one place.

The same dictionary travels from the command line, from the Django
``TrainingRun.hyperparameters`` field and inside every checkpoint, so a run can
be resumed or a checkpoint used for prediction without guessing how it was made.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from emotic.errors import FieldError

MODES: tuple[str, ...] = ("body", "context", "body_context")
OPTIMIZERS: tuple[str, ...] = ("adamw", "sgd")
SCHEDULERS: tuple[str, ...] = ("step", "cosine")
VAD_LOSSES: tuple[str, ...] = ("smooth_l1", "margin_l2")
NORMALISATIONS: tuple[str, ...] = ("emotic", "imagenet")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

# Fields that may differ when a run is resumed: they change where or how fast it
# runs, not what it computes (beyond float rounding: another device, or moving
# between num_workers=0 and worker processes, rounds some sums differently).
RESUMABLE_CHANGES: frozenset[str] = frozenset({"num_workers", "device", "body_weights", "context_weights"})


class HyperparameterError(FieldError):
    """A bad setting; ``field`` names it and ``reason`` says why."""


@dataclass(frozen=True)
class Hyperparameters:
    mode: str = "body_context"
    epochs: int = 30
    batch_size: int = 52  # twice the number of categories, as the common baseline uses
    optimizer: str = "adamw"
    learning_rate: float = 1e-4
    weight_decay: float = 5e-4
    momentum: float = 0.9  # SGD only
    scheduler: str = "step"
    step_size: int = 7  # epochs between decays of the step schedule
    gamma: float = 0.1  # decay factor of the step schedule
    vad_loss: str = "smooth_l1"
    vad_margin: float = 1.0  # in VAD points (1-10 scale): Smooth L1 beta, or the dead zone of margin L2
    vad_loss_weight: float = 0.5  # total = (1 - w) * category loss + w * VAD loss
    zero_count_weight: float = 1e-4  # category weight when a batch has no positive for it
    flip_probability: float = 0.5
    colour_jitter: float = 0.2  # brightness, contrast and saturation factors drawn from [1 - j, 1 + j]
    normalisation: str = "emotic"
    patience: int = 5  # epochs without a better validation mAP before stopping
    min_delta: float = 0.0  # how much validation mAP must rise to count as better
    seed: int = 0
    deterministic: bool = True  # deterministic kernels (cuDNN autotuning off): reproducible, a little slower on GPU
    num_workers: int = 2
    device: str = "auto"
    mixed_precision: bool = True  # used on CUDA only
    # Local weight files; the one of a stream the mode lacks is ignored, so a worker
    # can be configured with both whatever the mode (the command line refuses it).
    body_weights: str | None = None  # ImageNet ResNet-18 state_dict for the body stream
    context_weights: str | None = None  # resnet18_places365.pth.tar for the context stream

    def __post_init__(self) -> None:
        _choice("mode", self.mode, MODES)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("scheduler", self.scheduler, SCHEDULERS)
        _choice("vad_loss", self.vad_loss, VAD_LOSSES)
        _choice("normalisation", self.normalisation, NORMALISATIONS)
        _choice("device", self.device, DEVICES)
        for name in ("epochs", "step_size", "patience"):
            _integer(name, getattr(self, name), minimum=1)
        _integer("batch_size", self.batch_size, minimum=2)  # BatchNorm in training needs two samples
        _integer("num_workers", self.num_workers, minimum=0)
        _integer("seed", self.seed, minimum=0)
        _number("learning_rate", self.learning_rate, low=0.0, low_inclusive=False)
        for name in ("weight_decay", "vad_margin", "zero_count_weight"):
            _number(name, getattr(self, name), low=0.0)
        _number("gamma", self.gamma, low=0.0, high=1.0, low_inclusive=False)
        for name in ("momentum", "vad_loss_weight", "flip_probability"):
            _number(name, getattr(self, name), low=0.0, high=1.0)
        _number("colour_jitter", self.colour_jitter, low=0.0, high=1.0, high_inclusive=False)
        _number("min_delta", self.min_delta, low=0.0, high=1.0, high_inclusive=False)
        for name in ("mixed_precision", "deterministic"):
            if not isinstance(getattr(self, name), bool):
                raise HyperparameterError(name, f"must be true or false, got {getattr(self, name)!r}")
        for name in ("body_weights", "context_weights"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise HyperparameterError(name, f"must be a file path or null, got {value!r}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Hyperparameters:
        """Build from a JSON-like dict; unknown names are an error, missing ones take defaults."""
        if not isinstance(values, dict):
            raise HyperparameterError("hyperparameters", f"must be an object, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise HyperparameterError(unknown[0], f"unknown hyperparameter (known: {', '.join(sorted(known))})")
        coerced = dict(values)
        for name, value in values.items():
            # JSON has one number type: accept 1 where a float is meant.
            if isinstance(getattr(cls, name, None), float) and isinstance(value, int) and not isinstance(value, bool):
                coerced[name] = float(value)
        return cls(**coerced)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Hyperparameters:
        return dataclasses.replace(self, **changes)

    def weights_for(self, stream: str) -> str | None:
        """The weights file to initialise ``stream`` from, or None."""
        if stream not in self.streams:
            return None
        return {"body": self.body_weights, "context": self.context_weights}[stream]

    @property
    def streams(self) -> tuple[str, ...]:
        """The image streams this mode reads: ("body",), ("context",) or both."""
        return {"body": ("body",), "context": ("context",), "body_context": ("body", "context")}[self.mode]


def differences_blocking_resume(saved: Hyperparameters, requested: Hyperparameters) -> list[str]:
    """Names of settings that differ and would change what a resumed run computes."""
    saved_values, requested_values = saved.to_dict(), requested.to_dict()
    return sorted(
        name
        for name in saved_values
        if name not in RESUMABLE_CHANGES and saved_values[name] != requested_values[name]
    )


def _choice(field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise HyperparameterError(field, f"must be one of {', '.join(choices)}, got {value!r}")


def _integer(field: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise HyperparameterError(field, f"must be an integer, got {value!r}")
    if value < minimum:
        raise HyperparameterError(field, f"must be at least {minimum}, got {value}")


def _number(
    field: str,
    value: object,
    low: float,
    high: float = math.inf,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise HyperparameterError(field, f"must be a finite number, got {value!r}")
    too_low = value < low if low_inclusive else value <= low
    too_high = value > high if high_inclusive else value >= high
    if too_low or too_high:
        left = "[" if low_inclusive else "("
        right = "]" if high_inclusive else ")"
        raise HyperparameterError(field, f"must lie in {left}{low:g}, {high:g}{right}, got {value}")
