"""Every source behind one interface; ``build_source`` makes the right one for a job."""

from __future__ import annotations

from django.conf import settings

from emotic.errors import FieldError
from scraper.fetching import PoliteFetcher
from scraper.models import CrawlJob
from scraper.sources.ade20k import Ade20kSource
from scraper.sources.base import CrawlSource, DiscoveredItem, DiscoveryBatch, SourceError
from scraper.sources.coco import CocoSource
from scraper.sources.folder import FolderSource
from scraper.sources.queries import SearchQuery
from scraper.sources.registry import SEARCH_SOURCES, check_daily_quota, page_cap, page_size, search_source_named
from scraper.sources.search_engines import MultiSearchSource, SearchSource
from scraper.sources.url_list import UrlListSource

__all__ = ["CrawlSource", "DiscoveredItem", "DiscoveryBatch", "SourceError", "build_source", "search_engine_names"]


def search_engine_names(params: dict) -> tuple[list, str]:
    """The search sources a job names (``engines``, or the older single ``engine``) and the parameter that names them."""
    if "engines" in params:
        engines = params["engines"]
        return (list(engines) if isinstance(engines, (list, tuple)) else [engines]), "engines"
    return [params.get("engine", "")], "engine"


def _check_names(names: list, field: str) -> None:
    if not names or not all(isinstance(name, str) and name for name in names):
        raise SourceError(field, f"choose at least one of {', '.join(SEARCH_SOURCES)}")
    for name in names:
        if name not in SEARCH_SOURCES:
            raise SourceError(field, f"unknown engine {name!r} (known: {', '.join(sorted(SEARCH_SOURCES))})")
    if len(set(names)) != len(names):
        raise SourceError(field, "names a source twice")


def build_source(kind: str, params: dict, fetcher: PoliteFetcher | None = None) -> CrawlSource:
    """The source for a job's kind and parameters; errors name the parameter.

    Also checks the licence policy (``licenses``, ``unknown_license``), and for
    a search, each source's key and daily quota: a query expansion that needs
    more requests than a source allows a day is refused here, with the figures.
    """
    from scraper.services.licensing import LicensePolicy

    try:
        policy = LicensePolicy.for_params(params)
    except FieldError as error:
        raise SourceError(error.field, error.reason) from None
    if kind == CrawlJob.Kind.SEARCH:
        queries = [SearchQuery.from_json(q) for q in params.get("queries", [])]
        names, field = search_engine_names(params)
        if field == "engine" or any(name not in SEARCH_SOURCES for name in names):  # a name at fault is named first
            _check_names(names, field)
        if not queries:
            raise SourceError("queries", "give at least one query")
        limit = params.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SourceError("limit", f"must be a whole number of at least 1, got {limit!r}")
        _check_names(names, field)
        fetcher = fetcher or PoliteFetcher.from_settings()
        sources = []
        for name in names:
            engine = search_source_named(name, field)
            engine.set_license_policy(policy.allowed)
            check_daily_quota(engine, queries, limit)
            per_page = page_size(engine, limit)
            sources.append(
                SearchSource(
                    engine,
                    queries,
                    limit=limit,
                    fetcher=fetcher,
                    per_page=per_page,
                    max_pages=page_cap(engine, per_page),
                    max_page_bytes=settings.SCRAPER_MAX_PAGE_BYTES,
                )
            )
        return sources[0] if field == "engine" else MultiSearchSource(sources)
    path = params.get("path", "")
    if not path:
        raise SourceError("path", "give the file or folder to import")
    if kind == CrawlJob.Kind.COCO:
        return CocoSource(path, images_dir=params.get("images_dir", ""))
    if kind == CrawlJob.Kind.ADE20K:
        return Ade20kSource(path)
    if kind == CrawlJob.Kind.EMOTIC:
        from scraper.sources.emotic_mat import EmoticSource

        return EmoticSource(path, images_root=params.get("images_root", ""))
    if kind == CrawlJob.Kind.FOLDER:
        return FolderSource(path, **_naming(params))
    if kind == CrawlJob.Kind.URLS:
        return UrlListSource(path, **_naming(params, default_database="web", default_folder="web/images"))
    raise SourceError("kind", f"unknown job kind {kind!r}")


def _naming(params: dict, *, default_database: str = "local", default_folder: str = "") -> dict:
    return {
        "original_database": params.get("original_database") or default_database,
        "folder": params.get("folder") or default_folder,
    }
