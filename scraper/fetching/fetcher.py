"""The polite HTTP fetcher every source downloads through.

One urllib3 pool manager with kept-alive connections and retries (backoff,
Retry-After honoured but capped), timeouts and an overall deadline, a cap on
the bytes read, limits on concurrent requests overall and per host, robots.txt
and X-Robots-Tag obeyed, an identifying User-Agent, and the private-address
guard on every connection. Failures come out as ``FetchRejected`` with a
reason from ``RejectReason``, never as a half-read body.

urllib3 is used directly, not through ``requests``: a crawl spends its CPU
per image on the HTTP client more than on anything but decoding, and
``requests`` costs more than twice urllib3's own per download
(bench/bench_http_clients.py, docs/benchmarks.md). The crawler needs none of
what it adds: it keeps no cookies, reads no proxies from the environment and
follows redirects itself.
TLS is verified against certifi's CA bundle, as ``requests`` does.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import certifi
from urllib3 import HTTPHeaderDict, HTTPResponse, PoolManager, Timeout
from urllib3.exceptions import (
    ConnectTimeoutError,
    DecodeError,
    HTTPError,
    LocationValueError,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.util.retry import Retry

from scraper.fetching.address_guard import AddressNotAllowed, AddressPolicy, guarded_pool_classes
from scraper.fetching.cancel import pause
from scraper.fetching.limiter import ConcurrencyLimiter
from scraper.fetching.shared_limiter import SharedConcurrencyLimiter
from scraper.fetching.robots import ROBOTS_MAX_BYTES, RobotsCache, RobotsUnavailable
from scraper.fetching.x_robots_tag import refusing_directives
from scraper.models import RejectReason

logger = logging.getLogger(__name__)

RETRIED_STATUSES = (429, 500, 502, 503, 504)
# Response headers worth keeping as provenance.
PROVENANCE_HEADERS = (
    "content-type",
    "content-length",
    "last-modified",
    "etag",
    "date",
    "x-robots-tag",
    "link",
    "content-disposition",
    "cache-control",
    "server",
    "retry-after",  # a 429's or a maxlag error's wait, read by the search sources
)
_READ_CHUNK = 64 * 1024


class FetchRejected(Exception):
    """The URL could not or must not be fetched; ``reason`` is a ``RejectReason`` value."""

    def __init__(self, reason: str, detail: str, url: str = ""):
        self.reason = reason
        self.detail = detail
        self.url = url
        super().__init__(f"{reason}: {detail}" + (f" ({redact_url(url)})" if url else ""))


@dataclass(frozen=True)
class FetchedResource:
    requested_url: str
    url: str
    status: int
    content: bytes
    headers: dict[str, str]
    fetched_at: datetime


class CappedRetry(Retry):
    """urllib3's Retry, but a server cannot make us sleep longer than ``retry_after_cap`` seconds.

    Each retry is logged here, with its cause and wait: urllib3 logs them only
    at DEBUG, and a crawl's operator needs to see a server that keeps failing.
    """

    retry_after_cap: float = 60.0

    def get_retry_after(self, response):  # noqa: ANN001, ANN201 - urllib3's signature
        retry_after = super().get_retry_after(response)
        return None if retry_after is None else min(retry_after, self.retry_after_cap)

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):  # noqa: ANN001, ANN201
        retry = super().increment(method, url, response, error, _pool, _stacktrace)  # raises when none are left
        attempt = len(retry.history)
        limit = f" of {attempt + retry.total + 1}" if type(retry.total) is int else ""
        cause = f"HTTP {response.status}" if error is None and response is not None else _short(error)
        logger.warning(
            "%s %s: %s on attempt %d%s; retrying in %.2f s",
            method,
            _full_url(_pool, url),
            cause,
            attempt,
            limit,
            retry._next_wait(response),
        )
        return retry

    def sleep(self, response=None) -> None:  # noqa: ANN001 - urllib3's signature
        """The wait before a retry, cut short when the crawl is cancelled (``scraper.fetching.cancel``)."""
        pause(self._next_wait(response))

    def _next_wait(self, response) -> float:  # noqa: ANN001
        """What urllib3's ``sleep`` will wait: Retry-After (capped) when the answer has one, else the backoff."""
        if self.respect_retry_after_header and response is not None:
            retry_after = self.get_retry_after(response)
            if retry_after:
                return retry_after
        return self.get_backoff_time()


# Query parameters that carry credentials (Flickr's api_key): never logged, stored or shown.
SECRET_PARAMETERS = frozenset({"api_key", "key", "client_secret", "access_token", "token", "secret", "password"})


_SECRET_IN_TEXT = re.compile(r"\b(" + "|".join(sorted(SECRET_PARAMETERS)) + r")=[^&\s'\"]+", re.IGNORECASE)


