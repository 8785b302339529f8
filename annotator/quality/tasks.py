"""Celery tasks of the quality service; they only wrap ``annotator.quality.services``.

Registered when the annotator app is ready (``AnnotatorConfig.ready`` imports
this module), since Celery autodiscovers ``annotator.tasks`` only.
"""

from celery import shared_task

from annotator.quality import services


@shared_task(name="annotator.quality.tasks.recompute_quality")
def recompute_quality(trigger: str = "schedule") -> int:
    """Run by Celery beat every QUALITY_RECOMPUTE_MINUTES (settings.CELERY_BEAT_SCHEDULE); returns the report id."""
    return services.recompute_quality(trigger).pk


@shared_task(name="annotator.quality.tasks.refresh_after_answer")
def refresh_after_answer(worker_id: int, person_id: int | None = None) -> None:
    """Queued after each committed answer by ``annotator.quality.receivers``."""
    services.refresh_after_answer(worker_id, person_id)
