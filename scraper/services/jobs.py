"""Crawl jobs: create, advance step by step, cancel, resume.

A job advances in steps, each short enough to be one Celery task: a chunk
of the items found so far, or else a spell of discovery (resumable from its
cursor).
Items are claimed for a limited time, so the chunk of a worker that died is
taken over once its claim expires, and an item that keeps killing workers is
given up after a few attempts. Counts are recomputed from the items, never
incremented, so a retried step cannot count anything twice. A job the workers
run whose next step was lost with its worker is queued again by the beat.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Min, OuterRef, Q
from django.utils import timezone

from scraper.fetching import PoliteFetcher
from scraper.fetching.cancel import FetchCancelled
from scraper.models import TRANSIENT_REJECT_REASONS, CrawlItem, CrawlJob, RejectReason
from catalog.models import Source
from catalog.sources import collection_source, dataset_source
from scraper.services.discovery import discover_items
from scraper.services.pipeline import process_items
from scraper.services.source_health import final_state, reopen_degraded
from scraper.services.staging import restage_upload, stage_storage_prefix
from scraper.sources import SourceError, build_source
from scraper.sources.queries import SearchQuery, expand_template

logger = logging.getLogger(__name__)

FINISHED_STATES = (CrawlJob.State.DONE, CrawlJob.State.DEGRADED, CrawlJob.State.FAILED, CrawlJob.State.CANCELLED)
_DATASET_NAMES = {CrawlJob.Kind.COCO: "mscoco", CrawlJob.Kind.ADE20K: "ade20k", CrawlJob.Kind.EMOTIC: "emotic"}
# Seconds before another step when discovery is busy in another worker: short, since the
# discoverer saves its first batch within a fraction of a second and this step can then take a chunk.
BUSY_RETRY_SECONDS = 0.25
# Longest wait before looking again at items another worker holds: it may be a parallel
# step that finishes soon (then this step ends the job), or a dead worker whose claims run out.
HELD_POLL_SECONDS = 2.0
# Discovery runs in steps of about this long, between chunks of fetching.
DISCOVERY_STEP_SECONDS = 60.0
# PostgreSQL advisory lock (this key, job id) held by the worker discovering a job's items.
_DISCOVERY_LOCK_KEY = 0x5343

ProgressCallback = Callable[[CrawlJob], None]


# --- creating ---------------------------------------------------------------------
def search_queries(*, queries: list[str] = (), template: str = "", words: dict[str, list[str]] | None = None) -> list[SearchQuery]:
    """Queries given verbatim, plus every combination a template makes."""
    result = [SearchQuery(" ".join(q.split()), {}) for q in queries if q.strip()]
    if template:
        result += expand_template(template, words)
    return result


def _source_row(kind: str, params: dict) -> Source | None:
    path = str(params.get("path", ""))
    if kind == CrawlJob.Kind.SEARCH:
        return None
    if kind in _DATASET_NAMES:
        dataset = _DATASET_NAMES[kind]
        return dataset_source(dataset, path, params)
    source_kind = Source.Kind.FOLDER if kind == CrawlJob.Kind.FOLDER else Source.Kind.URL_LIST
    return collection_source(source_kind, kind, path, params)


def create_crawl_job(kind: str, params: dict, *, created_by: str = "") -> CrawlJob:
    """Validate the parameters (errors name the parameter) and store the job, not yet started."""
    if kind not in CrawlJob.Kind.values:
        raise SourceError("kind", f"must be one of {', '.join(CrawlJob.Kind.values)}, got {kind!r}")
    if kind == CrawlJob.Kind.SEARCH:
        params = {**params, "queries": [q.as_json() if isinstance(q, SearchQuery) else q for q in params.get("queries", [])]}
    build_source(kind, params, shared_fetcher())  # raises SourceError naming the parameter
    with transaction.atomic():
        return CrawlJob.objects.create(kind=kind, params=params, source=_source_row(kind, params), created_by=created_by)


# --- the fetcher, one per process ---------------------------------------------------
_fetcher: tuple[tuple, PoliteFetcher] | None = None


def shared_fetcher() -> PoliteFetcher:
    """One fetcher (connection pools, robots cache, limits) per process, rebuilt if the settings change."""
    global _fetcher
    names = sorted(name for name in dir(settings) if name.startswith("SCRAPER_"))
    key = tuple((name, repr(getattr(settings, name))) for name in names)
    if _fetcher is None or _fetcher[0] != key:
        if _fetcher is not None:
            _fetcher[1].close()
        _fetcher = (key, PoliteFetcher.from_settings())
    return _fetcher[1]


# --- running -------------------------------------------------------------------
def refresh_job_counts(job: CrawlJob) -> None:
    rows = job.items.values("state", "reason").annotate(n=Count("id"))
    by_state: dict[str, int] = {}
    by_reason: dict[str, int] = {}
    for row in rows:
        by_state[row["state"]] = by_state.get(row["state"], 0) + row["n"]
        if row["state"] == CrawlItem.State.REJECTED:
            by_reason[row["reason"]] = by_reason.get(row["reason"], 0) + row["n"]
    job.found = sum(by_state.values())
    job.fetched = job.items.filter(fetched_at__isnull=False).count()
    job.stored = by_state.get(CrawlItem.State.STORED, 0)
    job.exact_duplicates = by_state.get(CrawlItem.State.EXACT_DUPLICATE, 0)
    job.near_duplicates = by_state.get(CrawlItem.State.NEAR_DUPLICATE, 0)
    job.rejected = by_state.get(CrawlItem.State.REJECTED, 0)
    job.rejected_by_reason = dict(sorted(by_reason.items()))
    job.save(
        update_fields=["found", "fetched", "stored", "exact_duplicates", "near_duplicates", "rejected", "rejected_by_reason", "updated_at"]
    )


def claim_items(job: CrawlJob, count: int) -> list[CrawlItem]:
    """Take up to ``count`` pending items no live worker holds; give up on items tried too often."""
    now = timezone.now()
    until = now + timedelta(seconds=settings.SCRAPER_CLAIM_TIMEOUT_SECONDS)
    with transaction.atomic():
        free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
        items = list(
            CrawlItem.objects.select_for_update(skip_locked=True)
            .filter(free, job=job, state=CrawlItem.State.PENDING)
            .order_by("position")[:count]
        )
        CrawlItem.objects.filter(id__in=[item.id for item in items]).update(claimed_until=until, attempts=F("attempts") + 1)
    sources = Source.objects.in_bulk({item.source_id for item in items})
    claimed = []
    for item in items:
        item.attempts, item.claimed_until, item.source, item.job = item.attempts + 1, until, sources[item.source_id], job
        if item.attempts <= settings.SCRAPER_MAX_ITEM_ATTEMPTS:
            claimed.append(item)
            continue
        item.state, item.reason, item.claimed_until = CrawlItem.State.REJECTED, RejectReason.GAVE_UP, None
        item.detail = f"not finished after {settings.SCRAPER_MAX_ITEM_ATTEMPTS} attempts; last: {item.detail}"[:1000]
        item.save(update_fields=["state", "reason", "detail", "claimed_until", "updated_at"])
        logger.warning("job %s: gave up on %s: %s", job.pk, item.key, item.detail)
    return claimed


@contextmanager
def _discovery_lock(job: CrawlJob) -> Iterator[bool]:
    """Only one worker discovers a job's items at a time (PostgreSQL session lock; SQLite has one writer)."""
    if connection.vendor != "postgresql":
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [_DISCOVERY_LOCK_KEY, job.pk])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [_DISCOVERY_LOCK_KEY, job.pk])


