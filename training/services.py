"""Training runs from Django: start, run in a Celery worker, report progress, cancel.

The training itself is ``training.core.loop.train_model`` (no Django); this module
fetches the snapshot's arrays from storage (or its ``Annotations.mat`` and
images, from which the core builds the arrays once), feeds progress into the
``TrainingRun`` row, evaluates the best checkpoint on the test split (on val,
with a note saying so, when the snapshot has no test samples) and stores the
checkpoint and report through the storage backend.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from emotic.formats import layout
from emotic.errors import FieldError
from emotic.taxonomy import SPLITS
from emotic_export.models import DatasetSnapshot
from emotic_export.storage import snapshot_prefix
from training.core.hyperparameters import HyperparameterError, Hyperparameters
from training.models import TrainingRun
from training.queues import queue_for_device
from training.selectors import available_weights, weights_dir, weights_path

logger = logging.getLogger(__name__)
REPORT_FILES = ("report.json", "loss_curves.png", "average_precision.png", "precision_recall.png")
TRAINABLE_FORMATS = {"npy", "mat"}  # the arrays themselves, or the .mat and images they are built from
DB_UPDATE_SECONDS = 2.0


class TrainingRunError(FieldError):
    """A run that cannot start; ``field`` names the setting at fault, ``reason`` says why."""


def validated_hyperparameters(mode: str, hyperparameters: dict) -> Hyperparameters:
    """The run's settings, checked; pretrained weights are named by a file of ``TRAINING_WEIGHTS_DIR``.

    A name is all a run keeps (the worker reads the file from its own folder): never a path, so
    nothing outside the weights folder can be read. With none named, the worker's
    ``TRAINING_BODY_WEIGHTS``/``TRAINING_CONTEXT_WEIGHTS`` apply, if set.
    """
    values = {**(hyperparameters or {}), "mode": mode}
    try:
        checked = Hyperparameters.from_dict(values)
    except HyperparameterError as error:
        raise TrainingRunError(error.field, error.reason) from None
    for stream in ("body", "context"):
        field, name = f"{stream}_weights", values.get(f"{stream}_weights")
        if not name:
            continue
        if stream not in checked.streams:
            raise TrainingRunError(field, f"mode {mode!r} has no {stream} stream; leave it empty")
        if weights_path(name) is None:
            offered = ", ".join(available_weights()) or "none"
            raise TrainingRunError(
                field, f"{name!r} is not a weights file in TRAINING_WEIGHTS_DIR ({weights_dir()}); files there: {offered}"
            )
    return checked


def start_training_run(*, snapshot: DatasetSnapshot, mode: str, hyperparameters: dict | None = None, created_by=None) -> TrainingRun:
    if snapshot.state != DatasetSnapshot.State.COMPLETE:
        raise TrainingRunError("snapshot", f"{snapshot.name} is {snapshot.state}; train on a complete snapshot")
    if not TRAINABLE_FORMATS & set(snapshot.formats):
        raise TrainingRunError(
            "snapshot", f"{snapshot.name} has neither the baseline arrays (npy) nor Annotations.mat with its images "
            f"(mat), only {', '.join(snapshot.formats) or 'no format'}; export a new snapshot with the npy or mat format"
        )
    checked = validated_hyperparameters(mode, hyperparameters or {})
    run = TrainingRun.objects.create(
        snapshot=snapshot, mode=mode, hyperparameters=checked.to_dict(), created_by=created_by
    )
    from training.tasks import run_training_task

    # A run that asks for a GPU waits for a GPU worker (training/queues.py); others go to any training worker.
    queue = queue_for_device(checked.device)
    transaction.on_commit(lambda: run_training_task.apply_async((run.pk,), queue=queue))
    return run


def request_cancel(run: TrainingRun) -> bool:
    """Stop a run; False when it had already finished.

    A queued run is cancelled at once, so the worker that picks its message up
    later does nothing; a running one stops at its next step.
    """
    queued = TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.QUEUED)
    if queued.update(state=TrainingRun.State.CANCELLED, cancel_requested=True, finished_at=timezone.now()):
        return True
    # Between the two updates a worker may have taken the run: it then reads the flag.
    running = TrainingRun.objects.filter(pk=run.pk, state=TrainingRun.State.RUNNING)
    return bool(running.update(cancel_requested=True))


def _local_snapshot_arrays(snapshot: DatasetSnapshot) -> Path:
    """The snapshot's arrays on this machine: in place on local disk, else fetched once into a cache.

    A snapshot exported without arrays has its ``Annotations.mat`` and images
    fetched instead and the core builds the arrays from them, once; the cache
    holds only the arrays, and appears whole or not at all.
    """
    prefix = snapshot_prefix(snapshot)
    if "npy" in snapshot.formats:
        try:
            return Path(default_storage.path(f"{prefix}/{layout.ARRAYS_DIR}"))
        except NotImplementedError:
            pass
    cache = Path(settings.TRAINING_WORK_DIR) / "snapshots" / snapshot.name / layout.ARRAYS_DIR
    if cache.is_dir():
        return cache  # snapshots are immutable, so the cache never goes stale
    staging = Path(tempfile.mkdtemp(prefix=".fetch-", dir=Path(settings.TRAINING_WORK_DIR)))
    try:
        if "npy" in snapshot.formats:
            _fetch_tree(f"{prefix}/{layout.ARRAYS_DIR}", staging / layout.ARRAYS_DIR)
        else:
            from training.core.data import build_arrays_from_mat

            for folder in (layout.ANNOTATIONS_DIR, layout.IMAGES_DIR):
                _fetch_tree(f"{prefix}/{folder}", staging / folder)
            for split in SPLITS:
                build_arrays_from_mat(staging, split)
        cache.parent.mkdir(parents=True, exist_ok=True)
        try:
            (staging / layout.ARRAYS_DIR).rename(cache)
        except OSError:
            if not cache.is_dir():  # else another worker of this machine fetched it first
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return cache


def _fetch_tree(prefix: str, target: Path) -> None:
    """Copy every stored file under ``prefix`` into ``target``, keeping the folders."""
    target.mkdir(parents=True, exist_ok=True)
    directories, files = default_storage.listdir(prefix)
    for name in files:
        with default_storage.open(f"{prefix}/{name}", "rb") as source, (target / name).open("wb") as out:
            shutil.copyfileobj(source, out, length=8 * 1024 * 1024)
    for name in directories:
        _fetch_tree(f"{prefix}/{name}", target / name)


def _evaluation_split(arrays: Path) -> tuple[str, str]:
    """The split the final metrics are computed on, and a note when it is not the test split."""
    test_categories = arrays / layout.array_names("test")["categories"]
    if not test_categories.exists():
        why = f"has no test split ({test_categories.name} is missing)"
    elif len(np.load(test_categories, mmap_mode="r")) == 0:
        why = "has an empty test split"
    else:
        return "test", ""
    return "val", (
        f"The snapshot {why}, so these metrics are on the validation split, which also chose the best epoch "
        "and the thresholds: they are optimistic."
    )


class _RunReporter:
    """Feeds progress into the row at most every couple of seconds, and reads the cancel flag as often."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.last_write = 0.0
        self.cancel = False

    def progress(self, update) -> None:
        now = time.monotonic()
        if not update.epoch_finished and now - self.last_write < DB_UPDATE_SECONDS:
            return
        self.last_write = now
        fields = {"epoch": update.epoch, "step": update.step, "last_loss": update.loss}
        if update.best_val_map is not None:
            fields["best_val_map"] = update.best_val_map
        if update.epoch_finished:
            fields["history"] = list(update.history)
        TrainingRun.objects.filter(pk=self.run_id).update(**fields)
        self.cancel = TrainingRun.objects.filter(pk=self.run_id, cancel_requested=True).exists()

    def should_cancel(self) -> bool:
        return self.cancel


