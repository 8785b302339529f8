"""Celery tasks of the access log; they only wrap ``access.services``."""

from celery import shared_task

from access.services import forget_old_attempts


@shared_task(name="access.forget_old_attempts")
def forget_old_attempts_task() -> int:
    """Run by Celery beat once a day."""
    return forget_old_attempts()
