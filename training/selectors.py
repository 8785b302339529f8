"""Reads of training runs for the other parts (the researcher API)."""

from __future__ import annotations

from django.db.models import QuerySet

from training.models import TrainingRun


def training_runs(*, state: str | None = None, snapshot_id: int | None = None) -> QuerySet[TrainingRun]:
    """The runs, newest first, filtered (None: any)."""
    rows = TrainingRun.objects.select_related("snapshot").order_by("-id")
    if state is not None:
        rows = rows.filter(state=state)
    if snapshot_id is not None:
        rows = rows.filter(snapshot_id=snapshot_id)
    return rows
