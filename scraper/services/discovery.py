"""Discovery: a source's batches become CrawlItem rows, with the cursor saved alongside.

Each batch and the cursor after it are written in one transaction, so an
interrupted discovery resumes exactly after the last saved batch; an item
seen twice (the same URL from two queries) is stored once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from django.db import transaction

from scraper.fetching import PoliteFetcher
from scraper.models import CrawlItem, CrawlJob
from catalog.models import Source
from catalog.sources import search_source
from scraper.services.licensing import LicensePolicy
from scraper.services.source_health import record_degradation, record_results
from scraper.sources import DiscoveredItem, DiscoveryBatch, build_source, search_engine_names

logger = logging.getLogger(__name__)

MAX_PAGE_ERRORS_KEPT = 100
NEXT_POSITION = "_next_position"


def _clip(value: str, length: int) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


class _SearchSources:
    """One Source row per (engine, query), as the Source model describes a search."""

    def __init__(self, engine: str):
        self.engine = engine  # the job's first source: items name theirs in ``extra["engine"]``
        self._by_query: dict[tuple[str, str], Source] = {}

    def for_item(self, item: DiscoveredItem) -> Source:
        key = (item.extra.get("engine") or self.engine, item.source_query)
        if key not in self._by_query:
            self._by_query[key] = search_source(*key)
        return self._by_query[key]


def _row(job: CrawlJob, source: Source, position: int, item: DiscoveredItem) -> CrawlItem:
    state, reason, detail = CrawlItem.State.PENDING, "", ""
    if item.rejection is not None:
        state, (reason, detail) = CrawlItem.State.REJECTED, item.rejection
        logger.warning("job %s: %s rejected at discovery: %s", job.pk, item.key, detail)
    return CrawlItem(
        job=job,
        source=source,
        key=_clip(item.key, 500),
        position=position,
        image_url=item.image_url,
        local_path=_clip(item.local_path, 1000),
        page_url=item.page_url,
        title=_clip(item.title, 500),
        query=_clip(item.query, 500),
        source_record=_clip(item.source_record, 500),
        license=_clip(item.license, 300),
        license_code=item.license_code[:30],
        license_url=item.license_url if len(item.license_url) <= 500 else "",
        creator=_clip(item.creator, 300),
        attribution=_clip(item.attribution, 1000),
        original_database=_clip(item.original_database, 50),
        folder=_clip(item.folder, 200),
        filename=_clip(item.filename, 255),
        people=item.people,
        annotations=item.annotations,
        extra=item.extra,
        state=state,
        reason=reason,
        detail=_clip(detail, 1000),
    )


def _save_batch(job: CrawlJob, batch: DiscoveryBatch, search_sources: _SearchSources | None, policy: LicensePolicy) -> None:
    position = job.discovery_cursor.get(NEXT_POSITION, 0)
    rows = []
    for item in batch.items:
        item = policy.judge(item)  # the licence policy at the door: refused items are never fetched
        source = search_sources.for_item(item) if search_sources else job.source
        rows.append(_row(job, source, position, item))
        position += 1
    with transaction.atomic():
        CrawlItem.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        job.discovery_cursor = {**batch.cursor, NEXT_POSITION: position}
        if batch.page_error:
            job.page_errors = (job.page_errors + [batch.page_error])[-MAX_PAGE_ERRORS_KEPT:]
        if batch.degraded is not None:
            record_degradation(job, batch.degraded)
        if search_sources and batch.items:
            record_results({item.extra.get("engine") or search_sources.engine for item in batch.items})
        job.found = job.items.count()
        job.save(update_fields=["discovery_cursor", "page_errors", "degraded_sources", "found", "updated_at"])


def discover_items(
    job: CrawlJob,
    fetcher: PoliteFetcher,
    on_batch: Callable[[CrawlJob], None] | None = None,
    *,
    max_seconds: float | None = None,
) -> bool:
    """Discover from the job's saved cursor, to the end or until ``max_seconds`` have passed.

    Returns True when discovery is complete. Raises SourceError for a source that cannot be read.
    """
    deadline = None if max_seconds is None else time.monotonic() + max_seconds
    source = build_source(job.kind, job.params, fetcher)
    policy = LicensePolicy.for_params(job.params)
    search_sources = _SearchSources(search_engine_names(job.params)[0][0]) if job.kind == CrawlJob.Kind.SEARCH else None
    cursor = {k: v for k, v in job.discovery_cursor.items() if k != NEXT_POSITION}
    for batch in source.discover(cursor):
        _save_batch(job, batch, search_sources, policy)
        if on_batch is not None:
            on_batch(job)
        if deadline is not None and time.monotonic() > deadline and not source.discover_in_one_step:
            return False  # the cursor is saved: the next step goes on from here
    job.discovery_done = True
    job.save(update_fields=["discovery_done", "updated_at"])
    return True
