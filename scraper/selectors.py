"""Reads of crawl jobs for the other parts (the researcher API)."""

from __future__ import annotations

from django.db.models import QuerySet

from scraper.models import CrawlJob


def crawl_jobs(*, state: str | None = None, kind: str | None = None) -> QuerySet[CrawlJob]:
    """The crawl jobs, newest first, filtered (None: any)."""
    rows = CrawlJob.objects.order_by("-id")
    if state is not None:
        rows = rows.filter(state=state)
    if kind is not None:
        rows = rows.filter(kind=kind)
    return rows
