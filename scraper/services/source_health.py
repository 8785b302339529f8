"""Search sources that fail loudly: recorded on the job and on the source's status, and how a job ends.

When a source stops (``SourceFailure``: a captcha, a consent or login wall,
a quota or rate-limit error, a refused key, a changed layout, an empty first
page, pages that keep failing), discovery records it here in the transaction
that saves the batch: on the job (``CrawlJob.degraded_sources``: reason,
detail, a sample of what came back, when) and on the source's row
(``SearchSourceStatus``, shown in the admin under Image gathering › Search
sources). A source that gives results again is marked working. A job with a
stopped source ends ``degraded`` (or ``failed`` when every source stopped
before anything was found), never ``done``; resuming it asks the stopped
sources again from where they stopped.
"""

from __future__ import annotations

from django.utils import timezone

from scraper.models import CrawlJob, SearchSourceStatus
from scraper.sources import search_engine_names
from scraper.sources.registry import SEARCH_SOURCES
from scraper.sources.search_engines import Degradation, reopen_stopped


def record_degradation(job: CrawlJob, degradation: Degradation) -> None:
    """On the job's instance (the caller saves ``degraded_sources``) and on the source's status row."""
    now = timezone.now()
    job.degraded_sources = {
        **job.degraded_sources,
        degradation.source: {
            "reason": degradation.reason,
            "detail": degradation.detail[:2000],
            "sample": degradation.sample,
            "at": now.isoformat(),
        },
    }
    SearchSourceStatus.objects.update_or_create(
        engine=degradation.source,
        defaults={
            "state": SearchSourceStatus.State.DEGRADED,
            "reason": degradation.reason,
            "detail": degradation.detail[:2000],
            "sample": degradation.sample,
            "job": job,
            "degraded_at": now,
        },
    )


def record_results(engines: set[str]) -> None:
    """These sources gave results: they work (the last failure stays shown beside)."""
    if not engines:
        return
    now = timezone.now()
    updated = SearchSourceStatus.objects.filter(engine__in=engines).update(state=SearchSourceStatus.State.WORKING, last_success_at=now)
    if updated < len(engines):
        for engine in engines:
            SearchSourceStatus.objects.get_or_create(engine=engine, defaults={"last_success_at": now})


def ensure_status_rows() -> None:
    """A row for every registered source, so the admin lists each one, usable or not."""
    known = set(SearchSourceStatus.objects.values_list("engine", flat=True))
    SearchSourceStatus.objects.bulk_create(
        [SearchSourceStatus(engine=name) for name in SEARCH_SOURCES if name not in known], ignore_conflicts=True
    )


def summary(job: CrawlJob) -> str:
    return "; ".join(f"{name}: {entry['reason']}: {entry['detail']}" for name, entry in job.degraded_sources.items())


def final_state(job: CrawlJob) -> tuple[str, str]:
    """How a job whose work is all done ends, and the error to show: never "done" with a source stopped."""
    if not job.degraded_sources:
        return CrawlJob.State.DONE, ""
    names, _ = search_engine_names(job.params) if job.kind == CrawlJob.Kind.SEARCH else (list(job.degraded_sources), "")
    if set(names) <= set(job.degraded_sources) and job.found == 0:
        return CrawlJob.State.FAILED, f"every search source failed: {summary(job)}"
    return CrawlJob.State.DEGRADED, f"stopped sources: {summary(job)}"


def reopen_degraded(job: CrawlJob) -> None:
    """Ask the job's stopped sources again from where they stopped (on the instance; the caller saves)."""
    if not job.degraded_sources:
        return
    job.discovery_cursor, reopened = reopen_stopped(job.discovery_cursor)
    job.degraded_sources = {}
    if reopened:
        job.discovery_done = False
