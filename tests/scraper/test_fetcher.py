"""The polite fetcher against a real HTTP server on loopback."""

from __future__ import annotations

import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from scraper.fetching import AddressPolicy, FetchRejected
from scraper.fetching.address_guard import AddressNotAllowed
from scraper.fetching.x_robots_tag import refusing_directives
from tests.scraper.conftest import make_fetcher
from tests.catalog.images import jpeg
from tests.scraper.local_server import LocalServer, Route

JPEG = jpeg(1)
IMAGE = Route(JPEG, headers={"Content-Type": "image/jpeg", "ETag": '"v1"', "Set-Cookie": "a=b"})


def rejected(call) -> FetchRejected:
    with pytest.raises(FetchRejected) as caught:
        call()
    return caught.value


def test_an_image_is_fetched_with_an_identifying_user_agent_and_its_headers(web, fetcher):
    web.routes["/a.jpg"] = IMAGE
    resource = fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    assert resource.content == JPEG and resource.status == 200
    assert resource.headers["content-type"] == "image/jpeg" and resource.headers["etag"] == '"v1"'
    assert "set-cookie" not in resource.headers  # only provenance headers are kept
    user_agents = [headers["User-Agent"] for path, headers in web.requests if path == "/a.jpg"]
    assert user_agents == ["emotic-test-crawler/1.0 (+https://example.org/crawler)"]


def test_redirects_are_followed_and_the_final_url_reported(web, fetcher):
    web.routes["/old.jpg"] = Route(status=301, headers={"Location": "/new.jpg"})
    web.routes["/new.jpg"] = IMAGE
    resource = fetcher.fetch_image(web.url("/old.jpg"), max_bytes=10**6)
    assert resource.url == web.url("/new.jpg") and resource.requested_url == web.url("/old.jpg")


def test_a_redirect_loop_stops(web):
    web.routes["/loop"] = Route(status=302, headers={"Location": "/loop"})
    with make_fetcher(max_redirects=3) as fetcher:
        error = rejected(lambda: fetcher.fetch_image(web.url("/loop"), max_bytes=10**6))
    assert error.reason == "http_error" and "3 redirects" in error.detail
    assert web.hits("/loop") == 4


# --- robots.txt -----------------------------------------------------------------
def test_robots_txt_is_obeyed_for_our_user_agent(web, fetcher):
    web.routes["/robots.txt"] = Route(
        b"User-agent: emotic-test-crawler\nDisallow: /private/\n\nUser-agent: *\nDisallow: /\n",
        headers={"Content-Type": "text/plain"},
    )
    web.routes["/private/a.jpg"] = IMAGE
    web.routes["/public/a.jpg"] = IMAGE
    error = rejected(lambda: fetcher.fetch_image(web.url("/private/a.jpg"), max_bytes=10**6))
    assert error.reason == "robots_txt"
    assert web.hits("/private/a.jpg") == 0
    assert fetcher.fetch_image(web.url("/public/a.jpg"), max_bytes=10**6).content == JPEG
    fetcher.fetch_image(web.url("/public/a.jpg"), max_bytes=10**6)
    assert web.hits("/robots.txt") == 1  # read once per site


def test_robots_txt_can_be_ignored_by_setting(web):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nDisallow: /\n")
    web.routes["/a.jpg"] = IMAGE
    with make_fetcher(obey_robots=False) as fetcher:
        assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG
    assert web.hits("/robots.txt") == 0


def test_a_missing_robots_txt_allows_everything(web, fetcher):
    web.routes["/a.jpg"] = IMAGE  # /robots.txt answers 404
    assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG


def test_a_failing_robots_txt_keeps_the_crawler_away_for_now(web):
    web.routes["/robots.txt"] = Route(b"oops", status=503)
    web.routes["/a.jpg"] = IMAGE
    with make_fetcher(retries=0) as fetcher:
        error = rejected(lambda: fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6))
    assert error.reason == "server_error" and "robots.txt answered HTTP 503" in error.detail
    assert web.hits("/a.jpg") == 0


def test_a_forbidden_robots_txt_disallows_the_site(web, fetcher):
    web.routes["/robots.txt"] = Route(b"no", status=403)
    web.routes["/a.jpg"] = IMAGE
    assert rejected(lambda: fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)).reason == "robots_txt"


# --- X-Robots-Tag ---------------------------------------------------------------
@pytest.mark.parametrize("header", ["noimageindex", "noai", "noindex, noimageai", "emotic-test-crawler: noai", "none"])
def test_x_robots_tag_refusals_are_honoured(web, fetcher, header):
    web.routes["/a.jpg"] = Route(JPEG, headers={"Content-Type": "image/jpeg", "X-Robots-Tag": header})
    error = rejected(lambda: fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6))
    assert error.reason == "x_robots_tag"


