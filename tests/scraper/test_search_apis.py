"""The search APIs (Openverse, Wikimedia Commons, Flickr) through the real adapters and fetcher, against loopback stand-ins.

The stand-ins (tests/scraper/search_apis.py) answer as each service documents:
fields, pagination, licence values, error bodies. Covered here: paging to each
service's cap, rate limits (429 with and without Retry-After, maxlag, pacing),
missing and expired keys, the licence filter, walls and changed layouts, empty
first pages; the job-level cases (a source failing mid-job while another goes
on, the daily quota, the licence on the image) are in test_search_jobs.py.
"""

from __future__ import annotations

import json

import pytest

from scraper.sources import build_source
from scraper.sources import flickr as flickr_module
from scraper.sources import openverse as openverse_module
from scraper.sources.flickr import FlickrImages
from scraper.sources.image_search import FailureReason
from scraper.sources.openverse import OpenverseImages
from scraper.sources.queries import SearchQuery
from scraper.sources.search_engines import BingImages, GoogleImages, SearchSource
from scraper.sources.wikimedia import WikimediaCommonsImages
from tests.scraper.conftest import make_fetcher
from tests.scraper.local_server import Route
from tests.scraper.search_apis import FakeCommons, FakeFlickr, FakeOpenverse, json_route, photos
from tests.scraper.search_pages import bing_page


@pytest.fixture(autouse=True)
def fresh_process_caches():
    """Openverse's tokens and Flickr's licence tables are kept per process: each test starts without."""
    openverse_module._tokens.clear()
    flickr_module._license_tables.clear()
    yield
    openverse_module._tokens.clear()
    flickr_module._license_tables.clear()


def run(source) -> tuple[list, list, list]:
    """Every item, the degradations and the batches a source yields from the start."""
    batches = list(source.discover({}))
    return [i for b in batches for i in b.items], [b.degraded for b in batches if b.degraded], batches


def search(engine, queries, *, limit=1000, fetcher, per_page=None, max_pages=50) -> SearchSource:
    per_page = per_page or engine.per_page(limit)
    cap = engine.page_cap(per_page)
    return SearchSource(
        engine, [SearchQuery(q, {}) for q in queries], limit=limit, fetcher=fetcher, per_page=per_page,
        max_pages=min(max_pages, cap) if cap else max_pages, max_page_bytes=5 * 1024 * 1024,
    )  # fmt: skip


def openverse(web, **options) -> OpenverseImages:
    return OpenverseImages(web.url("/v1"), min_interval=0.0, **options)


def commons(web, **options) -> WikimediaCommonsImages:
    return WikimediaCommonsImages(web.url("/w/api.php"), contact="https://example.org/crawler; tests@example.org", min_interval=0.0, **options)


def flickr(web, **options) -> FlickrImages:
    return FlickrImages(web.url("/services/rest/"), api_key=options.pop("api_key", "test-key"), min_interval=0.0, **options)


def calls(web, path: str) -> list:
    return [call for call in web.calls if call.bare_path == path]


# --- paging to the cap ---------------------------------------------------------------------
def test_openverse_pages_twenty_a_page_to_its_depth_of_twenty_pages(web, fetcher):
    FakeOpenverse(web, {"crowd": photos("crowd", 500)})
    items, degraded, _ = run(search(openverse(web), ["crowd"], fetcher=fetcher))
    requests = calls(web, "/v1/images/")
    assert len(requests) == 20 and len(items) == 400 and not degraded  # never page 21, which the API refuses
    assert {r.query["page_size"] for r in requests} == {"20"} and requests[-1].query["page"] == "20"
    assert [i.extra["rank"] for i in items[:3]] == [1, 2, 3]
    first = items[0]
    assert (first.license, first.license_url) == ("by 2.0", "https://creativecommons.org/licenses/by/2.0/")
    assert first.creator == "Creator 0" and first.attribution.startswith('"crowd photo 0" by Creator 0 is licensed under CC BY 2.0')
    assert first.page_url == "https://www.flickr.com/photos/someone/crowd-0/" and first.extra["width"] == 320


