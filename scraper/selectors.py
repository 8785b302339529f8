"""Reads of crawl jobs for the admin's pages and the researcher API."""

from __future__ import annotations

from django.db.models import QuerySet

from scraper.models import CrawlJob

LIVE_STATES = (CrawlJob.State.PENDING, CrawlJob.State.RUNNING)


def job_progress(job: CrawlJob) -> dict:
    """What the job list shows of a job and keeps up to date while it runs."""
    return {
        "id": job.pk,
        "state": job.state,
        "state_label": job.get_state_display(),
        "live": job.state in LIVE_STATES,
        "percent": round(job.progress * 100),
        "finding": job.state == CrawlJob.State.RUNNING and not job.discovery_done,
        "found": job.found,
        "stored": job.stored,
        "duplicates": job.exact_duplicates + job.near_duplicates,
        "rejected": job.rejected,
        "refused_for_licence": job.refused_for_license,
        "error": job.error[:500],
    }


def jobs_progress(ids: list[int]) -> list[dict]:
    return [job_progress(job) for job in CrawlJob.objects.filter(pk__in=ids).order_by("-created_at")]


def crawl_jobs(*, state: str | None = None, kind: str | None = None) -> QuerySet[CrawlJob]:
    """The crawl jobs, newest first, filtered (None: any)."""
    rows = CrawlJob.objects.order_by("-id")
    if state is not None:
        rows = rows.filter(state=state)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return rows