@pytest.mark.parametrize("header", ["noindex, nofollow", "otherbot: noimageindex", "max-image-preview: large", "noarchive"])
def test_x_robots_tag_directives_that_do_not_concern_us_are_ignored(web, fetcher, header):
    web.routes["/a.jpg"] = Route(JPEG, headers={"Content-Type": "image/jpeg", "X-Robots-Tag": header})
    assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG


def test_x_robots_tag_scopes_last_until_the_next_one_and_per_header_line():
    assert refusing_directives("otherbot: noindex, noai", "us") == set()
    assert refusing_directives("otherbot: noindex\nnoai", "us") == {"noai"}
    assert refusing_directives("otherbot: noindex, us: noimageindex", "us") == {"noimageindex"}


# --- sizes ---------------------------------------------------------------------
def test_a_declared_length_over_the_limit_is_refused_before_reading(web, fetcher):
    web.routes["/big.jpg"] = Route(b"x" * 5000, headers={"Content-Type": "image/jpeg"})
    error = rejected(lambda: fetcher.fetch_image(web.url("/big.jpg"), max_bytes=4096))
    assert error.reason == "too_large" and "Content-Length 5000" in error.detail


def test_an_undeclared_length_is_cut_off_while_streaming(web, fetcher):
    web.routes["/big.jpg"] = Route(b"x" * 300_000, headers={"Content-Type": "image/jpeg"}, send_length=False)
    error = rejected(lambda: fetcher.fetch_image(web.url("/big.jpg"), max_bytes=100_000))
    assert error.reason == "too_large" and "body exceeds 100000 bytes" in error.detail


# --- retries, timeouts ----------------------------------------------------------------
def flaky(status: int, failures: int, headers: dict | None = None):
    return lambda count: IMAGE if count > failures else Route(b"busy", status=status, headers=headers or {})


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(web, status):
    web.routes["/a.jpg"] = flaky(status, failures=2)
    with make_fetcher(retries=3) as fetcher:
        assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG
    assert web.hits("/a.jpg") == 3


def test_retries_of_server_errors_back_off_exponentially(web):
    """urllib3's Retry: the first retry at once, then backoff * 2**(n - 1) seconds after the n-th failure in a row."""
    web.routes["/a.jpg"] = flaky(500, failures=3)
    with make_fetcher(retries=3, backoff=0.1) as fetcher:
        assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG
    arrivals = web.arrival_times("/a.jpg")
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    assert len(gaps) == 3
    assert gaps[1] >= 0.2 and gaps[2] >= 0.4  # the waits before the 3rd and 4th attempts


def test_a_429_is_retried_after_the_time_the_server_asks(web):
    web.routes["/a.jpg"] = flaky(429, failures=1, headers={"Retry-After": "0"})
    with make_fetcher(retries=2) as fetcher:
        assert fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6).content == JPEG
    assert web.hits("/a.jpg") == 2


def test_retries_run_out_into_a_reason(web):
    web.routes["/500.jpg"] = Route(b"no", status=500)
    web.routes["/429.jpg"] = Route(b"no", status=429, headers={"Retry-After": "3600"})
    with make_fetcher(retries=2, retry_after_cap=0.05) as fetcher:
        assert rejected(lambda: fetcher.fetch_image(web.url("/500.jpg"), max_bytes=10**6)).reason == "server_error"
        # A server asking for an hour's pause gets the capped pause, then a reason.
        assert rejected(lambda: fetcher.fetch_image(web.url("/429.jpg"), max_bytes=10**6)).reason == "rate_limited"
    assert web.hits("/500.jpg") == 3 and web.hits("/429.jpg") == 3


def test_a_404_is_not_retried(web, fetcher):
    error = rejected(lambda: fetcher.fetch_image(web.url("/gone.jpg"), max_bytes=10**6))
    assert error.reason == "http_error" and "404" in error.detail
    assert web.hits("/gone.jpg") == 1


def test_a_hanging_server_times_out(web):
    web.routes["/hang.jpg"] = Route(JPEG, delay=3)
    with make_fetcher(read_timeout=0.3, retries=1) as fetcher:
        error = rejected(lambda: fetcher.fetch_image(web.url("/hang.jpg"), max_bytes=10**6))
    assert error.reason == "timeout"
    assert web.hits("/hang.jpg") == 2  # tried again once, then gave up