def _fail(job: CrawlJob, error: str) -> None:
    logger.error("job %s failed: %s", job.pk, error)
    job.state, job.error, job.finished_at = CrawlJob.State.FAILED, error[:5000], timezone.now()
    job.save(update_fields=["state", "error", "finished_at", "updated_at"])


def advance_crawl_job(
    job_id: int, *, fetcher: PoliteFetcher | None = None, on_progress: ProgressCallback | None = None
) -> float | None:
    """Do one step of the job. Returns seconds to wait before the next step, or None when it is over.

    A step processes one chunk of the items found so far, or, when none is
    waiting, discovers more for at most ``DISCOVERY_STEP_SECONDS``; so a long
    search starts storing images before all its result pages are read.
    """
    job = CrawlJob.objects.get(pk=job_id)
    if job.state in FINISHED_STATES:
        return None
    if job.state == CrawlJob.State.PENDING:
        job.state, job.started_at = CrawlJob.State.RUNNING, job.started_at or timezone.now()
        job.save(update_fields=["state", "started_at", "updated_at"])
    fetcher = fetcher or shared_fetcher()
    items = claim_items(job, settings.SCRAPER_CHUNK_SIZE)
    if items:
        process_items(items, fetcher, still_wanted=lambda: CrawlJob.objects.filter(pk=job.pk, state=CrawlJob.State.RUNNING).exists())
        refresh_job_counts(job)
        if on_progress is not None:
            on_progress(job)
        return 0.0
    if not job.discovery_done:
        return _discover_step(job, fetcher, on_progress)
    pending = job.items.filter(state=CrawlItem.State.PENDING).aggregate(n=Count("id"), until=Min("claimed_until"))
    refresh_job_counts(job)
    if pending["n"]:  # held by another step, or by a worker that died: look again soon
        remaining = (pending["until"] - timezone.now()).total_seconds() if pending["until"] else 0.0
        return min(HELD_POLL_SECONDS, max(0.5, remaining))
    job.refresh_from_db()
    if job.state == CrawlJob.State.RUNNING:  # done, or degraded when a search source stopped (never "done" then)
        (job.state, error), job.finished_at = final_state(job), timezone.now()
        job.error = error[:5000] or job.error
        job.save(update_fields=["state", "error", "finished_at", "updated_at"])
    return None


