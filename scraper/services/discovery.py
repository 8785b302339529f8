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
from scraper.sources import DiscoveredItem, DiscoveryBatch, build_source

logger = logging.getLogger(__name__)

MAX_PAGE_ERRORS_KEPT = 100
NEXT_POSITION = "_next_position"


def _clip(value: str, length: int) -> str:
    return value if len(value) <= length else value[: length - 1] + "…"


class _SearchSources:
    """One Source row per (engine, query), as the Source model describes a search."""

    def __init__(self, engine: str):
        self.engine = engine
        self._by_query: dict[str, Source] = {}

    def for_query(self, query: str) -> Source:
        if query not in self._by_query:
            self._by_query[query] = search_source(self.engine, query)
        return self._by_query[query]


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


def _save_batch(job: CrawlJob, batch: DiscoveryBatch, search_sources: _SearchSources | None) -> None:
    position = job.discovery_cursor.get(NEXT_POSITION, 0)
    rows = []
    for item in batch.items:
        source = search_sources.for_query(item.source_query) if search_sources else job.source
        rows.append(_row(job, source, position, item))
        position += 1
    with transaction.atomic():
        CrawlItem.objects.bulk_create(rows, ignore_conflicts=True, batch_size=500)
        job.discovery_cursor = {**batch.cursor, NEXT_POSITION: position}
        if batch.page_error:
            job.page_errors = (job.page_errors + [batch.page_error])[-MAX_PAGE_ERRORS_KEPT:]
        job.found = job.items.count()
        job.save(update_fields=["discovery_cursor", "page_errors", "found", "updated_at"])


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
    search_sources = _SearchSources(job.params["engine"]) if job.kind == CrawlJob.Kind.SEARCH else None
    cursor = {k: v for k, v in job.discovery_cursor.items() if k != NEXT_POSITION}
    for batch in source.discover(cursor):
        _save_batch(job, batch, search_sources)
        if on_batch is not None:
            on_batch(job)
        if deadline is not None and time.monotonic() > deadline:
            return False  # the cursor is saved: the next step goes on from here
    job.discovery_done = True
    job.save(update_fields=["discovery_done", "updated_at"])
    return True