def redact_url(url: str) -> str:
    """The URL with the values of credential parameters replaced by ``***``."""
    parts = urlsplit(url)
    if not parts.query:
        return url
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any(name.lower() in SECRET_PARAMETERS for name, _ in pairs):
        return url
    query = urlencode([(name, "***" if name.lower() in SECRET_PARAMETERS else value) for name, value in pairs], safe="*|,:")
    return urlunsplit(parts._replace(query=query))


def _full_url(pool, url: str | None) -> str:  # noqa: ANN001
    """urllib3 hands Retry the path only; the pool knows the scheme, host and port."""
    if pool is None or not url or not url.startswith("/"):
        return redact_url(str(url))
    host = f"[{pool.host}]" if ":" in pool.host else pool.host
    return redact_url(f"{pool.scheme}://{host}:{pool.port}{url}" if pool.port else f"{pool.scheme}://{host}{url}")


def _check_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRejected(RejectReason.BAD_URL, f"scheme must be http or https, got {parts.scheme or 'none'!r}", url)
    if not parts.hostname:
        raise FetchRejected(RejectReason.BAD_URL, "the URL names no host", url)
    try:
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError as error:
        raise FetchRejected(RejectReason.BAD_URL, str(error), url) from None
    return parts.hostname


class PoliteFetcher:
    def __init__(
        self,
        *,
        user_agent: str,
        address_policy: AddressPolicy,
        obey_robots: bool = True,
        max_total: int = 32,
        max_per_host: int = 8,
        per_host_delay: float = 0.0,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        download_deadline: float = 120.0,
        retries: int = 3,
        backoff: float = 0.5,
        retry_after_cap: float = 60.0,
        max_redirects: int = 5,
        robots_ttl: float = 86400.0,
        shared_limits_url: str = "",
        max_crawl_delay: float = 30.0,
    ):
        self.user_agent = user_agent
        self.address_policy = address_policy
        self.agent_token = user_agent.split("/", 1)[0].strip().lower()
        self.obey_robots = obey_robots
        self.per_host_delay = per_host_delay
        self.timeout = (connect_timeout, read_timeout)
        self.download_deadline = download_deadline
        self.max_redirects = max_redirects
        self.max_crawl_delay = max_crawl_delay
        if shared_limits_url:  # the limits bind every crawl process that uses this Redis
            self.limiter = SharedConcurrencyLimiter(
                shared_limits_url,
                total=max_total,
                per_host=max_per_host,
                lease_seconds=connect_timeout + download_deadline + 30,  # a slot outlives no download
            )
        else:
            self.limiter = ConcurrencyLimiter(total=max_total, per_host=max_per_host)
        retry_class = type("CappedRetry", (CappedRetry,), {"retry_after_cap": retry_after_cap})
        retry = retry_class(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            other=0,
            backoff_factor=backoff,
            backoff_max=max(backoff, retry_after_cap),
            status_forcelist=RETRIED_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            respect_retry_after_header=True,
            raise_on_status=False,
        )
        self.pool = PoolManager(
            num_pools=max(10, max_total),
            maxsize=max_per_host,
            retries=retry,
            timeout=Timeout(connect=connect_timeout, read=read_timeout),
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
        )
        self.pool.pool_classes_by_scheme = guarded_pool_classes(address_policy)
        # No proxies (urllib3 reads none from the environment): a proxy would hide the destination
        # from the address guard. No cookies: urllib3 keeps none, and a crawler should not.
        self.headers = HTTPHeaderDict({"User-Agent": user_agent, "Accept": "image/*,text/html;q=0.8,*/*;q=0.5"})
        self.robots = RobotsCache(user_agent, self._download_robots, ttl_seconds=robots_ttl)

    @classmethod
    def from_settings(cls) -> PoliteFetcher:
        from django.conf import settings

        return cls(
            user_agent=settings.SCRAPER_USER_AGENT,
            address_policy=AddressPolicy.build(
                allow_private=settings.SCRAPER_ALLOW_PRIVATE_ADDRESSES,
                allowed_networks=settings.SCRAPER_ALLOWED_NETWORKS,
            ),
            obey_robots=settings.SCRAPER_OBEY_ROBOTS_TXT,
            max_total=settings.SCRAPER_MAX_CONCURRENT_REQUESTS,
            max_per_host=settings.SCRAPER_MAX_REQUESTS_PER_HOST,
            per_host_delay=settings.SCRAPER_PER_HOST_DELAY_SECONDS,
            connect_timeout=settings.SCRAPER_CONNECT_TIMEOUT_SECONDS,
            read_timeout=settings.SCRAPER_READ_TIMEOUT_SECONDS,
            download_deadline=settings.SCRAPER_DOWNLOAD_DEADLINE_SECONDS,
            retries=settings.SCRAPER_RETRIES,
            backoff=settings.SCRAPER_RETRY_BACKOFF_SECONDS,
            retry_after_cap=settings.SCRAPER_RETRY_AFTER_CAP_SECONDS,
            max_redirects=settings.SCRAPER_MAX_REDIRECTS,
            robots_ttl=settings.SCRAPER_ROBOTS_CACHE_SECONDS,
            shared_limits_url=settings.SCRAPER_SHARED_LIMITS_URL,
            max_crawl_delay=settings.SCRAPER_MAX_CRAWL_DELAY_SECONDS,
        )

    def close(self) -> None:
        self.pool.clear()
        if isinstance(self.limiter, SharedConcurrencyLimiter):
            self.limiter.close()

    def __enter__(self) -> PoliteFetcher:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- public -----------------------------------------------------------
    def fetch_image(self, url: str, *, max_bytes: int) -> FetchedResource:
        """Download an image's bytes, honouring X-Robots-Tag noimageindex/noai."""
        resource = self._fetch_ok(url, max_bytes=max_bytes)
        refused = refusing_directives(resource.headers.get("x-robots-tag", ""), self.agent_token)
        if refused:
            raise FetchRejected(RejectReason.X_ROBOTS_TAG, f"X-Robots-Tag says {', '.join(sorted(refused))}", url)
        return resource

    def fetch_page(self, url: str, *, max_bytes: int) -> FetchedResource:
        """Download an HTML page (a search result page)."""
        return self._fetch_ok(url, max_bytes=max_bytes)

    def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        obey_robots: bool = True,
        headers: dict[str, str] | None = None,
        min_interval: float = 0.0,
        method: str = "GET",
        data: dict[str, str] | None = None,
    ) -> FetchedResource:
        """A response whatever its status (429 and 5xx after the retries), for callers that read error bodies.

        The search sources call it: an API's error body says why (an expired
        key, a quota), and a result page's says whether it is a captcha or a
        consent wall. ``min_interval`` spaces requests to the host (the
        service's rate limit, shared between processes with the shared limits);
        ``headers`` are added to the fetcher's own. ``obey_robots=False`` is for an
        API the service offers for programmatic use, which its terms govern
        (Wikimedia's robots.txt disallows ``/w/``, where its API lives); the
        address guard, limits and retries apply as to everything else.
        """
        check = self.obey_robots and obey_robots
        return self._get(url, max_bytes=max_bytes, check_robots=check, headers=headers, min_interval=min_interval, method=method, data=data)

    # --- internals --------------------------------------------------------
    def _fetch_ok(self, url: str, *, max_bytes: int) -> FetchedResource:
        resource = self._get(url, max_bytes=max_bytes, check_robots=self.obey_robots)
        problem = status_problem(resource)
        if problem is not None:
            raise problem
        return resource

    def _download_robots(self, url: str) -> tuple[int, bytes]:
        resource = self._get(url, max_bytes=ROBOTS_MAX_BYTES, check_robots=False, truncate=True)
        return resource.status, resource.content

    def _get(
        self,
        url: str,
        *,
        max_bytes: int,
        check_robots: bool,
        truncate: bool = False,
        headers: dict[str, str] | None = None,
        min_interval: float = 0.0,
        method: str = "GET",
        data: dict[str, str] | None = None,
    ) -> FetchedResource:
        requested_url = url
        for _hop in range(self.max_redirects + 1):
            host = _check_url(url)
            delay = max(self.per_host_delay, min_interval)
            try:  # early, for the right reason; the connection itself is checked again
                self.address_policy.check_host(host)
            except AddressNotAllowed as error:
                raise FetchRejected(RejectReason.PRIVATE_ADDRESS, str(error), url) from None
            except OSError:
                pass  # unresolvable: the request reports it
            if check_robots:
                try:
                    if not self.robots.allowed(url):
                        raise FetchRejected(RejectReason.ROBOTS_TXT, "robots.txt disallows this URL for our user agent", url)
                    asked = self.robots.crawl_delay(url)
                    if asked > self.max_crawl_delay:  # in effect "do not crawl me": a thread would wait for ever
                        raise FetchRejected(
                            RejectReason.ROBOTS_TXT,
                            f"robots.txt asks for a Crawl-delay of {asked:g} s, more than the {self.max_crawl_delay:g} s "
                            "this crawler waits between requests (SCRAPER_MAX_CRAWL_DELAY_SECONDS)",
                            url,
                        )
                    delay = max(delay, asked)
                except RobotsUnavailable as unavailable:
                    raise FetchRejected(unavailable.reason, unavailable.detail, url) from None
            with self.limiter.slot(host.lower(), min_interval=delay):
                response = self._send(url, headers=headers, method=method, data=data)
                whole = False
                try:
                    location = response.get_redirect_location()
                    if location:
                        url = urljoin(url, location)
                        continue
                    content = self._read_body(response, url, max_bytes=max_bytes, truncate=truncate)
                    whole = not truncate or len(content) < max_bytes
                finally:
                    if whole:
                        response.release_conn()  # read to its end: the connection is kept for the next request
                    else:
                        response.close()  # unread bytes on it: never reused
            kept = {name: response.headers[name] for name in PROVENANCE_HEADERS if name in response.headers}
            robots_tags = response.headers.getlist("x-robots-tag")
            if robots_tags:
                kept["x-robots-tag"] = "\n".join(robots_tags)  # one header per line keeps agent scoping
            return FetchedResource(requested_url, url, response.status, content, kept, datetime.now(UTC))
        raise FetchRejected(RejectReason.HTTP_ERROR, f"more than {self.max_redirects} redirects", requested_url)

    def _send(self, url: str, *, headers: dict[str, str] | None = None, method: str = "GET", data=None) -> HTTPResponse:
        sent = HTTPHeaderDict(self.headers)
        sent.update(headers or {})
        body = None
        if data is not None:
            body = urlencode(data)
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        try:
            return self.pool.urlopen(method, url, body=body, headers=sent, redirect=False, preload_content=False)
        except AddressNotAllowed as error:
            raise FetchRejected(RejectReason.PRIVATE_ADDRESS, str(error), url) from None
        except (HTTPError, OSError, ValueError) as error:
            raise FetchRejected(_reason_for(error), _short(error), url) from None

    def _read_body(self, response: HTTPResponse, url: str, *, max_bytes: int, truncate: bool) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > max_bytes and not truncate:
            raise FetchRejected(RejectReason.TOO_LARGE, f"Content-Length {declared} exceeds {max_bytes} bytes", url)
        deadline = time.monotonic() + self.download_deadline
        chunks: list[bytes] = []
        size = 0
        try:
            # read1 returns what has arrived, so the deadline is checked even while a server trickles.
            while chunk := response.read1(_READ_CHUNK, decode_content=True):
                size += len(chunk)
                if size > max_bytes:
                    if truncate:
                        chunks.append(chunk[: max_bytes - (size - len(chunk))])
                        break
                    raise FetchRejected(RejectReason.TOO_LARGE, f"body exceeds {max_bytes} bytes", url)
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise FetchRejected(
                        RejectReason.TIMEOUT, f"download took longer than {self.download_deadline:g} s", url
                    )
        except ReadTimeoutError as error:
            raise FetchRejected(RejectReason.TIMEOUT, f"body stalled: {_short(error)}", url) from None
        except DecodeError as error:
            raise FetchRejected(RejectReason.CONNECTION_ERROR, f"body not decodable: {_short(error)}", url) from None
        except (HTTPError, OSError) as error:
            raise FetchRejected(RejectReason.CONNECTION_ERROR, f"body interrupted: {_short(error)}", url) from None
        return b"".join(chunks)


