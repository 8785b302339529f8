"""Celery tasks: each wraps one service call; the logic lives in ``scraper.services``."""

from __future__ import annotations

from celery import shared_task
from celery.signals import worker_shutting_down

from scraper.fetching.cancel import shutting_down
from scraper.services.jobs import requeue_stalled_crawl_jobs, run_crawl_job_step


@shared_task(name="scraper.run_crawl_job", acks_late=True, reject_on_worker_lost=True)
def run_crawl_job_task(job_id: int) -> None:
    """One step of a crawl job, then the next step as a new task (so a lost worker loses one step)."""
    run_crawl_job_step(job_id)


@shared_task(name="scraper.requeue_stalled_crawl_jobs")
def requeue_stalled_crawl_jobs_task() -> list[int]:
    """Beat: a job whose worker died with its next step gets that step queued again."""
    return requeue_stalled_crawl_jobs()


@worker_shutting_down.connect
def _stop_crawl_waits(**kwargs) -> None:
    """Warm shutdown: every crawl wait in this worker ends now; the items go back to pending for the next worker."""
    shutting_down.set()
