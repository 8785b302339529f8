"""Celery tasks of the annotator. They only wrap services."""

from celery import shared_task

from annotator.services.assignment import expire_stale_assignments as expire_stale_assignments_now
from annotator.services.assignment import recount_slots


@shared_task(name="annotator.tasks.expire_stale_assignments")
def expire_stale_assignments() -> int:
    """Run by Celery beat every minute (settings.CELERY_BEAT_SCHEDULE)."""
    return expire_stale_assignments_now()


@shared_task(name="annotator.tasks.recount_slots")
def recount_pool_slots(person_ids: list[int] | None = None, image_ids: list[int] | None = None) -> None:
    """After annotations were excluded or imported outside the submit service."""
    recount_slots(person_ids=person_ids, image_ids=image_ids)
