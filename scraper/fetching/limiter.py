"""How many requests may be in flight: overall, per host, and how often per host."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from scraper.fetching.cancel import pause


class ConcurrencyLimiter:
    """A slot per request: at most ``total`` at once, ``per_host`` to one host,
    and request starts to one host at least ``min_interval`` seconds apart.

    The host slot is taken before the overall one, so threads queued on a busy
    host do not hold overall slots that requests to other hosts could use.
    """

    def __init__(self, *, total: int, per_host: int):
        if total < 1 or per_host < 1:
            raise ValueError("total and per_host must be at least 1")
        self._total = threading.BoundedSemaphore(total)
        self._per_host = per_host
        self._host_slots: dict[str, threading.BoundedSemaphore] = {}
        self._next_start: dict[str, float] = {}
        self._lock = threading.Lock()

    def _host_semaphore(self, host: str) -> threading.BoundedSemaphore:
        with self._lock:
            return self._host_slots.setdefault(host, threading.BoundedSemaphore(self._per_host))

    def _wait_for_turn(self, host: str, min_interval: float) -> None:
        if min_interval <= 0:
            return
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next_start.get(host, 0.0))
            self._next_start[host] = start + min_interval
        if start > now:
            pause(start - now)

    @contextmanager
    def slot(self, host: str, *, min_interval: float = 0.0) -> Iterator[None]:
        with self._host_semaphore(host), self._total:
            self._wait_for_turn(host, min_interval)
            yield
