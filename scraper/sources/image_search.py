"""The one interface every image search source implements, and how a source fails loudly.

A search source is a small class: a query and a page in, a ``ResultPage`` out.
Each result carries what the service says about the image: its URL, the page
it is shown on, its title, its licence (as the service names it, with the
licence's URL when given), its creator and the attribution line the service
suggests, and its size and type when known. The class also says what the
service allows: results per page (``max_per_page``), how deep it pages
(``max_results``, ``max_pages``), the least time between requests
(``min_interval``), requests a day (``daily_quota``) and where its terms are.
Keys and tokens come from settings (the environment); a class whose key is
missing says why in ``unavailable_reason``, and the admin shows it.

A new service (a keyed commercial image-search API) is one more file: subclass
``ImageSearch``, fill in ``search`` and ``from_settings``, and add the class
to ``scraper/sources/registry.py``. ``SearchSource`` does the rest: paging
to the limit or the cap, the licence filter, the cursor, and stopping the
source when it fails.

Failing loudly: a source that answers with a captcha, a consent or login
wall, a quota or rate-limit error, a refused key, a response it cannot read
(a changed layout) or an empty first page raises ``SourceFailure`` with a
reason and a sample of what it got. The job records it, stops asking that
source, and goes on with the others; it never ends as "done" because of it.
"""

from __future__ import annotations

import json
import math
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from urllib.parse import urlsplit

from scraper.fetching import FetchedResource, PoliteFetcher, redact_url

SAMPLE_CHARS = 2000


class FailureReason:
    """Why a source was stopped (``CrawlJob.degraded_sources[...]["reason"]``)."""

    CAPTCHA = "captcha"
    CONSENT_WALL = "consent_wall"
    LOGIN_WALL = "login_wall"
    BLOCKED = "blocked"  # refused outright (a User-Agent policy, an address ban)
    RATE_LIMITED = "rate_limited"
    QUOTA = "quota_exhausted"
    KEY_REJECTED = "key_rejected"
    LAYOUT_CHANGED = "layout_changed"
    EMPTY_FIRST_PAGE = "empty_first_page"
    ROBOTS_TXT = "robots_txt"
    FAILING = "failing"  # result pages in a row that could not be read
    NO_RESULTS = "no_results"  # every query ended without a single result
    API_ERROR = "api_error"


class SourceFailure(Exception):
    """The source stopped working: stop asking it, and say why with what it answered."""

    def __init__(self, reason: str, detail: str, sample: str = ""):
        self.reason, self.detail, self.sample = reason, detail, sample[:SAMPLE_CHARS]
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class SearchResult:
    """One result, as the service gave it. Only ``image_url`` is needed to fetch it (an empty one is counted)."""

    image_url: str
    page_url: str = ""
    title: str = ""
    license: str = ""  # the licence as the service names it (a name, or a code such as Openverse's "by-sa")
    license_version: str = ""
    license_url: str = ""
    creator: str = ""
    attribution: str = ""
    width: int | None = None
    height: int | None = None
    mime: str = ""
    source_id: str = ""  # the service's id of the image (for the item's key when it has no URL)


@dataclass(frozen=True)
class ResultPage:
    results: list[SearchResult]
    more: bool  # a next page exists
    next_token: dict | None = None  # what the next request needs (a continuation), kept in the job's cursor
    total: int | None = None  # results the service says the query has
    explicit_empty: bool = False  # the service said, in a well-formed answer, that the query has no result
    layout_ok: bool = True  # the answer looked like a result page, even without results
    sample: str = ""  # what was received, shown when an empty first page stops the source


