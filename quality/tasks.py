"""Celery tasks of the quality service; they only wrap ``quality.services``."""

from celery import shared_task

from quality import services


def _recompute_quality(trigger: str = "schedule", recomputation_id: int | None = None) -> int | None:
    """Run by Celery beat every QUALITY_RECOMPUTE_MINUTES (settings.CELERY_BEAT_SCHEDULE), and for a
    recomputation an admin queued; returns the report id, or None when another one was pending."""
    report = services.run_recomputation(trigger, recomputation_id)
    return None if report is None else report.pk


def _refresh_after_answer(worker_id: int, person_id: int | None = None) -> None:
    """Queued after each answer before the outbox (``drain_refreshes``); messages still in flight run."""
    services.refresh_after_answer(worker_id, person_id)


recompute_quality = shared_task(name="quality.recompute_quality")(_recompute_quality)
refresh_after_answer = shared_task(name="quality.refresh_after_answer")(_refresh_after_answer)


@shared_task(name="quality.drain_refreshes")
def drain_refreshes() -> int:
    """Run by Celery beat every QUALITY_REFRESH_SECONDS: the refreshes answers and skips asked for."""
    return services.drain_pending_refreshes()

# Messages queued before quality left the annotator app carry these names; a worker still runs them.
OLD_TASK_NAMES = {
    "annotator.quality.tasks.recompute_quality": shared_task(name="annotator.quality.tasks.recompute_quality")(
        _recompute_quality
    ),
    "annotator.quality.tasks.refresh_after_answer": shared_task(name="annotator.quality.tasks.refresh_after_answer")(
        _refresh_after_answer
    ),
}