def test_openverse_stops_at_its_last_page_and_at_the_limit(web, fetcher):
    FakeOpenverse(web, {"few": photos("few", 45), "many": photos("many", 100)})
    items, _, _ = run(search(openverse(web), ["few", "many"], limit=30, fetcher=fetcher))
    assert [i.query for i in items].count("few") == 30 and [i.query for i in items].count("many") == 30
    assert [c.query["page"] for c in calls(web, "/v1/images/")] == ["1", "2", "1", "2"]  # 20 + 10 of each, nothing more


def test_wikimedia_follows_the_continuation_in_rank_order_to_the_page_cap(web, fetcher):
    FakeCommons(web, {"picnic": photos("picnic", 500)})
    items, degraded, _ = run(search(commons(web), ["picnic"], limit=1000, fetcher=fetcher, max_pages=3))
    requests = calls(web, "/w/api.php")
    assert len(requests) == 3 and len(items) == 150 and not degraded
    assert [r.query.get("gsroffset") for r in requests] == [None, "50", "100"]  # the answer's "continue", sent back
    assert all(r.query["maxlag"] == "5" and r.query["gsrnamespace"] == "6" for r in requests)
    assert "(https://example.org/crawler; tests@example.org)" in requests[0].headers["User-Agent"]
    assert [i.title for i in items[:2]] == ["picnic photo 0", "picnic photo 1"]  # by "index", not by page id
    first = items[0]
    assert (first.license, first.creator) == ("CC BY 2.0", "Creator 0")
    assert first.attribution == '"picnic photo 0" by Creator 0, CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/), via Wikimedia Commons'
    assert first.page_url == "https://commons.wikimedia.org/wiki/File:picnic_photo_0.jpg"


def test_flickr_pages_to_its_cap_of_the_first_4000_results(web, fetcher):
    FakeFlickr(web, {"market": photos("market", 4600)})
    items, degraded, _ = run(search(flickr(web), ["market"], limit=10_000, fetcher=fetcher))
    searches = [c for c in calls(web, "/services/rest/") if c.query["method"] == "flickr.photos.search"]
    tables = [c for c in calls(web, "/services/rest/") if c.query["method"] == "flickr.photos.licenses.getInfo"]
    assert len(tables) == 1 and len(searches) == 8 and len(items) == 4000 and not degraded
    assert {s.query["per_page"] for s in searches} == {"500"}
    first = items[0]
    assert (first.license, first.license_url, first.creator) == ("Attribution License", "https://creativecommons.org/licenses/by/2.0/", "Creator 0")
    assert first.page_url == "https://www.flickr.com/photos/12037949754@N01/53000000000/"


# --- rate limits ---------------------------------------------------------------------------
def throttled(times: int, retry_after: str | None):
    """The first ``times`` requests are throttled as DRF answers (Openverse's API is DRF)."""
    seen = {"n": 0}

    def hook(request):
        seen["n"] += 1
        if seen["n"] <= times:
            headers = {"Retry-After": retry_after} if retry_after is not None else {}
            wait = retry_after or "1"
            return json_route({"detail": f"Request was throttled. Expected available in {wait} second{'s' if wait != '1' else ''}."}, 429, headers)
        return None

    return hook


def test_a_429_with_retry_after_is_waited_out_and_paging_goes_on(web):
    fake = FakeOpenverse(web, {"dance": photos("dance", 25)})
    fake.hook = throttled(1, "1")
    with make_fetcher(retries=2, backoff=0.01) as fetcher:
        items, degraded, _ = run(search(openverse(web), ["dance"], limit=25, fetcher=fetcher))
    assert len(items) == 25 and not degraded
    arrivals = [at for path, at in web.arrivals if path.startswith("/v1/images/")]
    assert arrivals[1] - arrivals[0] >= 0.95  # the second try waited the second the server asked for


