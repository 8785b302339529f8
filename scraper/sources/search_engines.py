"""Image search: the result-page parsers (Bing, Google) and the crawl over any search source.

``SearchSource`` runs a job's queries on one ``ImageSearch`` (an API adapter
or a page parser), page by page to the limit or the service's cap, and stops
the source when it fails (``SourceFailure``). ``MultiSearchSource`` takes
turns between several sources, so the same query expansion feeds each and one
that fails does not stop the others.

The page parsers are for endpoints you are allowed to crawl: the public
engines' robots.txt disallow their result pages (and Google builds its page
with JavaScript). Each knows its result-page URL (with the pagination
parameter) and where the page keeps each result's image URL, source page and
title; the base URL comes from settings (``SCRAPER_BING_BASE_URL``,
``SCRAPER_GOOGLE_BASE_URL``), so a mirror or a licensed endpoint can stand in.
"""

from __future__ import annotations

import json
import logging
from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

from bs4 import BeautifulSoup
from django.conf import settings

from emotic.errors import FieldError
from scraper.fetching import FetchRejected, PoliteFetcher, redact_url, status_problem
from scraper.models import RejectReason
from scraper.sources.base import CrawlSource, DiscoveredItem, DiscoveryBatch
from scraper.sources.image_search import (
    FailureReason,
    ImageSearch,
    ResultPage,
    SearchResult,
    SourceFailure,
    body_text,
    detect_wall,
    sample_of,
)
from scraper.sources.queries import SearchQuery
from scraper.validation import url_problem

logger = logging.getLogger(__name__)

# Result pages in a row that could not be read before a source is taken for failing.
MAX_FAILED_PAGES_IN_A_ROW = 3
# An API that says plainly a query has no result is believed, unless it says so of this many queries in a row
# before it has given any result (it answers, but nothing: taken for an empty first page).
MAX_EMPTY_QUERIES_FIRST = 3
PUBLIC_SITES = {"bing": "https://www.bing.com", "google": "https://www.google.com"}


class SearchEngine(ImageSearch):
    """A search engine's result pages, parsed. Only for endpoints you are allowed to crawl (robots.txt is obeyed)."""

    kind = "page"
    max_per_page = 10_000  # the page size comes from SCRAPER_RESULTS_PER_PAGE

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    @classmethod
    def from_settings(cls) -> SearchEngine:
        return cls(settings.SCRAPER_ENGINE_BASE_URLS[cls.name])

    @classmethod
    def unavailable_reason(cls) -> str:
        base = settings.SCRAPER_ENGINE_BASE_URLS.get(cls.name, "").rstrip("/")
        if settings.SCRAPER_OBEY_ROBOTS_TXT and base == PUBLIC_SITES.get(cls.name):
            variable = f"SCRAPER_{cls.name.upper()}_BASE_URL"
            return (
                f"{variable} points at the public site, whose robots.txt disallows its result pages; "
                f"set it to an endpoint you are allowed to crawl, or use an API source (openverse, wikimedia, flickr)"
            )
        return ""

    @abstractmethod
    def page_url(self, query: str, page: int, per_page: int) -> str:
        """The URL of result page ``page`` (0-based)."""

    @abstractmethod
    def parse(self, html: str, page_url: str) -> list[SearchResult]:
        """The results on one page, in rank order."""

    @abstractmethod
    def looks_like_results(self, html: str) -> bool:
        """Whether the page has the engine's result markup (even with no result in it)."""

    def search(
        self, query: str, page: int, per_page: int, token: dict | None, *, fetcher: PoliteFetcher, max_bytes: int
    ) -> ResultPage:
        url = self.page_url(query, page, per_page)
        resource = fetcher.fetch(url, max_bytes=max_bytes)
        html = body_text(resource)
        results = self.parse(html, url) if 200 <= resource.status < 300 else []
        if not results:  # a page with results is a result page, whatever else it says
            wall = detect_wall(resource)
            if wall is not None:
                raise wall
        if resource.status == 429:
            raise SourceFailure(FailureReason.RATE_LIMITED, f"{self.name} answered 429 Too Many Requests after retries", sample_of(resource))
        problem = status_problem(resource)
        if problem is not None:
            raise problem
        return ResultPage(results, more=bool(results), layout_ok=self.looks_like_results(html), sample=sample_of(resource))


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
    label = "Bing result pages"
    terms_url = "https://www.bing.com/robots.txt"

    def looks_like_results(self, html: str) -> bool:
        soup = BeautifulSoup(html, "html.parser")
        return bool(soup.select("a.iusc, .dgControl, .dgControl_list, #mmComponent_images_1"))

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
    label = "Google result pages"
    terms_url = "https://www.google.com/robots.txt"

    def looks_like_results(self, html: str) -> bool:
        soup = BeautifulSoup(html, "html.parser")
        if soup.select("div.rg_meta, #rg_s, .rg_bx, table.images_table"):
            return True
        return any(urlsplit(a["href"]).path.endswith("/imgres") for a in soup.find_all("a", href=True))

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


