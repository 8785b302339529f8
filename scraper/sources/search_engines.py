"""Image search engines: their result pages parsed with BeautifulSoup into image URLs.

Each engine is a small class that knows its result-page URL (with the
pagination parameter) and where the page keeps each result's image URL,
source page and title. The base URL comes from settings, so a mirror, a
licensed endpoint or a test server can stand in for the public site.
"""

from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup

from emotic.errors import FieldError
from scraper.fetching import FetchRejected, PoliteFetcher
from scraper.sources.base import CrawlSource, DiscoveredItem, DiscoveryBatch
from scraper.sources.queries import SearchQuery
from scraper.validation import url_problem

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SearchResult:
    image_url: str
    page_url: str
    title: str


class SearchEngine(ABC):
    name: str

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    @abstractmethod
    def page_url(self, query: str, page: int, per_page: int) -> str:
        """The URL of result page ``page`` (0-based)."""

    @abstractmethod
    def parse(self, html: str, page_url: str) -> list[SearchResult]:
        """The results on one page, in rank order."""


def _json_attribute(raw: str | None, where: str) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        logger.warning("%s: result metadata is not JSON (%s); result skipped", where, error.msg)
        return None
    return value if isinstance(value, dict) else None


def _result(results_page: str, image_url: str, source_page: str, title: str) -> SearchResult:
    """One result, its URLs resolved against the result page they were read from."""
    return SearchResult(
        image_url=urljoin(results_page, image_url),
        page_url=urljoin(results_page, source_page) if source_page else "",
        title=title[:500],
    )


class BingImages(SearchEngine):
    """Bing image search: each result is ``<a class="iusc" m='{"murl":…,"purl":…,"t":…}'>``."""

    name = "bing"

    def page_url(self, query: str, page: int, per_page: int) -> str:
        params = {"q": query, "first": page * per_page + 1, "count": per_page, "form": "HDRSC2"}
        return f"{self.base_url}/images/search?{urlencode(params)}"

    def parse(self, html: str, page_url: str) -> list[SearchResult]:
        results = []
        for anchor in BeautifulSoup(html, "html.parser").select("a.iusc"):
            meta = _json_attribute(anchor.get("m"), page_url)
            if meta and meta.get("murl"):
                results.append(_result(page_url, str(meta["murl"]), str(meta.get("purl") or ""), str(meta.get("t", ""))))
        return results


class GoogleImages(SearchEngine):
    """Google image search, in either of the markups it serves to clients without JavaScript.

    The classic page keeps each result's metadata in ``<div class="rg_meta">{"ou":…,"ru":…,"pt":…}</div>``;
    the basic-HTML page (``gbv=1``) links each thumbnail to
    ``/imgres?imgurl=<image>&imgrefurl=<page>``. A page with ``rg_meta`` blocks is read from them only,
    since its thumbnails link to the same results.
    """

    name = "google"

    def page_url(self, query: str, page: int, per_page: int) -> str:
        params = {"q": query, "tbm": "isch", "ijn": page, "start": page * per_page}
        return f"{self.base_url}/search?{urlencode(params)}"

    def parse(self, html: str, page_url: str) -> list[SearchResult]:
        soup = BeautifulSoup(html, "html.parser")
        blocks = soup.select("div.rg_meta")
        if blocks:
            return self._parse_classic(blocks, page_url)
        return self._parse_basic(soup, page_url)

    @staticmethod
    def _parse_classic(blocks, page_url: str) -> list[SearchResult]:
        results = []
        for block in blocks:
            meta = _json_attribute(block.get_text(), page_url)
            if meta and meta.get("ou"):
                results.append(_result(page_url, str(meta["ou"]), str(meta.get("ru") or ""), str(meta.get("pt", ""))))
        return results

    @staticmethod
    def _parse_basic(soup: BeautifulSoup, page_url: str) -> list[SearchResult]:
        results, seen = [], set()
        for anchor in soup.find_all("a", href=True):
            link = urlsplit(urljoin(page_url, anchor["href"]))
            if not link.path.endswith("/imgres"):
                continue
            params = parse_qs(link.query)
            image_url = (params.get("imgurl") or [""])[0]
            if not image_url or image_url in seen:
                continue
            seen.add(image_url)
            image = anchor.find("img")
            title = anchor.get_text(" ", strip=True) or (image.get("alt", "") if image else "")
            results.append(_result(page_url, image_url, (params.get("imgrefurl") or [""])[0], str(title)))
        return results


ENGINES: dict[str, type[SearchEngine]] = {engine.name: engine for engine in (BingImages, GoogleImages)}


def engine_named(name: str, base_urls: dict[str, str]) -> SearchEngine:
    if name not in ENGINES:
        raise FieldError("engine", f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    return ENGINES[name](base_urls[name])


class SearchSource(CrawlSource):
    """Results of several queries on one engine, up to ``limit`` images per query.

    Cursor: ``{"query": i, "page": p, "found": n}``, the next page to read and
    how many results the current query has given so far.
    """

    kind = "search"

    def __init__(
        self,
        engine: SearchEngine,
        queries: list[SearchQuery],
        *,
        limit: int,
        fetcher: PoliteFetcher,
        per_page: int,
        max_pages: int,
        max_page_bytes: int,
    ):
        self.engine = engine
        self.queries = queries
        self.limit = limit
        self.fetcher = fetcher
        self.per_page = per_page
        self.max_pages = max_pages
        self.max_page_bytes = max_page_bytes

    def describe(self) -> str:
        return f"{self.engine.name}: {len(self.queries)} queries, up to {self.limit} images each"

    def _item(self, query: SearchQuery, result: SearchResult, rank: int, page_url: str) -> DiscoveredItem:
        known = dict(
            page_url=result.page_url if not url_problem(result.page_url) else "",
            title=result.title,
            query=query.text,
            source_record=query.text,
            folder="web/images",
            extra={"engine": self.engine.name, "rank": rank, "query_parts": query.parts, "result_page": page_url},
            source_query=query.text,
        )
        problem = url_problem(result.image_url)
        if problem:
            return DiscoveredItem(
                key=result.image_url[:500], original_database="web", rejection=("bad_url", f"image URL: {problem}"), **known
            )
        return DiscoveredItem(key=result.image_url[:500], original_database="web", image_url=result.image_url, **known)

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        query_index, page, found = cursor.get("query", 0), cursor.get("page", 0), cursor.get("found", 0)
        while query_index < len(self.queries):
            query = self.queries[query_index]
            items: list[DiscoveredItem] = []
            page_error = ""
            query_done = page >= self.max_pages or found >= self.limit
            if not query_done:
                url = self.engine.page_url(query.text, page, self.per_page)
                try:
                    html = self.fetcher.fetch_page(url, max_bytes=self.max_page_bytes).content.decode("utf-8", "replace")
                    results = self.engine.parse(html, url)
                except FetchRejected as rejected:
                    page_error = f"{url}: {rejected.reason}: {rejected.detail}"
                    logger.warning("search page unreadable, moving to the next query: %s", page_error)
                    results = []
                for result in results[: self.limit - found]:
                    items.append(self._item(query, result, found + len(items) + 1, url))
                found += len(items)
                page += 1
                # An empty page is the last one.
                query_done = page_error != "" or not results or found >= self.limit or page >= self.max_pages
            if query_done:
                query_index, page, found = query_index + 1, 0, 0
            yield DiscoveryBatch(items, {"query": query_index, "page": page, "found": found}, page_error)