def test_a_429_without_retry_after_is_retried_after_a_backoff(web):
    fake = FakeFlickr(web, {"beach": photos("beach", 5)})
    fake.hook = lambda request: (
        Route(b"Too Many Requests", status=429) if request.query.get("method") == "flickr.photos.search" and len(calls(web, FakeFlickr.PATH)) <= 3 else None
    )
    with make_fetcher(retries=3, backoff=0.2) as fetcher:
        items, degraded, _ = run(search(flickr(web), ["beach"], limit=5, fetcher=fetcher))
    assert len(items) == 5 and not degraded
    arrivals = [at for path, at in web.arrivals if "flickr.photos.search" in path]
    assert len(arrivals) == 3 and arrivals[2] - arrivals[1] >= 0.35  # urllib3's backoff: 0.2 x 2 after the second failure


def test_a_source_that_stays_rate_limited_is_stopped_with_what_it_answered(web):
    fake = FakeOpenverse(web, {"q": photos("q", 5)})
    fake.hook = throttled(10**6, "0")
    with make_fetcher(retries=2, backoff=0.01) as fetcher:
        items, degraded, batches = run(search(openverse(web), ["q", "other"], limit=5, fetcher=fetcher))
    assert items == [] and [d.reason for d in degraded] == [FailureReason.RATE_LIMITED]
    assert "Request was throttled" in degraded[0].sample and "Retry-After: 0" in degraded[0].sample
    assert batches[-1].cursor["stopped"] == FailureReason.RATE_LIMITED
    assert len(calls(web, "/v1/images/")) == 3  # three tries of the first page, then the source was left alone


def test_a_lagged_wiki_is_waited_out_then_given_up(web, fetcher):
    fake = FakeCommons(web, {"park": photos("park", 3)})
    fake.lagged = 1
    items, degraded, _ = run(search(commons(web), ["park"], limit=3, fetcher=fetcher))
    assert len(items) == 3 and not degraded and len(calls(web, FakeCommons.PATH)) == 2
    fake.lagged = 100
    items, degraded, _ = run(search(commons(web, maxlag_retries=2), ["park"], limit=3, fetcher=fetcher))
    assert items == [] and degraded[0].reason == FailureReason.RATE_LIMITED and "maxlag" in degraded[0].detail
    assert '"code": "maxlag"' in degraded[0].sample


def test_requests_to_a_source_are_spaced_by_its_rate_limit(web, fetcher):
    FakeOpenverse(web, {"slow": photos("slow", 60)})
    run(search(OpenverseImages(web.url("/v1"), min_interval=0.3), ["slow"], limit=60, fetcher=fetcher))
    arrivals = [at for path, at in web.arrivals if path.startswith("/v1/images/")]
    assert len(arrivals) == 3 and min(b - a for a, b in zip(arrivals, arrivals[1:], strict=False)) >= 0.28


# --- keys ------------------------------------------------------------------------------------
def test_an_expired_flickr_key_stops_flickr_with_flickrs_answer(web, fetcher):
    fake = FakeFlickr(web, {"q": photos("q", 3)})
    fake.expired = True
    items, degraded, _ = run(search(flickr(web), ["q"], limit=3, fetcher=fetcher))
    assert items == [] and degraded[0].reason == FailureReason.KEY_REJECTED
    assert "Invalid API Key (Key has expired)" in degraded[0].detail and '"stat": "fail"' in degraded[0].sample
    assert "test-key" not in degraded[0].sample and "api_key=***" in degraded[0].sample  # the key is never shown