# The page parsers (scraper/sources/registry.py lists every source, the APIs included).
ENGINES: dict[str, type[SearchEngine]] = {engine.name: engine for engine in (BingImages, GoogleImages)}


def engine_named(name: str, base_urls: dict[str, str]) -> SearchEngine:
    if name not in ENGINES:
        raise FieldError("engine", f"unknown engine {name!r} (known: {', '.join(sorted(ENGINES))})")
    return ENGINES[name](base_urls[name])


@dataclass
class _Position:
    """Where a source's discovery stands: kept in the job's cursor, so it resumes after the last saved batch."""

    query: int = 0
    page: int = 0
    found: int = 0  # results of the current query so far
    token: dict | None = None  # the service's continuation for the next page
    failures: int = 0  # result pages in a row that could not be read
    empties: int = 0  # queries in a row whose first page the service said was empty
    produced: int = 0  # results this source gave in this job, all queries
    stopped: str = ""  # the reason it was stopped; resuming the job clears it

    @classmethod
    def from_cursor(cls, cursor: dict) -> _Position:
        known = {name: cursor[name] for name in cls.__dataclass_fields__ if name in cursor}
        return cls(**known)

    def cursor(self) -> dict:
        values = {
            "query": self.query, "page": self.page, "found": self.found, "failures": self.failures, "empties": self.empties,
            "produced": self.produced,
        }  # fmt: skip
        if self.token:
            values["token"] = self.token
        if self.stopped:
            values["stopped"] = self.stopped
        return values

    def next_query(self) -> None:
        self.query, self.page, self.found, self.token = self.query + 1, 0, 0, None


@dataclass(frozen=True)
class Degradation:
    """A source stopped in this job, with why and a sample of what it answered."""

    source: str
    reason: str
    detail: str
    sample: str


