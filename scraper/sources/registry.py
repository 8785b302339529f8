"""Every search source, by name: the APIs first, then the page parsers (for endpoints you may crawl).

A new source is one file under ``scraper/sources/`` (a subclass of
``scraper.sources.image_search.ImageSearch``) and one line here.
"""

from __future__ import annotations

import math

from django.conf import settings

from scraper.sources.base import SourceError
from scraper.sources.flickr import FlickrImages
from scraper.sources.image_search import ImageSearch
from scraper.sources.openverse import OpenverseImages
from scraper.sources.queries import SearchQuery
from scraper.sources.search_engines import ENGINES
from scraper.sources.wikimedia import WikimediaCommonsImages

SEARCH_SOURCES: dict[str, type[ImageSearch]] = {
    source.name: source for source in (OpenverseImages, WikimediaCommonsImages, FlickrImages, *ENGINES.values())
}


def search_source_named(name: object, field: str = "engines") -> ImageSearch:
    """The source configured from settings; a ``SourceError`` on ``field`` when unknown or unavailable."""
    if not isinstance(name, str) or name not in SEARCH_SOURCES:
        raise SourceError(field, f"unknown engine {name!r} (known: {', '.join(sorted(SEARCH_SOURCES))})")
    reason = SEARCH_SOURCES[name].unavailable_reason()
    if reason:
        raise SourceError(field, f"{name} is unavailable: {reason}")
    return SEARCH_SOURCES[name].from_settings()


def page_size(source: ImageSearch, limit: int) -> int:
    """Results asked a page: the page parsers use ``SCRAPER_RESULTS_PER_PAGE``; an API as many as the limit needs, up to its most."""
    return settings.SCRAPER_RESULTS_PER_PAGE if source.kind == "page" else source.per_page(limit)


def page_cap(source: ImageSearch, per_page: int) -> int:
    """Pages read a query: ``SCRAPER_MAX_RESULT_PAGES``, or fewer where the service pages less deep."""
    cap = source.page_cap(per_page)
    return min(settings.SCRAPER_MAX_RESULT_PAGES, cap) if cap else settings.SCRAPER_MAX_RESULT_PAGES


def check_daily_quota(source: ImageSearch, queries: list[SearchQuery], limit: int) -> None:
    """Refuse a job whose queries would need more requests than the source allows a day, with the figures."""
    if not source.daily_quota:
        return
    per_page = page_size(source, limit)
    pages = source.requests_per_query(limit, per_page, page_cap(source, per_page))
    needed = len(queries) * pages + source.setup_requests()
    if needed > source.daily_quota:
        most = max(1, (source.daily_quota - source.setup_requests()) // pages)
        setup = f" + {source.setup_requests()}" if source.setup_requests() else ""
        raise SourceError(
            "queries",
            f"{source.name}: {len(queries):,} queries x {pages} page(s) of {per_page} (limit {limit}){setup} = {needed:,} requests, "
            f"more than its daily quota of {source.daily_quota:,} ({source.quota_setting}); at most {most:,} such queries fit "
            f"in a day (about {math.ceil(needed / source.daily_quota)} days' worth): use fewer words, a lower limit, or split the job",
        )
