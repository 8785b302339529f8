"""Flickr's API: photo search with licence filters, each photo's licence from Flickr's licence table.

REST requests to ``FLICKR_API_URL`` with ``format=json&nojsoncallback=1``
(https://www.flickr.com/services/api/response.json.html): an answer is
``{"stat": "ok", ...}`` or ``{"stat": "fail", "code": 100, "message":
"Invalid API Key (Key has invalid format)"}``, with HTTP 200 either way
(https://www.flickr.com/services/api/flickr.photos.search.html lists the codes).

Once a day (per process): ``flickr.photos.licenses.getInfo``, the table of
licence ids with their names and URLs
(https://www.flickr.com/services/api/flickr.photos.licenses.getInfo.html), so
ids Flickr adds later are read from their URLs. Then per page:
``flickr.photos.search`` with ``text``, ``license`` (the ids the job's policy
allows), ``content_types=0`` (photos), ``safe_search=1``, ``sort=relevance``,
``extras=license,owner_name,url_o,url_l,url_c,o_dims``, ``per_page`` (at most
500) and ``page``. Flickr returns at most the first 4,000 results of a search.
Needs ``FLICKR_API_KEY``; the key's limit is 3,600 requests an hour, and
Flickr's API terms are for non-commercial use unless Flickr agrees otherwise
(https://www.flickr.com/services/api/tos/).
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from django.conf import settings

from emotic.licenses import UnparseableLicense, allowed_by, attribution_line, parse_license
from scraper.fetching import FetchedResource, FetchRejected, PoliteFetcher, status_problem
from scraper.models import RejectReason
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

# Licence tables by (API, key), kept a day in this process: a job's discovery runs in many steps.
_license_tables: dict[tuple[str, str], tuple[dict[str, tuple[str, str]], float]] = {}
TABLE_SECONDS = 86_400.0
# Sizes tried in turn: the original when its owner allows it, else the largest offered.
SIZES = ("o", "l", "c")
KEY_ERRORS = {100}  # Invalid API Key: "The API key passed was not valid or has expired."
TRANSIENT_ERRORS = {105}  # Service currently unavailable


class FlickrImages(ImageSearch):
    name = "flickr"
    label = "Flickr API"
    max_per_page = 500
    max_results = 4000
    quota_setting = "FLICKR_DAILY_QUOTA"
    terms_url = "https://www.flickr.com/services/api/tos/"
    docs_url = "https://www.flickr.com/services/api/flickr.photos.search.html"

    def __init__(self, api_url: str, *, api_key: str, min_interval: float = 1.0, daily_quota: int | None = 86_400):
        self.api_url = api_url
        self.api_key = api_key
        self.min_interval = min_interval
        self.daily_quota = daily_quota or None
        self.license_policy: str | list[str] = "any"

    @classmethod
    def from_settings(cls) -> FlickrImages:
        return cls(
            settings.FLICKR_API_URL,
            api_key=settings.FLICKR_API_KEY,
            min_interval=settings.FLICKR_MIN_INTERVAL_SECONDS,
            daily_quota=settings.FLICKR_DAILY_QUOTA,
        )

    @classmethod
    def unavailable_reason(cls) -> str:
        return "" if settings.FLICKR_API_KEY else "FLICKR_API_KEY is not set (a key from https://www.flickr.com/services/apps/create/)"

    def setup_requests(self) -> int:
        return 1  # the licence table

    def _call(self, method: str, fetcher: PoliteFetcher, max_bytes: int, **params) -> tuple[dict, FetchedResource]:
        query = {"method": method, "api_key": self.api_key, "format": "json", "nojsoncallback": 1, **params}
        resource = fetcher.fetch(
            f"{self.api_url}?{urlencode(query)}",
            max_bytes=max_bytes,
            obey_robots=False,
            headers={"Accept": "application/json"},
            min_interval=self.min_interval,
        )
        if resource.status >= 400 and (wall := detect_wall(resource)) is not None:
            raise wall
        if resource.status == 429:
            wait = retry_after_seconds(resource)
            raise SourceFailure(
                FailureReason.RATE_LIMITED,
                "Flickr answered 429 Too Many Requests after retries" + (f" (Retry-After {wait:g} s)" if wait else ""),
                sample_of(resource),
            )
        if resource.status >= 500:
            raise status_problem(resource)
        answer = json_answer(resource, "Flickr")
        require(isinstance(answer, dict) and answer.get("stat") in ("ok", "fail"), "Flickr", "stat", resource)
        if answer["stat"] == "fail":
            self._failed(answer, resource)
        if resource.status >= 400:
            raise SourceFailure(FailureReason.API_ERROR, f"Flickr answered HTTP {resource.status}", sample_of(resource))
        return answer, resource

    def _failed(self, answer: dict, resource: FetchedResource) -> None:
        code, message = answer.get("code"), str(answer.get("message", ""))
        code = int(code) if str(code).isdigit() else code
        if code in KEY_ERRORS:
            raise SourceFailure(FailureReason.KEY_REJECTED, f"Flickr refused FLICKR_API_KEY (code {code}): {message}", sample_of(resource))
        if code in TRANSIENT_ERRORS:  # this page failed; the next query tries again
            raise FetchRejected(RejectReason.SERVER_ERROR, f"Flickr error {code}: {message}", resource.requested_url)
        raise SourceFailure(FailureReason.API_ERROR, f"Flickr answered error {code}: {message}", sample_of(resource))

    def _license_table(self, fetcher: PoliteFetcher, max_bytes: int) -> dict[str, tuple[str, str]]:
        key = (self.api_url, self.api_key)
        cached = _license_tables.get(key)
        if cached is None or cached[1] < time.monotonic():
            answer, resource = self._call("flickr.photos.licenses.getInfo", fetcher, max_bytes)
            entries = answer.get("licenses", {}).get("license") if isinstance(answer.get("licenses"), dict) else None
            require(isinstance(entries, list), "Flickr", "licenses.license list", resource)
            table = {str(e.get("id")): (str(e.get("name", "")), str(e.get("url", ""))) for e in entries if isinstance(e, dict)}
            cached = _license_tables[key] = (table, time.monotonic() + TABLE_SECONDS)
        return cached[0]

    def _allowed_ids(self, table: dict[str, tuple[str, str]]) -> list[str]:
        if self.license_policy == "any":
            return []
        allowed = []
        for license_id, (name, url) in table.items():
            try:
                parsed = parse_license(name, url)
            except UnparseableLicense:
                continue
            if parsed is not None and allowed_by(self.license_policy, parsed.code):
                allowed.append(license_id)
        return allowed

    def search(
        self, query: str, page: int, per_page: int, token: dict | None, *, fetcher: PoliteFetcher, max_bytes: int
    ) -> ResultPage:
        table = self._license_table(fetcher, max_bytes)
        params = {
            "text": query,
            "content_types": 0,
            "media": "photos",
            "safe_search": 1,
            "sort": "relevance",
            "extras": "license,owner_name,o_dims," + ",".join(f"url_{size}" for size in SIZES),
            "per_page": per_page,
            "page": page + 1,
        }
        allowed = self._allowed_ids(table)
        if self.license_policy != "any":
            if not allowed:
                raise SourceFailure(FailureReason.API_ERROR, "none of Flickr's licences passes this job's licence policy")
            params["license"] = ",".join(allowed)
        answer, resource = self._call("flickr.photos.search", fetcher, max_bytes, **params)
        photos = answer.get("photos")
        require(isinstance(photos, dict) and isinstance(photos.get("photo"), list), "Flickr", "photos.photo list", resource)
        results = [self._result(photo, table) for photo in photos["photo"] if isinstance(photo, dict)]
        pages, total = _number(photos.get("pages")), _number(photos.get("total"))
        return ResultPage(
            results,
            more=bool(results) and page + 1 < (pages or 0) and (page + 1) * per_page < self.max_results,
            total=total,
            explicit_empty=total == 0,
            sample=sample_of(resource),
        )

    def _result(self, photo: dict, table: dict[str, tuple[str, str]]) -> SearchResult:
        size = next((s for s in SIZES if photo.get(f"url_{s}")), "")
        name, url = table.get(str(photo.get("license", "")), ("", ""))
        title, owner = str(photo.get("title", "")), str(photo.get("ownername", ""))
        try:
            parsed = parse_license(name, url)
        except UnparseableLicense:
            parsed = None
        credit = attribution_line(title, owner, parsed, via="Flickr") if parsed else ""
        return SearchResult(
            image_url=str(photo.get(f"url_{size}", "")) if size else "",
            page_url=f"https://www.flickr.com/photos/{photo.get('owner')}/{photo.get('id')}/" if photo.get("owner") and photo.get("id") else "",
            title=title,
            license=name,
            license_url=url,
            creator=owner,
            attribution=credit,
            width=_number(photo.get(f"width_{size}")) if size else None,
            height=_number(photo.get(f"height_{size}")) if size else None,
            source_id=str(photo.get("id", "")),
        )


def _number(value: object) -> int | None:
    """Flickr gives numbers as numbers or as strings ("total": "881")."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None
