"""robots.txt, read once per site and kept for a while (urllib.robotparser does the parsing).

The file is fetched with the crawler's own session, so it carries the
crawler's User-Agent and passes the same address guard and size limit.
Status codes follow RFC 9309: 4xx means no rules (allow all), 401/403 mean
stay away; 5xx or an unreachable site also mean stay away, but as a transient
failure (``RobotsUnavailable``) that a later attempt may get past.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit
from urllib.robotparser import RobotFileParser

logger = logging.getLogger(__name__)

# RFC 9309 asks crawlers to read at least 500 KiB; more is ignored.
ROBOTS_MAX_BYTES = 512 * 1024
# An unreachable robots.txt is retried sooner than a good one is refreshed.
UNREACHABLE_RETRY_SECONDS = 600


class RobotsUnavailable(Exception):
    """robots.txt could not be read, so the site is left alone for now; ``reason`` is transient."""

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(detail)


@dataclass
class _Entry:
    parser: RobotFileParser
    expires_at: float
    unavailable: RobotsUnavailable | None = None


def site_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _parser(*, allow_all: bool = False, disallow_all: bool = False, lines: list[str] | None = None) -> RobotFileParser:
    parser = RobotFileParser()
    parser.allow_all = allow_all
    parser.disallow_all = disallow_all
    if lines is not None:
        parser.parse(lines)
    return parser


class RobotsCache:
    """Answers "may this user agent fetch this URL?" with one robots.txt request per site.

    ``download(url)`` returns ``(status, body)`` or raises when the site cannot
    be reached (an exception with a ``reason`` attribute keeps that reason).
    """

    def __init__(self, user_agent: str, download: Callable[[str], tuple[int, bytes]], *, ttl_seconds: float):
        self.user_agent = user_agent
        self._download = download
        self._ttl = ttl_seconds
        self._entries: dict[str, _Entry] = {}
        self._site_locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()

    def _site_lock(self, site: str) -> threading.Lock:
        with self._lock:
            return self._site_locks.setdefault(site, threading.Lock())

    def _parser_for(self, site: str) -> RobotFileParser:
        with self._site_lock(site):  # one download per site, even with many threads asking
            entry = self._entries.get(site)
            if entry is None or entry.expires_at < time.monotonic():
                entry = self._load(site)
                self._entries[site] = entry
            if entry.unavailable is not None:
                raise entry.unavailable
            return entry.parser

    def _load(self, site: str) -> _Entry:
        url = f"{site}/robots.txt"
        retry_at = time.monotonic() + min(self._ttl, UNREACHABLE_RETRY_SECONDS)
        try:
            status, body = self._download(url)
        except Exception as error:  # any failure to reach the site: stay away for now
            logger.warning("robots.txt unreachable at %s (%s): leaving the site alone for now", url, error)
            reason = getattr(error, "reason", "connection_error")
            detail = f"robots.txt could not be read: {getattr(error, 'detail', error)}"
            return _Entry(_parser(disallow_all=True), retry_at, RobotsUnavailable(str(reason), detail))
        if status >= 500:
            logger.warning("robots.txt at %s answered %s: leaving the site alone for now", url, status)
            unavailable = RobotsUnavailable("server_error", f"robots.txt answered HTTP {status}")
            return _Entry(_parser(disallow_all=True), retry_at, unavailable)
        if status in (401, 403):
            return _Entry(_parser(disallow_all=True), time.monotonic() + self._ttl)
        if status >= 400:
            return _Entry(_parser(allow_all=True), time.monotonic() + self._ttl)
        text = body[:ROBOTS_MAX_BYTES].decode("utf-8", errors="replace")
        return _Entry(_parser(lines=text.splitlines()), time.monotonic() + self._ttl)

    def allowed(self, url: str) -> bool:
        return self._parser_for(site_of(url)).can_fetch(self.user_agent, url)

    def crawl_delay(self, url: str) -> float:
        """Seconds between requests the site asks this agent for (0 when it does not say)."""
        delay = self._parser_for(site_of(url)).crawl_delay(self.user_agent)
        try:
            return max(0.0, float(delay)) if delay is not None else 0.0
        except (TypeError, ValueError):
            return 0.0
