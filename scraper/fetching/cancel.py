"""Waits a crawl can cut short: a job cancelled in the admin, or a worker shutting down.

A crawl waits a lot on purpose (robots.txt's Crawl-delay, the per-host delay,
a Retry-After, a free slot under the shared limits). Every such wait goes
through ``pause``, which returns early with ``FetchCancelled`` when the
thread's current cancel event is set (``cancellable(event)`` around the
work of one job) or when the process is shutting down (``shutting_down``,
set from Celery's warm shutdown). The item being fetched is left for a later
attempt, never counted as refused.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

shutting_down = threading.Event()  # the whole process: every crawl wait in it ends
_current = threading.local()


class FetchCancelled(Exception):
    """The wait was cut short: the job was cancelled or the worker is shutting down."""


@contextmanager
def cancellable(event: threading.Event | None) -> Iterator[None]:
    """Waits in this thread end early when ``event`` is set (None: only a shutdown ends them)."""
    previous = getattr(_current, "event", None)
    _current.event = event
    try:
        yield
    finally:
        _current.event = previous


def cancelled() -> bool:
    event = getattr(_current, "event", None)
    return shutting_down.is_set() or (event is not None and event.is_set())


def pause(seconds: float) -> None:
    """Sleep ``seconds``, or raise ``FetchCancelled`` as soon as the wait is cancelled."""
    deadline = time.monotonic() + max(0.0, seconds)
    event = getattr(_current, "event", None)
    while True:
        if cancelled():
            raise FetchCancelled("the job was cancelled or the worker is shutting down")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        # Wake at least every 0.2 s to see a shutdown too (one event cannot wait on two).
        (event or shutting_down).wait(min(remaining, 0.2))
