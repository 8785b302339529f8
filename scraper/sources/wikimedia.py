"""Wikimedia Commons through the MediaWiki Action API: file search, with each file's URL, size, type and licence.

One request a page: ``action=query&generator=search&gsrnamespace=6`` (the
File namespace) with ``prop=imageinfo&iiprop=url|size|mime|extmetadata``
(https://www.mediawiki.org/wiki/API:Search, https://www.mediawiki.org/wiki/API:Imageinfo).
Each page of the answer is a file with its search rank (``index``) and its
``imageinfo``: ``url``, ``descriptionurl``, ``width``, ``height``, ``mime``
and ``extmetadata``, whose ``LicenseShortName``, ``LicenseUrl``,
``UsageTerms``, ``Artist``, ``Credit`` and ``ObjectName`` carry the licence
and attribution (https://commons.wikimedia.org/wiki/Commons:Machine-readable_data).
The next page is asked with the ``continue`` object of the answer
(https://www.mediawiki.org/wiki/API:Continue); CirrusSearch pages no deeper
than 10,000 results.

Etiquette (https://www.mediawiki.org/wiki/API:Etiquette): requests one at a
time, ``maxlag=5`` on every one (a lagged cluster answers an error whose code
is ``maxlag`` with a ``Retry-After``: the source waits that long, a few
times, then stops; https://www.mediawiki.org/wiki/Manual:Maxlag_parameter),
and a User-Agent naming the client and how to reach its operator
(https://foundation.wikimedia.org/wiki/Policy:Wikimedia_Foundation_User-Agent_Policy):
``WIKIMEDIA_CONTACT`` is required, and the source is unavailable without it.
"""

from __future__ import annotations

import html
from urllib.parse import urlencode

import requests
from bs4 import BeautifulSoup
from django.conf import settings

from emotic.licenses import UnparseableLicense, attribution_line, parse_license
from scraper.fetching import FetchedResource, PoliteFetcher, status_problem
from scraper.fetching.cancel import pause
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

METADATA = ("LicenseShortName", "LicenseUrl", "UsageTerms", "Artist", "Credit", "ObjectName", "AttributionRequired")
DEFAULT_MAXLAG_WAIT = 5.0  # the manual: wait at least 5 s after a maxlag error