def test_a_trickling_server_hits_the_download_deadline(web):
    web.routes["/slow.jpg"] = Route(b"x" * 200, trickle=0.05)
    with make_fetcher(download_deadline=0.3) as fetcher:
        error = rejected(lambda: fetcher.fetch_image(web.url("/slow.jpg"), max_bytes=10**6))
    assert error.reason == "timeout" and "longer than 0.3 s" in error.detail


def test_a_refused_connection_is_a_connection_error(fetcher):
    with socket.socket() as probe:  # a port that nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    error = rejected(lambda: fetcher.fetch_image(f"http://127.0.0.1:{port}/a.jpg", max_bytes=10**6))
    assert error.reason == "connection_error"


@pytest.mark.parametrize("url", ["ftp://example.org/a.jpg", "file:///etc/passwd", "http:///a.jpg", "http://example.org:99999/"])
def test_malformed_urls_are_refused(fetcher, url):
    assert rejected(lambda: fetcher.fetch_image(url, max_bytes=10**6)).reason == "bad_url"


# --- the private-address guard ---------------------------------------------------------
def test_loopback_is_refused_when_private_addresses_are_not_allowed(web):
    web.routes["/a.jpg"] = IMAGE
    with make_fetcher(address_policy=AddressPolicy.build(allow_private=False)) as fetcher:
        for url in (web.url("/a.jpg"), f"http://localhost:{web.port}/a.jpg"):
            error = rejected(lambda url=url: fetcher.fetch_image(url, max_bytes=10**6))
            assert error.reason == "private_address" and "127.0.0.1" in error.detail and "loopback" in error.detail
    assert web.requests == []  # not even robots.txt was asked for


def test_a_redirect_to_a_private_address_is_refused():
    public = LocalServer("127.0.0.1").start()  # plays a public site: its network is allowed below
    internal = LocalServer("127.0.0.2").start()  # plays an internal service
    try:
        public.routes["/a.jpg"] = Route(status=302, headers={"Location": internal.url("/secret.jpg")})
        internal.routes["/secret.jpg"] = IMAGE
        policy = AddressPolicy.build(allow_private=False, allowed_networks=["127.0.0.1/32"])
        with make_fetcher(address_policy=policy) as fetcher:
            error = rejected(lambda: fetcher.fetch_image(public.url("/a.jpg"), max_bytes=10**6))
        assert error.reason == "private_address" and "127.0.0.2" in error.detail
        assert public.hits("/a.jpg") == 1 and internal.requests == []
    finally:
        public.stop()
        internal.stop()


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.1.2.3", "private"),
        ("192.168.0.1", "private"),
        ("172.16.5.4", "private"),
        ("169.254.169.254", "link-local"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("100.64.0.1", "non-global"),
        ("fec0::1", "site-local"),
        ("feff:ffff::1", "site-local"),
        ("2002:808:808::1", "6to4"),  # 6to4 of a public address: a tunnel all the same
        ("2002:7f00:1::1", "6to4 (loopback 127.0.0.1 inside)"),
        ("2002:a00:1::", "6to4 (private 10.0.0.1 inside)"),
        ("2002:a9fe:a9fe::", "6to4 (link-local 169.254.169.254 inside)"),
    ],
)
def test_every_kind_of_internal_address_is_refused(address, kind):
    assert AddressPolicy.build(allow_private=False).refusal(address) == kind


def test_6to4_and_site_local_answers_are_refused_among_a_names_answers():
    policy = AddressPolicy.build(allow_private=False)
    for bad in ("2002:7f00:1::1", "fec0::8"):
        with pytest.raises(AddressNotAllowed, match=bad):
            policy.check_addresses("tunnel.example", ["93.184.216.34", bad])


def test_one_bad_address_among_a_names_answers_is_enough_to_refuse():
    policy = AddressPolicy.build(allow_private=False)
    assert policy.refusal("93.184.216.34") is None
    with pytest.raises(Exception, match="10.0.0.5"):
        policy.check_addresses("mixed.example", ["93.184.216.34", "10.0.0.5"])


# --- concurrency -------------------------------------------------------------------
def test_requests_to_one_host_are_limited(web):
    web.routes["/slow.jpg"] = Route(JPEG, delay=0.2)
    with make_fetcher(max_per_host=2, max_total=10) as fetcher, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: fetcher.fetch_image(web.url("/slow.jpg"), max_bytes=10**6), range(8)))
    assert web.max_in_flight == 2


def test_requests_overall_are_limited(web):
    web.routes["/slow.jpg"] = Route(JPEG, delay=0.2)
    # 127.0.0.1 and localhost are two hosts to the limiter, one server here.
    urls = [web.url("/slow.jpg"), f"http://localhost:{web.port}/slow.jpg"] * 4
    with make_fetcher(max_per_host=4, max_total=3) as fetcher, ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda url: fetcher.fetch_image(url, max_bytes=10**6), urls))
    assert web.max_in_flight == 3