def _discover_step(job: CrawlJob, fetcher: PoliteFetcher, on_progress: ProgressCallback | None) -> float | None:
    with _discovery_lock(job) as mine:
        if not mine:
            return BUSY_RETRY_SECONDS
        job.refresh_from_db()
        if not job.discovery_done:
            try:
                stage_storage_prefix(job)  # an admin's import of a storage prefix: its files come over first
                discover_items(job, fetcher, on_batch=on_progress, max_seconds=DISCOVERY_STEP_SECONDS)
            except FetchCancelled:  # the worker is shutting down: discovery resumes from its cursor
                return 0.0
            except (SourceError, OSError) as error:
                _fail(job, str(error))
                return None
    return 0.0


def run_crawl_job(job: CrawlJob, *, on_progress: ProgressCallback | None = None, fetcher: PoliteFetcher | None = None) -> CrawlJob:
    """Run a job to the end in this process (the command line does this)."""
    CrawlJob.objects.filter(pk=job.pk).update(run_by_workers=False)  # its terminal, not the beat, decides when to go on
    while (wait := advance_crawl_job(job.pk, fetcher=fetcher, on_progress=on_progress)) is not None:
        if wait > 0:
            logger.info("job %s: waiting %.0f s for items held by another worker", job.pk, wait)
            time.sleep(wait)
    job.refresh_from_db()
    return job


def cancel_crawl_job(job: CrawlJob) -> None:
    """Stop after the step in progress; what is stored stays."""
    CrawlJob.objects.filter(pk=job.pk).exclude(state__in=FINISHED_STATES).update(
        state=CrawlJob.State.CANCELLED, finished_at=timezone.now(), updated_at=timezone.now()
    )
    job.refresh_from_db()


def resume_crawl_job(job: CrawlJob, *, retry_transient: bool = True) -> CrawlJob:
    """Make a stopped job runnable again. Done items stay done; transient failures get another try.

    An import's parameters are checked again first (a ``SourceError`` names the one at fault, and
    the job is left as it was): its file may have gone, or lie outside today's import roots.
    """
    if job.kind != CrawlJob.Kind.SEARCH:
        restage_upload(job)  # an uploaded import whose folder has gone is unpacked again from the storage
        build_source(job.kind, job.params)
    with transaction.atomic():
        if retry_transient:
            job.items.filter(state=CrawlItem.State.REJECTED, reason__in=list(TRANSIENT_REJECT_REASONS)).update(
                state=CrawlItem.State.PENDING, reason="", detail="", attempts=0, claimed_until=None
            )
        job.state, job.error, job.finished_at = CrawlJob.State.PENDING, "", None
        reopen_degraded(job)  # stopped search sources are asked again from where they stopped
        job.save(update_fields=["state", "error", "finished_at", "degraded_sources", "discovery_cursor", "discovery_done", "updated_at"])
        refresh_job_counts(job)
    return job