class ImageSearch(ABC):
    """A search service. Subclasses: the APIs (Openverse, Wikimedia Commons, Flickr) and the page parsers."""

    name: str  # in params, on Source rows and items
    label: str
    #: "api": a service offered for programmatic use; "page": result pages parsed, only for endpoints you may crawl
    kind: str = "api"
    max_per_page: int = 20
    max_results: int | None = None  # the deepest result the service pages to
    max_pages: int | None = None  # the most pages it serves a query
    min_interval: float = 0.0  # seconds between requests
    daily_quota: int | None = None  # requests a day; None: none published
    quota_setting: str = ""  # the setting that holds it
    terms_url: str = ""
    docs_url: str = ""
    license_policy: str | list[str] = "any"  # set by the job (set_license_policy)

    @classmethod
    def unavailable_reason(cls) -> str:
        """Why the source cannot be used with today's settings (a missing key), or "" when it can."""
        return ""

    @classmethod
    @abstractmethod
    def from_settings(cls) -> ImageSearch:
        """The source configured from settings (keys, base URLs, limits)."""

    @abstractmethod
    def search(
        self, query: str, page: int, per_page: int, token: dict | None, *, fetcher: PoliteFetcher, max_bytes: int
    ) -> ResultPage:
        """Results ``page`` (0-based) of ``query``; ``token`` is the previous page's ``next_token``.

        Raises ``SourceFailure`` when the source stopped working, ``FetchRejected``
        for one page that could not be read (the crawl goes on with the next query).
        """

    # --- what the crawl needs to know -------------------------------------------------
    def per_page(self, limit: int) -> int:
        return max(1, min(self.max_per_page, limit))

    def page_cap(self, per_page: int) -> int | None:
        caps = [self.max_pages] if self.max_pages else []
        if self.max_results:
            caps.append(max(1, self.max_results // per_page))
        return min(caps) if caps else None

    def requests_per_query(self, limit: int, per_page: int, max_pages: int) -> int:
        pages = math.ceil(limit / per_page)
        return max(1, min(pages, max_pages))

    def setup_requests(self) -> int:
        """Requests made once per job besides the result pages (a token, a licence table)."""
        return 0

    def set_license_policy(self, policy: str | list[str]) -> None:
        """Ask the service for these licences only, where it can filter (the crawl checks each result anyway)."""
        self.license_policy = policy

    def describe_limits(self) -> str:
        parts = [f"{self.max_per_page} a page"]
        if self.max_pages:
            parts.append(f"{self.max_pages} pages a query")
        if self.max_results:
            parts.append(f"{self.max_results:,} results a query")
        if self.min_interval:
            parts.append(f"{self.min_interval:g} s between requests")
        parts.append(f"{self.daily_quota:,} requests a day" if self.daily_quota else "no published daily quota")
        return ", ".join(parts)


# --- reading what came back -----------------------------------------------------------------
def body_text(resource: FetchedResource) -> str:
    return resource.content.decode("utf-8", "replace")


def sample_of(resource: FetchedResource) -> str:
    """What the source answered, for the admin: status, address, type, the start of the body."""
    kind = resource.headers.get("content-type", "")
    retry = resource.headers.get("retry-after", "")
    head = f"HTTP {resource.status} from {redact_url(resource.url)}" + (f" ({kind})" if kind else "") + (f", Retry-After: {retry}" if retry else "")
    return f"{head}\n{body_text(resource)[:SAMPLE_CHARS]}"


_CAPTCHA = re.compile(
    r"captcha|unusual traffic|are you a robot|not a robot|verify (?:that )?you are (?:a )?human|cf-challenge|challenge-platform"
    r"|/sorry/index",
    re.IGNORECASE,
)
_CONSENT = re.compile(r"before you continue|consent\.(?:google|yahoo|bing)\.|cookie consent|accept (?:all )?cookies", re.IGNORECASE)
_LOGIN = re.compile(r"(?:sign|log) ?in to continue|please (?:sign|log) ?in|accounts\.google\.com/(?:service)?login", re.IGNORECASE)
_UA_POLICY = re.compile(r"user-agent policy|informative user-agent", re.IGNORECASE)


def detect_wall(resource: FetchedResource) -> SourceFailure | None:
    """A captcha, consent or login wall, or a refusal of our client, where results were expected; else None."""
    host = (urlsplit(resource.url).hostname or "").lower()
    path = urlsplit(resource.url).path.lower()
    text = body_text(resource)[:200_000]
    sample = sample_of(resource)
    where = redact_url(resource.url)
    if host.startswith("consent.") or _CONSENT.search(text):
        return SourceFailure(FailureReason.CONSENT_WALL, f"a consent page instead of results ({where})", sample)
    if "/sorry/" in path or _CAPTCHA.search(text):
        return SourceFailure(FailureReason.CAPTCHA, f"a captcha instead of results ({where})", sample)
    if host.startswith(("accounts.", "login.")) or "/login" in path or "/signin" in path or _LOGIN.search(text):
        return SourceFailure(FailureReason.LOGIN_WALL, f"a log-in page instead of results ({where})", sample)
    if resource.status == 403 and _UA_POLICY.search(text):
        return SourceFailure(FailureReason.BLOCKED, f"our client was refused (HTTP 403 naming the User-Agent policy) at {where}", sample)
    return None


def json_answer(resource: FetchedResource, service: str) -> object:
    """The JSON body; a wall or anything else that is not JSON stops the source (the layout changed)."""
    try:
        return json.loads(resource.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        wall = detect_wall(resource)
        if wall is not None:
            raise wall from None
        raise SourceFailure(
            FailureReason.LAYOUT_CHANGED, f"{service} answered HTTP {resource.status} with something that is not JSON", sample_of(resource)
        ) from None


def require(condition: bool, service: str, what: str, resource: FetchedResource) -> None:
    """The answer has the shape the service documents, or the source stops (a changed layout) showing what came."""
    if not condition:
        raise SourceFailure(FailureReason.LAYOUT_CHANGED, f"{service}'s answer has no {what}: its layout changed", sample_of(resource))


def retry_after_seconds(resource: FetchedResource) -> float | None:
    value = resource.headers.get("retry-after", "").strip()
    if value.isdigit():
        return float(value)
    return None