class WikimediaCommonsImages(ImageSearch):
    name = "wikimedia"
    label = "Wikimedia Commons (MediaWiki API)"
    max_per_page = 50
    max_results = 10_000
    quota_setting = "WIKIMEDIA_DAILY_QUOTA"
    terms_url = "https://foundation.wikimedia.org/wiki/Policy:Terms_of_Use"
    docs_url = "https://www.mediawiki.org/wiki/API:Etiquette"

    def __init__(
        self,
        api_url: str,
        *,
        contact: str,
        user_agent: str = "emotic-platform-scraper/0.1",
        maxlag: int = 5,
        maxlag_retries: int = 3,
        max_wait: float = 60.0,
        min_interval: float = 1.0,
        daily_quota: int | None = None,
    ):
        self.api_url = api_url
        client = user_agent.split()[0] if user_agent.strip() else "emotic-platform-scraper/0.1"
        # The policy's form: <client>/<version> (<contact>) <library>/<version>
        self.user_agent = f"{client} ({contact}) python-requests/{requests.__version__}"
        self.maxlag, self.maxlag_retries, self.max_wait = maxlag, maxlag_retries, max_wait
        self.min_interval = min_interval
        self.daily_quota = daily_quota or None

    @classmethod
    def from_settings(cls) -> WikimediaCommonsImages:
        return cls(
            settings.WIKIMEDIA_API_URL,
            contact=settings.WIKIMEDIA_CONTACT,
            user_agent=settings.SCRAPER_USER_AGENT,
            maxlag=settings.WIKIMEDIA_MAXLAG,
            maxlag_retries=settings.SCRAPER_RETRIES,
            max_wait=settings.SCRAPER_RETRY_AFTER_CAP_SECONDS,
            min_interval=settings.WIKIMEDIA_MIN_INTERVAL_SECONDS,
            daily_quota=settings.WIKIMEDIA_DAILY_QUOTA,
        )

    @classmethod
    def unavailable_reason(cls) -> str:
        if not settings.WIKIMEDIA_CONTACT.strip():
            return (
                "WIKIMEDIA_CONTACT is not set: Wikimedia's User-Agent policy asks every client for a way to reach its "
                "operator (an e-mail address or a web page)"
            )
        return ""

    def _params(self, query: str, per_page: int, token: dict | None) -> dict:
        params = {
            "action": "query",
            "format": "json",
            "generator": "search",
            "gsrsearch": f"{query} filetype:bitmap",  # photographs and drawings, not SVG, PDF or video
            "gsrnamespace": 6,
            "gsrlimit": per_page,
            "prop": "imageinfo",
            "iiprop": "url|size|mime|extmetadata",
            "iiextmetadatafilter": "|".join(METADATA),
            "iiextmetadatalanguage": "en",
            "maxlag": self.maxlag,
        }
        params.update(token or {})
        return params

    def search(
        self, query: str, page: int, per_page: int, token: dict | None, *, fetcher: PoliteFetcher, max_bytes: int
    ) -> ResultPage:
        url = f"{self.api_url}?{urlencode(self._params(query, per_page, token))}"
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        for attempt in range(self.maxlag_retries + 1):
            resource = fetcher.fetch(url, max_bytes=max_bytes, obey_robots=False, headers=headers, min_interval=self.min_interval)
            answer = self._answer(resource)
            error = answer.get("error") if isinstance(answer, dict) else None
            if not isinstance(error, dict):
                break
            code, info = str(error.get("code", "")), str(error.get("info", ""))
            if code == "maxlag" and attempt < self.maxlag_retries:
                asked = retry_after_seconds(resource)
                pause(min(DEFAULT_MAXLAG_WAIT if asked is None else asked, self.max_wait))
                continue
            if code == "maxlag":
                raise SourceFailure(
                    FailureReason.RATE_LIMITED, f"Wikimedia's servers stayed lagged (maxlag) after {attempt + 1} tries: {info}", sample_of(resource)
                )
            reason = FailureReason.RATE_LIMITED if code == "ratelimited" else FailureReason.API_ERROR
            raise SourceFailure(reason, f"the MediaWiki API answered error {code!r}: {info}", sample_of(resource))
        require(isinstance(answer, dict) and bool({"query", "batchcomplete", "continue"} & set(answer)), "Wikimedia", "query", resource)
        pages = answer.get("query", {}).get("pages", {}) if isinstance(answer.get("query", {}), dict) else None
        require(pages is not None and isinstance(pages, (dict, list)), "Wikimedia", "query.pages", resource)
        entries = list(pages.values()) if isinstance(pages, dict) else pages
        entries = sorted((e for e in entries if isinstance(e, dict)), key=lambda e: e.get("index", 0) if isinstance(e.get("index"), int) else 0)
        results = [self._result(entry) for entry in entries]
        follow = answer.get("continue")
        token = {k: v for k, v in follow.items()} if isinstance(follow, dict) and follow else None
        return ResultPage(
            results,
            more=token is not None,
            next_token=token,
            explicit_empty="query" not in answer and "batchcomplete" in answer,
            sample=sample_of(resource),
        )

    def _answer(self, resource: FetchedResource) -> object:
        if resource.status >= 400:
            wall = detect_wall(resource)
            if wall is not None:
                raise wall
            if resource.status == 429:
                raise SourceFailure(FailureReason.RATE_LIMITED, "Wikimedia answered 429 Too Many Requests after retries", sample_of(resource))
            problem = status_problem(resource)
            if resource.status >= 500:
                raise problem
            raise SourceFailure(FailureReason.BLOCKED, f"Wikimedia refused the request (HTTP {resource.status})", sample_of(resource))
        return json_answer(resource, "Wikimedia")

    def _result(self, entry: dict) -> SearchResult:
        infos = entry.get("imageinfo")
        info = infos[0] if isinstance(infos, list) and infos and isinstance(infos[0], dict) else {}
        meta = info.get("extmetadata") if isinstance(info.get("extmetadata"), dict) else {}

        def value(key: str) -> str:
            field = meta.get(key)
            raw = field.get("value", "") if isinstance(field, dict) else ""
            return _text(str(raw)) if raw else ""

        title = value("ObjectName") or str(entry.get("title", "")).removeprefix("File:").rsplit(".", 1)[0]
        licence, licence_url, creator = value("LicenseShortName"), value("LicenseUrl"), value("Artist")
        try:
            parsed = parse_license(licence, licence_url)
        except UnparseableLicense:
            parsed = None
        credit = attribution_line(title, creator, parsed, via="Wikimedia Commons") if parsed else ""
        if not credit and licence:
            credit = f'"{title}"' + (f" by {creator}" if creator else "") + f", {licence}, via Wikimedia Commons"
        return SearchResult(
            image_url=str(info.get("url", "")),
            page_url=str(info.get("descriptionurl", "")),
            title=title,
            license=licence,
            license_url=licence_url,
            creator=creator,
            attribution=credit,
            width=info.get("width") if isinstance(info.get("width"), int) else None,
            height=info.get("height") if isinstance(info.get("height"), int) else None,
            mime=str(info.get("mime", "")),
            source_id=str(entry.get("pageid", "")),
        )


def _text(value: str) -> str:
    """extmetadata values are HTML (a link to the artist's page): their text, on one line."""
    text = BeautifulSoup(value, "html.parser").get_text(" ") if "<" in value else html.unescape(value)
    return " ".join(text.split())
