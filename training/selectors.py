"""Reads for the training pages: the weight files one may choose, what a run starts from, and how far
its figures can be trusted; and the runs, for the researcher API."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db.models import QuerySet

from training.core.hyperparameters import Hyperparameters
from training.models import TrainingRun

WEIGHT_SUFFIXES = (".pth", ".pt", ".pth.tar")
STREAM_SETTINGS = {"body": "TRAINING_BODY_WEIGHTS", "context": "TRAINING_CONTEXT_WEIGHTS"}


def weights_dir() -> Path:
    return Path(settings.TRAINING_WEIGHTS_DIR).expanduser().resolve()


def available_weights() -> list[str]:
    """The weight files in ``TRAINING_WEIGHTS_DIR`` (and its subfolders), as paths relative to it, sorted.

    Hidden files and links that lead out of the folder are left out.
    """
    root = weights_dir()
    if not root.is_dir():
        return []
    found = []
    for path in root.rglob("*"):
        relative = path.relative_to(root)
        if any(part.startswith(".") for part in relative.parts) or not path.name.lower().endswith(WEIGHT_SUFFIXES):
            continue
        if path.is_file() and path.resolve().is_relative_to(root):
            found.append(relative.as_posix())
    return sorted(found)


def weights_path(name: str) -> Path | None:
    """The file a run's weights name stands for, or None when it is not one of ``available_weights()``."""
    return weights_dir() / name if name in available_weights() else None


def start_of_stream(hyperparameters: dict, stream: str) -> str:
    """Where a stream's weights come from: the file chosen, the worker's setting, or '' (random)."""
    chosen = hyperparameters.get(f"{stream}_weights")
    return chosen or getattr(settings, STREAM_SETTINGS[stream], "") or ""


def streams_without_weights(mode: str, hyperparameters: dict) -> list[str]:
    """The streams a run of ``mode`` reads that start from random weights (no file chosen, no setting)."""
    streams = Hyperparameters(mode=mode).streams
    return [stream for stream in streams if not start_of_stream(hyperparameters, stream)]


@dataclass(frozen=True)
class CategoryFigure:
    name: str
    average_precision: float | None
    positives: int
    too_few: bool


@dataclass(frozen=True)
class MetricCaveats:
    """A report's figures with what makes them weak: too few samples overall, too few positives per category."""

    samples: int
    min_samples: int
    min_positives: int
    categories: list[CategoryFigure]

    @property
    def too_few_samples(self) -> bool:
        return self.samples < self.min_samples

    @property
    def weak_categories(self) -> list[str]:
        return [figure.name for figure in self.categories if figure.too_few]


def metric_caveats(metrics: dict) -> MetricCaveats | None:
    """How far a run's final metrics can be trusted (``TRAINING_MIN_EVALUATION_SAMPLES``, ``TRAINING_MIN_CATEGORY_POSITIVES``)."""
    if not metrics or "samples" not in metrics:
        return None
    min_positives = settings.TRAINING_MIN_CATEGORY_POSITIVES
    positives = metrics.get("positives", {})
    categories = [
        CategoryFigure(name, ap, int(positives.get(name, 0)), int(positives.get(name, 0)) < min_positives)
        for name, ap in metrics.get("average_precision", {}).items()
    ]
    return MetricCaveats(int(metrics["samples"]), settings.TRAINING_MIN_EVALUATION_SAMPLES, min_positives, categories)


def training_runs(*, state: str | None = None, snapshot_id: int | None = None) -> QuerySet[TrainingRun]:
    """The runs, newest first, filtered (None: any)."""
    rows = TrainingRun.objects.select_related("snapshot").order_by("-id")
    if state is not None:
        rows = rows.filter(state=state)
    if snapshot_id is not None:
        rows = rows.filter(snapshot_id=snapshot_id)
    return rows