def test_a_wrong_flickr_key_is_refused_the_same_way(web, fetcher):
    FakeFlickr(web, {"q": photos("q", 3)})
    _, degraded, _ = run(search(flickr(web, api_key="not-the-key"), ["q"], limit=3, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.KEY_REJECTED and "Key has invalid format" in degraded[0].detail


def test_openverse_renews_an_expired_token_once_and_stops_when_its_credentials_are_refused(web, fetcher):
    fake = FakeOpenverse(web, {"one": photos("one", 50), "two": photos("two", 50), "three": photos("three", 5)}, client=("cid", "secret"))
    engine = openverse(web, client_id="cid", client_secret="secret")
    assert engine.per_page(50) == 50  # authenticated: more than 20 a page

    def expire_after_first_query(request):
        if request.query.get("q") == "two" and "token-1" in fake.valid_tokens:
            fake.valid_tokens.discard("token-1")  # the token ran out
        if request.query.get("q") == "three":
            fake.client = ("cid", "revoked")  # the application was revoked
            fake.valid_tokens.clear()
        return None

    fake.hook = expire_after_first_query
    items, degraded, _ = run(search(engine, ["one", "two", "three"], limit=50, fetcher=fetcher))
    tokens = calls(web, "/v1/auth_tokens/token/")
    assert [t.method for t in tokens] == ["POST", "POST", "POST"] and tokens[0].form["grant_type"] == "client_credentials"
    assert [i.query for i in items].count("one") == 50 and [i.query for i in items].count("two") == 50
    assert degraded[0].reason == FailureReason.KEY_REJECTED and "invalid_client" in degraded[0].detail


def test_anonymous_openverse_asks_at_most_twenty_a_page(web, fetcher):
    FakeOpenverse(web, {"q": photos("q", 30)})
    items, degraded, _ = run(search(openverse(web), ["q"], limit=30, fetcher=fetcher))
    assert len(items) == 30 and not degraded and {c.query["page_size"] for c in calls(web, "/v1/images/")} == {"20"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("engine", "setting", "value", "reason"),
    [
        ("flickr", "FLICKR_API_KEY", "", "flickr is unavailable: FLICKR_API_KEY is not set"),
        ("wikimedia", "WIKIMEDIA_CONTACT", "", "wikimedia is unavailable: WIKIMEDIA_CONTACT is not set"),
        ("openverse", "OPENVERSE_CLIENT_SECRET", "", "openverse is unavailable: OPENVERSE_CLIENT_SECRET is not set (OPENVERSE_CLIENT_ID is)"),
        ("bing", "SCRAPER_ENGINE_BASE_URLS", {"bing": "https://www.bing.com", "google": "https://www.google.com"},
         "bing is unavailable: SCRAPER_BING_BASE_URL points at the public site, whose robots.txt disallows its result pages"),
    ],
)  # fmt: skip
def test_a_source_whose_key_is_missing_is_refused_at_job_creation_naming_it(api_settings, engine, setting, value, reason):
    from scraper.models import CrawlJob
    from scraper.services.jobs import create_crawl_job
    from scraper.sources import SourceError

    api_settings.OPENVERSE_CLIENT_ID = "cid"
    setattr(api_settings, setting, value)
    with pytest.raises(SourceError, match="^engines: " + reason.replace("(", r"\(").replace(")", r"\)")):
        create_crawl_job("search", {"engines": [engine], "queries": [{"text": "x"}], "limit": 5})
    assert not CrawlJob.objects.exists()


# --- the licence filter the services apply ------------------------------------------------
def test_the_licence_policy_is_asked_of_the_apis_that_filter(web, fetcher, api_settings):
    FakeOpenverse(web, {"q": photos("q", 3, license="by") + photos("nc", 3, license="by-nc")})
    FakeFlickr(web, {"q": photos("q", 3, license="by") + photos("nc", 3, license="by-nc") + photos("arr", 2, license="all-rights-reserved")})
    source = build_source("search", {"engines": ["openverse", "flickr"], "queries": [{"text": "q"}], "limit": 10, "licenses": "commercial"}, fetcher)
    items, _, _ = run(source)
    asked = {c.bare_path: c.query for c in web.calls if c.query.get("method", "search") in ("search", "flickr.photos.search")}
    assert asked["/v1/images/"]["license_type"] == "commercial"
    assert asked["/services/rest/"]["license"] == "4,5,6,7,8,9,10"  # read from Flickr's licence table: no NC, no all rights reserved
    assert sorted({i.license for i in items}) == ["Attribution License", "by 2.0"]


# --- walls, changed layouts, empty first pages ----------------------------------------------
WALLS = {
    "captcha": (b"<html><body><form id='captcha-form'><div class='g-recaptcha'></div>"
                b"Our systems have detected unusual traffic from your computer network.</form></body></html>", 200, FailureReason.CAPTCHA),
    "captcha at /sorry/": (b"<html><body>Sorry...</body></html>", 429, FailureReason.CAPTCHA),
    "consent": (b"<html><body><h1>Before you continue to Google</h1><form action='https://consent.google.com/save'></form></body></html>",
                200, FailureReason.CONSENT_WALL),
    "login": (b"<html><body><h1>Sign in to continue to Images</h1></body></html>", 200, FailureReason.LOGIN_WALL),
}  # fmt: skip


@pytest.mark.parametrize("wall", WALLS)
def test_a_wall_instead_of_results_stops_a_page_parser_with_a_sample(web, fetcher, wall):
    body, status, reason = WALLS[wall]
    engine = GoogleImages(web.base_url)
    first = engine.page_url("kids", 0, 3).removeprefix(web.base_url)
    if wall == "captcha at /sorry/":  # Google's way: a redirect to /sorry/index, answered 429
        web.routes[first] = Route(status=302, headers={"Location": "/sorry/index?continue=x"})
        web.routes["/sorry/index"] = Route(body, status=status, headers={"Content-Type": "text/html"})
    else:
        web.routes[first] = Route(body, status=status, headers={"Content-Type": "text/html"})
    items, degraded, batches = run(search(engine, ["kids", "adults"], limit=10, per_page=3, fetcher=fetcher))
    assert items == [] and [d.reason for d in degraded] == [reason]
    assert body.decode()[:40] in degraded[0].sample and f"HTTP {status}" in degraded[0].sample
    assert web.hits(engine.page_url("adults", 0, 3).removeprefix(web.base_url)) == 0  # the source is left alone


def test_an_api_answering_a_challenge_page_is_stopped_as_a_captcha(web, fetcher):
    fake = FakeOpenverse(web, {"q": photos("q", 3)})
    fake.hook = lambda request: Route(b"<html><title>Just a moment...</title><script src='/cdn-cgi/challenge-platform/x.js'></script></html>",
                                      status=403, headers={"Content-Type": "text/html"})
    _, degraded, _ = run(search(openverse(web), ["q"], limit=3, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.CAPTCHA and "challenge-platform" in degraded[0].sample


def test_wikimedia_refusing_our_user_agent_is_said_so(web, fetcher):
    FakeCommons(web, {"q": photos("q", 3)}, contact="someone-else@example.org")
    _, degraded, _ = run(search(commons(web), ["q"], limit=3, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.BLOCKED and "informative User-Agent" in degraded[0].sample


@pytest.mark.parametrize("service", ["openverse", "wikimedia", "flickr", "bing"])
def test_a_changed_layout_stops_the_source(web, fetcher, service):
    changed = {
        "openverse": json_route({"count": 3, "items": [{"url": "http://x/1.jpg"}]}),
        "wikimedia": Route(b"<!DOCTYPE html><html><body>MediaWiki API help</body></html>", headers={"Content-Type": "text/html"}),
        "flickr": json_route({"stat": "ok", "gallery": {"pictures": []}}),
    }
    if service == "bing":
        engine = BingImages(web.base_url)
        web.routes[engine.page_url("q", 0, 3).removeprefix(web.base_url)] = Route(
            b"<html><body><div class='imgrid'><figure data-src='http://x/1.jpg'></figure></div></body></html>"
        )
    else:
        fake = {"openverse": FakeOpenverse, "wikimedia": FakeCommons, "flickr": FakeFlickr}[service](web, {"q": photos("q", 3)})
        fake.hook = lambda request: changed[service] if request.query.get("method") != "flickr.photos.licenses.getInfo" else None
        engine = {"openverse": openverse, "wikimedia": commons, "flickr": flickr}[service](web)
    items, degraded, _ = run(search(engine, ["q"], limit=3, per_page=3, fetcher=fetcher))
    assert items == [] and degraded[0].reason == FailureReason.LAYOUT_CHANGED and degraded[0].sample


def test_an_empty_first_page_stops_a_page_parser(web, fetcher):
    engine = BingImages(web.base_url)
    web.routes[engine.page_url("q", 0, 3).removeprefix(web.base_url)] = Route(bing_page([]))
    items, degraded, _ = run(search(engine, ["q"], limit=10, per_page=3, fetcher=fetcher))
    assert items == [] and degraded[0].reason == FailureReason.EMPTY_FIRST_PAGE and "dgControl_list" in degraded[0].sample


def test_an_api_whose_first_answers_are_all_empty_is_stopped_but_a_query_without_results_is_only_that(web, fetcher):
    FakeOpenverse(web, {"first": photos("first", 2), "a": [], "b": [], "c": []})
    _, degraded, _ = run(search(openverse(web), ["a", "b", "c", "first"], limit=5, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.EMPTY_FIRST_PAGE and "the first 3 queries in a row have no result" in degraded[0].detail
    assert json.loads(degraded[0].sample.split("\n", 1)[1])["result_count"] == 0
    assert "first" not in [c.query["q"] for c in calls(web, "/v1/images/")]
    for order in (["a", "first", "b", "c"], ["first", "a", "b", "c"]):  # the service said plainly "a" has nothing
        items, degraded, _ = run(search(openverse(web), order, limit=5, fetcher=fetcher))
        assert len(items) == 2 and not degraded
    _, degraded, _ = run(search(openverse(web), ["a"], limit=5, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.EMPTY_FIRST_PAGE  # a job of one query that gives nothing is not "done"


def test_an_api_answer_saying_there_are_results_but_giving_none_stops_the_source(web, fetcher):
    fake = FakeOpenverse(web, {"q": photos("q", 3)})
    fake.hook = lambda request: json_route({"result_count": 3, "page_count": 1, "page_size": 20, "page": 1, "results": []})
    _, degraded, _ = run(search(openverse(web), ["q", "r"], limit=5, fetcher=fetcher))
    assert degraded[0].reason == FailureReason.EMPTY_FIRST_PAGE and "the first page has no result" in degraded[0].detail


def test_result_pages_that_keep_failing_stop_the_source(web, fetcher):
    engine = BingImages(web.base_url)  # no result page is served: each is a 404
    items, degraded, batches = run(search(engine, ["a", "b", "c", "d"], limit=5, per_page=3, fetcher=fetcher))
    assert [d.reason for d in degraded] == [FailureReason.FAILING] and len([b for b in batches if b.page_error]) == 3
    assert web.hits(engine.page_url("d", 0, 3).removeprefix(web.base_url)) == 0


@pytest.mark.parametrize(
    ("env", "line"),
    [
        ({"SCRAPER_UNKNOWN_LICENSE": "maybe"}, "configuration error: SCRAPER_UNKNOWN_LICENSE: must be one of keep, refuse, got 'maybe'"),
        ({"OPENVERSE_API_URL": "api.openverse.org/v1"}, "configuration error: OPENVERSE_API_URL: must start with http:// or https://"),
        ({"FLICKR_DAILY_QUOTA": "lots"}, "configuration error: FLICKR_DAILY_QUOTA: must be an integer, got 'lots'"),
    ],
)
def test_a_bad_search_setting_stops_start_up_with_one_line_naming_it(env, line):
    from tests.config.test_settings import run as run_manage

    result = run_manage(["manage.py", "check"], env)
    assert result.returncode == 2 and result.stderr.strip().startswith(line), result.stderr


def test_a_page_parser_whose_robots_txt_forbids_its_result_pages_is_stopped_at_once(web, fetcher):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /images/search\n")
    engine = BingImages(web.base_url)
    items, degraded, _ = run(search(engine, ["a", "b"], limit=5, per_page=3, fetcher=fetcher))
    assert items == [] and degraded[0].reason == FailureReason.ROBOTS_TXT and "robots.txt disallows" in degraded[0].detail
    assert web.hits(engine.page_url("a", 0, 3).removeprefix(web.base_url)) == 0  # never fetched