class SearchSource(CrawlSource):
    """Results of several queries on one search source, up to ``limit`` images per query.

    Cursor: ``{"query": i, "page": p, "found": n, "token": …, "failures": f,
    "produced": r}``: the next page to read, how many results the current query
    has given, the service's continuation, result pages in a row that failed,
    and results this source gave so far. A source that fails is stopped
    (``"stopped"``) and yields one batch carrying the ``Degradation``.
    """

    kind = "search"

    def __init__(
        self,
        engine: ImageSearch,
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

    @property
    def name(self) -> str:
        return self.engine.name

    def describe(self) -> str:
        return f"{self.engine.name}: {len(self.queries)} queries, up to {self.limit} images each"

    def _item(self, query: SearchQuery, result: SearchResult, rank: int, page_url: str) -> DiscoveredItem:
        extra = {"engine": self.engine.name, "rank": rank, "query_parts": query.parts, "result_page": page_url}
        extra.update({k: v for k, v in (("width", result.width), ("height", result.height), ("mime", result.mime)) if v})
        licence = f"{result.license} {result.license_version}".strip() if result.license else ""
        known = dict(
            page_url=result.page_url if not url_problem(result.page_url) else "",
            title=result.title[:500],
            query=query.text,
            source_record=query.text,
            folder="web/images",
            license=licence[:300],
            license_url=result.license_url if not url_problem(result.license_url) else "",
            creator=result.creator[:300],
            attribution=result.attribution[:1000],
            extra=extra,
            source_query=query.text,
        )
        if not result.image_url:
            key = f"{self.engine.name}:{result.source_id or result.page_url or f'{query.text} #{rank}'}"
            return DiscoveredItem(
                key=key[:500], original_database="web", rejection=(RejectReason.NO_IMAGE_URL, "the result gives no image URL"), **known
            )
        problem = url_problem(result.image_url)
        if problem:
            return DiscoveredItem(
                key=result.image_url[:500], original_database="web", rejection=(RejectReason.BAD_URL, f"image URL: {problem}"), **known
            )
        return DiscoveredItem(key=result.image_url[:500], original_database="web", image_url=result.image_url, **known)

    def _stop(self, position: _Position, reason: str, detail: str, sample: str = "", page_error: str = "") -> DiscoveryBatch:
        position.stopped = reason
        logger.warning("search source %s stopped: %s: %s", self.engine.name, reason, detail)
        return DiscoveryBatch([], position.cursor(), page_error, degraded=Degradation(self.engine.name, reason, detail, sample))

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        position = _Position.from_cursor(cursor)
        if position.stopped:
            return
        while position.query < len(self.queries):
            query = self.queries[position.query]
            items: list[DiscoveredItem] = []
            page_error = ""
            query_done = position.page >= self.max_pages or position.found >= self.limit
            if not query_done:
                try:
                    answer = self.engine.search(
                        query.text, position.page, self.per_page, position.token, fetcher=self.fetcher, max_bytes=self.max_page_bytes
                    )
                except SourceFailure as failure:
                    yield self._stop(position, failure.reason, f"query {query.text!r}, page {position.page + 1}: {failure.detail}", failure.sample)
                    return
                except FetchRejected as rejected:
                    url = redact_url(rejected.url) if rejected.url else self.engine.name
                    page_error = f"{url}: {rejected.reason}: {rejected.detail}"
                    logger.warning("search page unreadable, moving to the next query: %s", page_error)
                    position.failures += 1
                    if rejected.reason == RejectReason.ROBOTS_TXT:
                        yield self._stop(position, FailureReason.ROBOTS_TXT, f"{url}: {rejected.detail}", page_error=page_error)
                        return
                    if position.failures >= MAX_FAILED_PAGES_IN_A_ROW:
                        detail = f"{position.failures} result pages in a row could not be read; last: {page_error}"
                        yield self._stop(position, FailureReason.FAILING, detail, page_error=page_error)
                        return
                    answer = None
                if answer is not None:
                    position.failures = 0
                    if not answer.results and position.page == 0:
                        stop = self._empty_first_page(position, query, answer)
                        if stop is not None:
                            yield stop
                            return
                    elif answer.results:
                        position.empties = 0
                    for result in answer.results[: self.limit - position.found]:
                        items.append(self._item(query, result, position.found + len(items) + 1, self._page_address(query, position)))
                    position.found += len(items)
                    position.produced += len(items)
                    position.page += 1
                    position.token = answer.next_token
                    query_done = not answer.more or position.found >= self.limit or position.page >= self.max_pages
                else:
                    query_done = True
            if query_done:
                position.next_query()
            if position.query >= len(self.queries) and not position.produced:
                yield DiscoveryBatch(items, position.cursor(), page_error)
                yield self._stop(position, FailureReason.NO_RESULTS, f"none of the {len(self.queries)} queries gave a result")
                return
            yield DiscoveryBatch(items, position.cursor(), page_error)

    def _empty_first_page(self, position: _Position, query: SearchQuery, answer: ResultPage) -> DiscoveryBatch | None:
        """A first page without results stops a page parser at once (an empty page, a changed layout); an API only
        when it did not say plainly that the query has none, or said so of the first queries in a row."""
        if not answer.layout_ok:
            detail = f"query {query.text!r}: the first page has none of the markup results are read from"
            return self._stop(position, FailureReason.LAYOUT_CHANGED, detail, answer.sample)
        if answer.explicit_empty and self.engine.kind == "api":
            position.empties += 1
            if position.produced or position.empties < min(MAX_EMPTY_QUERIES_FIRST, len(self.queries)):
                return None  # the service answers, and this query has nothing: the next one
            detail = f"the first {position.empties} queries in a row have no result (last: {query.text!r}): the service answers, but nothing"
            return self._stop(position, FailureReason.EMPTY_FIRST_PAGE, detail, answer.sample)
        return self._stop(position, FailureReason.EMPTY_FIRST_PAGE, f"query {query.text!r}: the first page has no result", answer.sample)

    def _page_address(self, query: SearchQuery, position: _Position) -> str:
        if isinstance(self.engine, SearchEngine):
            return self.engine.page_url(query.text, position.page, self.per_page)
        return f"{self.engine.name}: {query.text!r} page {position.page + 1}"


class MultiSearchSource(CrawlSource):
    """The same queries on several search sources, a result page from each in turn.

    Cursor: ``{"sources": {name: that source's cursor}, "turn": i}``. A source
    that fails is stopped and the others go on; one that is done is skipped.
    """

    kind = "search"

    def __init__(self, sources: list[SearchSource]):
        self.sources = sources

    def describe(self) -> str:
        names = ", ".join(source.name for source in self.sources)
        first = self.sources[0]
        return f"{names}: {len(first.queries)} queries, up to {first.limit} images each per source"

    def discover(self, cursor: dict) -> Iterator[DiscoveryBatch]:
        positions = {name: dict(value) for name, value in cursor.get("sources", {}).items()}
        turn = cursor.get("turn", 0)
        running = {source.name: source.discover(positions.get(source.name, {})) for source in self.sources}
        order = [source.name for source in self.sources]
        while running:
            name = order[turn % len(order)]
            turn += 1
            if name not in running:
                continue
            batch = next(running[name], None)
            if batch is None:
                del running[name]
                continue
            positions[name] = batch.cursor
            yield DiscoveryBatch(
                batch.items, {"sources": {k: dict(v) for k, v in positions.items()}, "turn": turn % len(order)}, batch.page_error, batch.degraded
            )


def reopen_stopped(cursor: dict) -> tuple[dict, bool]:
    """The cursor with every stopped source asked again from where it stopped; and whether any was."""
    if "sources" in cursor:
        sources, any_stopped = {}, False
        for name, value in cursor["sources"].items():
            sources[name], stopped = reopen_stopped(value)
            any_stopped = any_stopped or stopped
        return {**cursor, "sources": sources}, any_stopped
    if cursor.get("stopped"):
        reopened = {k: v for k, v in cursor.items() if k != "stopped"}
        reopened["failures"] = 0
        if cursor["stopped"] == FailureReason.NO_RESULTS:  # every query again: none gave anything
            reopened.update(query=0, page=0, found=0, token=None)
        return reopened, True
    return cursor, False