def status_problem(resource: FetchedResource) -> FetchRejected | None:
    """Why a response that is not a 2xx is refused (429 and 5xx came after the retries), or None."""
    status, url = resource.status, resource.requested_url
    if status == 429:
        return FetchRejected(RejectReason.RATE_LIMITED, "429 Too Many Requests after retries", url)
    if status >= 500:
        return FetchRejected(RejectReason.SERVER_ERROR, f"HTTP {status} after retries", url)
    if status < 200 or status >= 300:
        return FetchRejected(RejectReason.HTTP_ERROR, f"HTTP {status}", url)
    return None


def _reason_for(error: Exception) -> str:
    cause = error.reason if isinstance(error, MaxRetryError) else error  # what the last attempt met
    if isinstance(cause, LocationValueError) or (isinstance(cause, ValueError) and not isinstance(cause, HTTPError)):
        return RejectReason.BAD_URL  # urllib3's parser, or http.client's check for control characters
    # urllib3 makes a refused connection a kind of connect timeout; it is not one.
    if isinstance(cause, NewConnectionError):
        return RejectReason.CONNECTION_ERROR
    if isinstance(cause, ConnectTimeoutError | ReadTimeoutError | TimeoutError):
        return RejectReason.TIMEOUT
    return RejectReason.CONNECTION_ERROR


def _short(error: Exception) -> str:
    text = _SECRET_IN_TEXT.sub(r"\1=***", str(error))  # urllib3's messages quote the URL
    return text if len(text) <= 300 else text[:297] + "..."
