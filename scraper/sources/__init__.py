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
from scraper.sources.search_engines import SearchSource, engine_named
from scraper.sources.url_list import UrlListSource

__all__ = ["CrawlSource", "DiscoveredItem", "DiscoveryBatch", "SourceError", "build_source"]


def build_source(kind: str, params: dict, fetcher: PoliteFetcher | None = None) -> CrawlSource:
    """The source for a job's kind and parameters; errors name the parameter."""
    if kind == CrawlJob.Kind.SEARCH:
        try:
            engine = engine_named(params.get("engine", ""), settings.SCRAPER_ENGINE_BASE_URLS)
        except FieldError as error:
            raise SourceError(error.field, error.reason) from None
        queries = [SearchQuery.from_json(q) for q in params.get("queries", [])]
        if not queries:
            raise SourceError("queries", "give at least one query")
        limit = params.get("limit")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise SourceError("limit", f"must be a whole number of at least 1, got {limit!r}")
        return SearchSource(
            engine,
            queries,
            limit=limit,
            fetcher=fetcher or PoliteFetcher.from_settings(),
            per_page=settings.SCRAPER_RESULTS_PER_PAGE,
            max_pages=settings.SCRAPER_MAX_RESULT_PAGES,
            max_page_bytes=settings.SCRAPER_MAX_PAGE_BYTES,
        )
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
