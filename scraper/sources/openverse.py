"""Openverse (openly licensed images from Flickr, Wikimedia Commons and many more) through its API.

``GET {OPENVERSE_API_URL}/images/?q=…&page=…&page_size=…`` answers
``{"result_count", "page_count", "page_size", "page", "results": [...]}``;
each result has ``url``, ``foreign_landing_url``, ``title``, ``creator``,
``license`` (a code: ``by``, ``by-sa``, ``cc0``, ``pdm``…), ``license_version``,
``license_url``, ``attribution``, ``width``, ``height`` and ``filetype``
(https://api.openverse.org/v1/#tag/images/operation/images_search).

Limits (https://docs.openverse.org/api/reference/authentication_and_throttling.html):
anonymously at most 20 results a page (more is a 401) and a few requests a
minute and a couple of hundred a day; with OAuth2 client credentials
(``OPENVERSE_CLIENT_ID``, ``OPENVERSE_CLIENT_SECRET``; a token from ``POST
/auth_tokens/token/`` with ``grant_type=client_credentials``, kept in this
process only and renewed when it runs out or is refused) up to 500 a page
and 10,000 requests a day. Every search pages at most 20 deep. Its terms
forbid scraping the catalogue and working around the rate limits: the job's
daily-quota check and the paced requests keep a crawl within them.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings

from emotic.licenses import CC_CODES
from scraper.fetching import FetchedResource, PoliteFetcher, status_problem
from scraper.sources.image_search import (
    FailureReason,
    ImageSearch,
    ResultPage,
    SearchResult,
    SourceFailure,
    detect_wall,
    json_answer,
    require,
    retry_after_seconds,
    sample_of,
)

ANONYMOUS_PAGE_SIZE = 20
AUTHENTICATED_PAGE_SIZE = 500
PAGE_DEPTH = 20  # the API's MAX_PAGINATION_DEPTH
ANONYMOUS_DAILY_QUOTA = 200
AUTHENTICATED_DAILY_QUOTA = 10_000
_JSON = {"Accept": "application/json"}
# Bearer tokens by (API, client id): this process only, never in the database or a job's cursor.
_tokens: dict[tuple[str, str], tuple[str, float]] = {}


class OpenverseImages(ImageSearch):
    name = "openverse"
    label = "Openverse API"
    max_pages = PAGE_DEPTH
    quota_setting = "OPENVERSE_DAILY_QUOTA"
    terms_url = "https://docs.openverse.org/terms_of_service.html"
    docs_url = "https://api.openverse.org/v1/"

    def __init__(
        self,
        api_url: str,
        *,
        client_id: str = "",
        client_secret: str = "",
        min_interval: float = 1.0,
        daily_quota: int | None = None,
    ):
        self.api_url = api_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.max_per_page = AUTHENTICATED_PAGE_SIZE if self.authenticated else ANONYMOUS_PAGE_SIZE
        self.min_interval = min_interval
        self.daily_quota = daily_quota or (AUTHENTICATED_DAILY_QUOTA if self.authenticated else ANONYMOUS_DAILY_QUOTA)
        self.license_policy: str | list[str] = "any"

    @property
    def authenticated(self) -> bool:
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_settings(cls) -> OpenverseImages:
        return cls(
            settings.OPENVERSE_API_URL,
            client_id=settings.OPENVERSE_CLIENT_ID,
            client_secret=settings.OPENVERSE_CLIENT_SECRET,
            min_interval=settings.OPENVERSE_MIN_INTERVAL_SECONDS,
            daily_quota=settings.OPENVERSE_DAILY_QUOTA,
        )

    @classmethod
    def unavailable_reason(cls) -> str:
        given = {"OPENVERSE_CLIENT_ID": settings.OPENVERSE_CLIENT_ID, "OPENVERSE_CLIENT_SECRET": settings.OPENVERSE_CLIENT_SECRET}
        missing = [name for name, value in given.items() if not value]
        if len(missing) == 1:
            other = next(name for name in given if name not in missing)
            return f"{missing[0]} is not set ({other} is): give both, or neither for anonymous use"
        return ""

    def setup_requests(self) -> int:
        return 1 if self.authenticated else 0

    def describe_limits(self) -> str:
        who = "with client credentials" if self.authenticated else "anonymous (OPENVERSE_CLIENT_ID/SECRET unset)"
        return f"{who}: {super().describe_limits()}"

    # --- the licence filter the API applies ---------------------------------------------
    def _license_params(self) -> dict[str, str]:
        policy = self.license_policy
        if isinstance(policy, list):
            codes = [code for code in policy if code in (*CC_CODES, "cc0", "pdm")]
            return {"license": ",".join(codes)} if codes else {}
        if policy == "commercial":
            return {"license_type": "commercial"}
        if policy == "commercial-modification":
            return {"license_type": "commercial,modification"}
        return {}  # every licence Openverse has allows redistribution

    # --- requests -------------------------------------------------------------------------
    def _token(self, fetcher: PoliteFetcher, *, renew: bool = False) -> str:
        key = (self.api_url, self.client_id)
        cached = _tokens.get(key)
        if cached and not renew and cached[1] > time.monotonic():
            return cached[0]
        resource = fetcher.fetch(
            f"{self.api_url}/auth_tokens/token/",
            max_bytes=64 * 1024,
            obey_robots=False,
            headers=_JSON,
            min_interval=self.min_interval,
            method="POST",
            data={"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret},
        )
        if resource.status in (400, 401, 403):
            answer = json_answer(resource, "Openverse")
            error = answer.get("error", "") if isinstance(answer, dict) else ""
            raise SourceFailure(
                FailureReason.KEY_REJECTED,
                f"Openverse refused the client credentials (OPENVERSE_CLIENT_ID, OPENVERSE_CLIENT_SECRET): {error or resource.status}",
                sample_of(resource),
            )
        self._refuse_status(resource)
        answer = json_answer(resource, "Openverse")
        require(isinstance(answer, dict) and isinstance(answer.get("access_token"), str), "Openverse", "access_token", resource)
        expires_in = answer.get("expires_in") if isinstance(answer.get("expires_in"), int) else 3600
        _tokens[key] = (answer["access_token"], time.monotonic() + max(0, expires_in - 60))
        return answer["access_token"]

    def _refuse_status(self, resource: FetchedResource) -> None:
        if resource.status >= 400 and (wall := detect_wall(resource)) is not None:
            raise wall
        if resource.status == 429:
            wait = retry_after_seconds(resource)
            reason = FailureReason.QUOTA if wait and wait > 3600 else FailureReason.RATE_LIMITED
            raise SourceFailure(reason, "Openverse answered 429 Too Many Requests after retries" + (f" (Retry-After {wait:g} s)" if wait else ""), sample_of(resource))
        problem = status_problem(resource)
        if problem is not None and resource.status >= 500:
            raise problem  # this page failed; the next query tries again
        if problem is not None:
            answer_detail = _detail(resource)
            raise SourceFailure(FailureReason.API_ERROR, f"Openverse refused the request (HTTP {resource.status}): {answer_detail}", sample_of(resource))

    def search(
        self, query: str, page: int, per_page: int, token: dict | None, *, fetcher: PoliteFetcher, max_bytes: int
    ) -> ResultPage:
        params = {"q": query, "page": page + 1, "page_size": per_page, **self._license_params()}
        url = f"{self.api_url}/images/?{urlencode(params)}"
        renewed = False
        while True:
            headers = dict(_JSON)
            if self.authenticated:
                headers["Authorization"] = f"Bearer {self._token(fetcher, renew=renewed)}"
            resource = fetcher.fetch(url, max_bytes=max_bytes, obey_robots=False, headers=headers, min_interval=self.min_interval)
            if resource.status == 401 and self.authenticated and not renewed:
                renewed = True  # the token ran out or was revoked: one new one, then the refusal stands
                continue
            break
        if resource.status == 401 and (wall := detect_wall(resource)) is not None:
            raise wall
        if resource.status == 401:
            who = "the token from OPENVERSE_CLIENT_ID/SECRET" if self.authenticated else "an anonymous request"
            raise SourceFailure(FailureReason.KEY_REJECTED, f"Openverse refused {who} (401): {_detail(resource)}", sample_of(resource))
        self._refuse_status(resource)
        answer = json_answer(resource, "Openverse")
        require(isinstance(answer, dict) and isinstance(answer.get("results"), list), "Openverse", "results list", resource)
        require(isinstance(answer.get("result_count"), int), "Openverse", "result_count", resource)
        results = [_result(entry) for entry in answer["results"] if isinstance(entry, dict)]
        page_count = answer.get("page_count") if isinstance(answer.get("page_count"), int) else 0
        return ResultPage(
            results,
            more=bool(results) and page + 1 < min(page_count, PAGE_DEPTH),
            total=answer["result_count"],
            explicit_empty=answer["result_count"] == 0,
            sample=sample_of(resource),
        )


def _detail(resource: FetchedResource) -> str:
    try:
        answer = json_answer(resource, "Openverse")
    except SourceFailure:
        return f"HTTP {resource.status}"
    detail = answer.get("detail", answer) if isinstance(answer, dict) else answer
    text = str(detail)
    return text if len(text) <= 300 else text[:297] + "..."


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _result(entry: dict) -> SearchResult:
    text = lambda key: str(entry.get(key) or "")  # noqa: E731
    filetype = text("filetype")
    return SearchResult(
        image_url=text("url"),
        page_url=text("foreign_landing_url"),
        title=text("title"),
        license=text("license"),
        license_version=text("license_version"),
        license_url=text("license_url"),
        creator=text("creator"),
        attribution=text("attribution"),
        width=_int(entry.get("width")),
        height=_int(entry.get("height")),
        mime=f"image/{filetype}" if filetype else "",
        source_id=text("id"),
    )