def enqueue_crawl_job(job: CrawlJob) -> None:
    """Hand the job to Celery once the surrounding transaction commits.

    ``SCRAPER_PARALLEL_STEPS`` chains of steps start at once, so one job keeps
    that many worker processes busy: each claims its own chunk (claims are
    row-locked), one discovers at a time (the discovery lock), and whichever
    finds nothing left ends the job. With ``SCRAPER_SHARED_LIMITS_URL`` the
    fetch limits stay those of one crawler however many run.
    """
    job.run_by_workers = True
    CrawlJob.objects.filter(pk=job.pk).update(run_by_workers=True, updated_at=timezone.now())
    for _ in range(settings.SCRAPER_PARALLEL_STEPS):
        _queue_next_step(job.pk)


def _queue_next_step(job_id: int) -> None:
    from scraper.tasks import run_crawl_job_task

    transaction.on_commit(lambda: run_crawl_job_task.delay(job_id))


def run_crawl_job_step(job_id: int) -> None:
    """One step of a job in a Celery worker, then its next step queued as a new task (a lost worker loses one step).

    The step has committed its work when it returns, so the next one is queued at once, after the wait it asks for.
    """
    from scraper.tasks import run_crawl_job_task

    wait = advance_crawl_job(job_id)
    if wait is not None:  # no countdown when there is nothing to wait for: a task with one waits in the worker's timer
        run_crawl_job_task.apply_async((job_id,), countdown=wait or None)


def _discovering_elsewhere(job_id: int) -> bool:
    """A live database session holds the job's discovery lock: a worker is reading a long batch."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = %s::oid AND objid = %s::oid AND objsubid = 2)",
            [_DISCOVERY_LOCK_KEY, job_id],
        )
        return cursor.fetchone()[0]


def requeue_stalled_crawl_jobs(now: datetime | None = None) -> list[int]:
    """Queue the next step again of worker-run jobs that nothing has moved for ``SCRAPER_STALLED_JOB_SECONDS``.

    Every step re-queues the next one, so a worker that dies mid-step takes the
    job's only message with it (the filesystem broker never redelivers, Redis
    only after its visibility timeout). Stalled means: pending or running,
    queued for the workers, its row untouched (each step, discovery batch and
    wait touches it) and no live claim on its items nor a held discovery lock.
    Touching the row here means one stalled job is queued once per period, not
    on every beat. Were its old worker alive after all, the two task chains
    still do no item twice: items are claimed under row locks, discovery under
    the advisory lock, and counts are recomputed from the items.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.SCRAPER_STALLED_JOB_SECONDS)
    live_claims = CrawlItem.objects.filter(job=OuterRef("pk"), state=CrawlItem.State.PENDING, claimed_until__gt=now)
    requeued = []
    with transaction.atomic():
        stalled = (
            CrawlJob.objects.select_for_update(skip_locked=True)
            .filter(state__in=[CrawlJob.State.PENDING, CrawlJob.State.RUNNING], run_by_workers=True, updated_at__lt=cutoff)
            .exclude(Exists(live_claims))
            .order_by("pk")
        )
        for job in stalled:
            if _discovering_elsewhere(job.pk):
                continue
            CrawlJob.objects.filter(pk=job.pk).update(updated_at=now, stalled_requeues=F("stalled_requeues") + 1)
            logger.warning(
                "job %s: %s with no progress since %s; its next step is queued again", job.pk, job.state, job.updated_at.isoformat()
            )
            _queue_next_step(job.pk)
            requeued.append(job.pk)
    return requeued


def release_claims(job: CrawlJob) -> int:
    """Free the job's claimed items at once (this process was the one working on them and stops)."""
    return job.items.filter(state=CrawlItem.State.PENDING, claimed_until__isnull=False).update(claimed_until=None)