def run_training(run_id: int) -> TrainingRun:
    """Train, evaluate and store one run. A redelivered run resumes from its last checkpoint."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run_id)
        if run.state in (TrainingRun.State.SUCCEEDED, TrainingRun.State.FAILED, TrainingRun.State.CANCELLED):
            return run
        if run.cancel_requested:
            run.state, run.finished_at = TrainingRun.State.CANCELLED, timezone.now()
            run.save(update_fields=["state", "finished_at"])
            return run
        resuming = run.state == TrainingRun.State.RUNNING
        run.state, run.error = TrainingRun.State.RUNNING, ""
        run.started_at = run.started_at or timezone.now()
        run.save(update_fields=["state", "error", "started_at"])

    out_dir = Path(settings.TRAINING_WORK_DIR) / "runs" / str(run.pk)
    reporter = _RunReporter(run.pk)
    try:
        try:
            from training.core.evaluate import evaluate_checkpoint
            from training.core.loop import train_model
        except ImportError as error:
            raise TrainingRunError(
                "worker", f"cannot import the training core ({error}); install requirements-training.txt on this worker"
            ) from None
        hyperparameters = Hyperparameters.from_dict(
            {**run.hyperparameters, "body_weights": _weights_file(run, "body"), "context_weights": _weights_file(run, "context")}
        )
        arrays = _local_snapshot_arrays(run.snapshot)
        resume = resuming and (out_dir / "last.pt").exists()
        if not resume and out_dir.exists():
            shutil.rmtree(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        result = train_model(arrays, out_dir, hyperparameters, resume=resume,
                             progress=reporter.progress, should_cancel=reporter.should_cancel)
        if result.status == "cancelled":
            TrainingRun.objects.filter(pk=run.pk).update(state=TrainingRun.State.CANCELLED, finished_at=timezone.now())
            return TrainingRun.objects.get(pk=run.pk)
        report_dir = out_dir / "report"
        split, note = _evaluation_split(arrays)
        report = evaluate_checkpoint(result.best_checkpoint, arrays, report_dir, split=split,
                                     device=hyperparameters.device, num_workers=hyperparameters.num_workers)
        # The report and the run both say which split the figures are from, and why when not test.
        report["metrics"] = {**report["metrics"], "evaluated_split": split, **({"note": note} if note else {})}
        (report_dir / "report.json").write_text(json.dumps(report, indent=2))
        storage_dir = f"training-runs/{run.pk}"
        checkpoint_key = _store(result.best_checkpoint, f"{storage_dir}/best.pt")
        for name in REPORT_FILES:
            _store(report_dir / name, f"{storage_dir}/report/{name}")
    except Exception as error:
        TrainingRun.objects.filter(pk=run.pk).update(
            state=TrainingRun.State.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        logger.exception("training run %s failed", run.pk)
        raise
    TrainingRun.objects.filter(pk=run.pk).update(
        state=TrainingRun.State.SUCCEEDED,
        finished_at=timezone.now(),
        checkpoint_key=checkpoint_key,
        report_key=f"{storage_dir}/report/report.json",
        metrics=json.loads(json.dumps(report["metrics"], default=float)),
        history=result.history,
        best_val_map=result.best_val_map,
        epoch=result.epochs_completed,
    )
    return TrainingRun.objects.get(pk=run.pk)


def _weights_file(run: TrainingRun, stream: str) -> str | None:
    """The file a stream starts from on this worker: the one the run names (in its TRAINING_WEIGHTS_DIR), else the setting."""
    name = run.hyperparameters.get(f"{stream}_weights")
    if not name:
        return getattr(settings, f"TRAINING_{stream.upper()}_WEIGHTS") or None
    path = weights_path(name)
    if path is None:
        raise TrainingRunError(f"{stream}_weights", f"{name!r} is not in this worker's TRAINING_WEIGHTS_DIR ({weights_dir()})")
    return str(path)


def _store(path: Path, key: str) -> str:
    if default_storage.exists(key):
        default_storage.delete(key)
    with path.open("rb") as handle:
        return default_storage.save(key, File(handle))
