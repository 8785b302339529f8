"""A job whose worker died with its next step is queued again by the beat: once, and only such a job."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connections
from django.db.models import F
from django.utils import timezone

from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import advance_crawl_job, claim_items, create_crawl_job, enqueue_crawl_job
from scraper.tasks import requeue_stalled_crawl_jobs_task
from tests.catalog.images import jpeg

pytestmark = pytest.mark.django_db

STALLED = 1200  # seconds without progress before a job counts as stalled
CLAIM = 900


@pytest.fixture(autouse=True)
def stall_settings(settings):
    settings.SCRAPER_STALLED_JOB_SECONDS = STALLED
    settings.SCRAPER_CLAIM_TIMEOUT_SECONDS = CLAIM
    return settings


@pytest.fixture
def photos(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(400 + i))
    return tmp_path


def queued_job(photos) -> CrawlJob:
    """A job handed to the workers; its message is lost (the test's transaction never commits)."""
    job = create_crawl_job("folder", {"path": str(photos)})
    enqueue_crawl_job(job)
    return job


def time_passes(job: CrawlJob, seconds: float) -> None:
    """Move the job's clock back: its row and its item claims are ``seconds`` older."""
    ago = timedelta(seconds=seconds)
    CrawlJob.objects.filter(pk=job.pk).update(updated_at=F("updated_at") - ago)
    CrawlItem.objects.filter(job=job, claimed_until__isnull=False).update(claimed_until=F("claimed_until") - ago)


def beat() -> list[int]:
    """One tick of the beat: the task runs here, as a worker would run it."""
    return requeue_stalled_crawl_jobs_task.apply().get()


def test_a_job_whose_worker_died_mid_chunk_is_queued_again_once_and_then_finishes(
    photos, eager_celery, django_capture_on_commit_callbacks
):
    job = queued_job(photos)
    advance_crawl_job(job.pk)  # a worker runs discovery,
    claim_items(job, 2)  # takes a chunk, and dies with it and with the job's next message
    time_passes(job, CLAIM - 60)
    assert beat() == []  # its claims are still live: the worker may be alive
    time_passes(job, STALLED)

    with django_capture_on_commit_callbacks() as queued:
        assert beat() == [job.pk]
        assert beat() == []  # the next tick: the re-queue is recorded on the job, so not again
    job.refresh_from_db()
    assert (job.state, job.stalled_requeues) == ("running", 1)
    assert len(queued) == 1

    queued[0]()  # the broker delivers the step
    job.refresh_from_db()
    assert (job.state, job.stored, job.found) == ("done", 3, 3)
    assert sorted(job.items.values_list("attempts", flat=True)) == [1, 2, 2]  # the dead worker's two, taken over


def test_a_job_that_stays_stalled_is_queued_again_once_per_period(photos, django_capture_on_commit_callbacks):
    job = queued_job(photos)
    time_passes(job, STALLED + 1)
    with django_capture_on_commit_callbacks() as queued:
        assert beat() == [job.pk]
        time_passes(job, STALLED - 60)
        assert beat() == []
        time_passes(job, 61)
        assert beat() == [job.pk]
    job.refresh_from_db()
    assert (job.stalled_requeues, len(queued)) == (2, 2)


def test_a_queued_job_whose_first_message_was_lost_is_started(photos, eager_celery, django_capture_on_commit_callbacks):
    job = queued_job(photos)
    time_passes(job, STALLED + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert beat() == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.stored, job.stalled_requeues) == ("done", 3, 1)


def test_a_job_making_progress_is_left_alone(photos):
    job = queued_job(photos)
    advance_crawl_job(job.pk)  # a step just finished
    time_passes(job, STALLED - 60)
    assert beat() == []
    job.refresh_from_db()
    assert job.stalled_requeues == 0


def test_a_job_whose_worker_holds_a_chunk_is_left_alone_however_old_its_row(photos):
    job = queued_job(photos)
    advance_crawl_job(job.pk)
    time_passes(job, STALLED * 10)
    claim_items(job, 2)  # a live worker has just taken a chunk
    assert beat() == []


def test_a_job_whose_worker_is_reading_a_long_discovery_batch_is_left_alone(photos):
    job = queued_job(photos)
    time_passes(job, STALLED * 10)
    worker = connections.create_connection("default")  # another worker's database session
    try:
        with worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [0x5343, job.pk])  # the discovery lock
        assert beat() == []
        with worker.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [0x5343, job.pk])
        assert beat() == [job.pk]  # that worker is gone: now it is stalled
    finally:
        worker.close()


def test_a_job_run_in_a_terminal_is_left_to_its_terminal(photos):
    job = create_crawl_job("folder", {"path": str(photos)})
    advance_crawl_job(job.pk)  # as run_crawl_job does; then the command is interrupted
    time_passes(job, STALLED * 10)
    assert beat() == []


@pytest.mark.parametrize("state", ["done", "failed", "cancelled"])
def test_a_finished_job_is_left_alone(photos, state):
    job = queued_job(photos)
    CrawlJob.objects.filter(pk=job.pk).update(state=state, finished_at=timezone.now())
    time_passes(job, STALLED * 10)
    assert beat() == []
    job.refresh_from_db()
    assert (job.state, job.stalled_requeues) == (state, 0)