def test_the_crawler_sends_back_no_cookies(web, fetcher):
    web.routes["/a.jpg"] = Route(JPEG, headers={"Set-Cookie": "tracker=1; Path=/"})
    fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    assert [headers.get("Cookie") for path, headers in web.requests if path == "/a.jpg"] == [None, None]


def test_connections_are_kept_alive_from_one_download_to_the_next(web, fetcher):
    web.routes["/a.jpg"] = IMAGE
    for _ in range(3):
        fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    assert len(web.ports("/a.jpg")) == 3 and len(set(web.ports("/a.jpg"))) == 1


def test_a_connection_left_with_unread_bytes_is_never_reused(web, fetcher):
    web.routes["/big.jpg"] = Route(JPEG * 4, headers={"Content-Type": "image/jpeg"})
    web.routes["/a.jpg"] = IMAGE
    assert rejected(lambda: fetcher.fetch_image(web.url("/big.jpg"), max_bytes=len(JPEG))).reason == "too_large"
    fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    [refused], [second, third] = web.ports("/big.jpg"), web.ports("/a.jpg")
    assert refused != second == third  # the refused body's connection was closed; the next one is kept


@pytest.fixture
def self_signed_site(tmp_path):
    import subprocess

    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)  # fmt: skip
    server = LocalServer(certificate=(str(cert), str(key))).start()
    server.routes["/a.jpg"] = IMAGE
    yield server
    server.stop()


def test_https_certificates_are_verified(self_signed_site):
    with make_fetcher(retries=0) as fetcher:
        refusal = rejected(lambda: fetcher.fetch_image(self_signed_site.url("/a.jpg"), max_bytes=10**6))
    assert refusal.reason == "connection_error" and "CERTIFICATE_VERIFY_FAILED" in refusal.detail
    assert self_signed_site.requests == []  # nothing was asked of a server that could not prove who it is


# --- retries are logged by the scraper ---------------------------------------------
FETCHER_LOG = "scraper.fetching.fetcher"


def retry_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == FETCHER_LOG and "retrying in" in r.getMessage()]


def test_each_retry_of_a_server_error_is_logged_with_the_url_status_attempt_and_wait(web, caplog):
    """urllib3 logs its retries only at DEBUG; a crawl's operator sees them as warnings from the scraper."""
    web.routes["/a.jpg"] = flaky(500, failures=3)
    url = web.url("/a.jpg")
    with caplog.at_level("WARNING", logger=FETCHER_LOG), make_fetcher(retries=3, backoff=0.1) as fetcher:
        assert fetcher.fetch_image(url, max_bytes=10**6).content == JPEG
    assert retry_lines(caplog) == [
        f"GET {url}: HTTP 500 on attempt 1 of 4; retrying in 0.00 s",
        f"GET {url}: HTTP 500 on attempt 2 of 4; retrying in 0.20 s",
        f"GET {url}: HTTP 500 on attempt 3 of 4; retrying in 0.40 s",
    ]
    assert {r.levelname for r in caplog.records if r.name == FETCHER_LOG} == {"WARNING"}


def test_a_429_retry_is_logged_with_the_capped_wait_the_server_asked_for_and_the_last_failure_is_not(web, caplog):
    web.routes["/a.jpg"] = Route(b"no", status=429, headers={"Retry-After": "3600"})
    url = web.url("/a.jpg")
    with caplog.at_level("WARNING", logger=FETCHER_LOG), make_fetcher(retries=2, retry_after_cap=0.05) as fetcher:
        assert rejected(lambda: fetcher.fetch_image(url, max_bytes=10**6)).reason == "rate_limited"
    assert retry_lines(caplog) == [
        f"GET {url}: HTTP 429 on attempt 1 of 3; retrying in 0.05 s",
        f"GET {url}: HTTP 429 on attempt 2 of 3; retrying in 0.05 s",
    ]
    assert web.hits("/a.jpg") == 3  # the third failure is the reason, not a retry


def test_a_retry_after_a_timeout_is_logged_with_the_error(web, caplog):
    web.routes["/hang.jpg"] = Route(JPEG, delay=1)
    url = web.url("/hang.jpg")
    with caplog.at_level("WARNING", logger=FETCHER_LOG), make_fetcher(read_timeout=0.2, retries=1) as fetcher:
        assert rejected(lambda: fetcher.fetch_image(url, max_bytes=10**6)).reason == "timeout"
    [line] = retry_lines(caplog)
    assert line.startswith(f"GET {url}: ") and "Read timed out" in line
    assert line.endswith("on attempt 1 of 2; retrying in 0.00 s")
