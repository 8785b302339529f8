"""Fetch limits held in Redis bind every crawl process together (two fetchers stand for two processes)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import redis

from scraper.fetching.shared_limiter import SharedConcurrencyLimiter
from tests.scraper.conftest import make_fetcher
from tests.catalog.images import jpeg
from tests.scraper.local_server import Route

REDIS_URL = "redis://127.0.0.1:6379/14"
JPEG = jpeg(7)


@pytest.fixture(autouse=True)
def clean_limits():
    client = redis.Redis.from_url(REDIS_URL)

    def clean():
        for key in client.scan_iter("scraper:limits*"):
            client.delete(key)

    clean()
    yield
    clean()
    client.close()


def fetch_all(fetchers, urls):
    """Each URL through the fetchers in turn, eight at a time."""
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda pair: pair[0].fetch_image(pair[1], max_bytes=10**6),
                      [(fetchers[i % len(fetchers)], url) for i, url in enumerate(urls)]))


def test_the_per_host_limit_holds_across_processes(web):
    web.routes["/slow.jpg"] = Route(JPEG, delay=0.2)
    with make_fetcher(max_per_host=2, max_total=10, shared_limits_url=REDIS_URL) as first, \
            make_fetcher(max_per_host=2, max_total=10, shared_limits_url=REDIS_URL) as second:
        fetch_all([first, second], [web.url("/slow.jpg")] * 8)
    assert web.max_in_flight == 2  # each process alone would have allowed 2 more


def test_the_overall_limit_holds_across_processes(web):
    web.routes["/slow.jpg"] = Route(JPEG, delay=0.2)
    urls = [web.url("/slow.jpg"), f"http://localhost:{web.port}/slow.jpg"] * 4  # two hosts to the limiter
    with make_fetcher(max_per_host=4, max_total=3, shared_limits_url=REDIS_URL) as first, \
            make_fetcher(max_per_host=4, max_total=3, shared_limits_url=REDIS_URL) as second:
        fetch_all([first, second], urls)
    assert web.max_in_flight == 3


def test_the_per_host_delay_spaces_requests_from_every_process(web):
    web.routes["/a.jpg"] = Route(JPEG)
    with make_fetcher(per_host_delay=0.15, shared_limits_url=REDIS_URL, obey_robots=False) as first, \
            make_fetcher(per_host_delay=0.15, shared_limits_url=REDIS_URL, obey_robots=False) as second:
        fetch_all([first, second], [web.url("/a.jpg")] * 5)
    arrivals = sorted(web.arrival_times("/a.jpg"))
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:])]
    assert len(arrivals) == 5 and min(gaps) >= 0.13, gaps


def test_a_slot_held_by_a_process_that_died_comes_back_when_its_lease_ends():
    dead = SharedConcurrencyLimiter(REDIS_URL, total=5, per_host=1, lease_seconds=0.4)
    dead._take("example.org")  # taken and never given back: the process holding it was killed
    alive = SharedConcurrencyLimiter(REDIS_URL, total=5, per_host=1, lease_seconds=30)
    started = time.monotonic()
    with alive.slot("example.org"):
        waited = time.monotonic() - started
    assert 0.3 <= waited < 5, waited
    started = time.monotonic()
    with alive.slot("example.org"), alive.slot("another.org"):  # given back: free again at once, other hosts too
        again = time.monotonic() - started
    assert again < 0.2, again


def test_slots_are_given_back_when_the_request_fails():
    limiter = SharedConcurrencyLimiter(REDIS_URL, total=1, per_host=1, lease_seconds=30)
    with pytest.raises(RuntimeError), limiter.slot("example.org"):
        raise RuntimeError("connection reset")
    done = threading.Event()
    threading.Thread(target=lambda: (limiter.slot("example.org").__enter__(), done.set()), daemon=True).start()
    assert done.wait(2)


@pytest.mark.parametrize(("total", "per_host", "lease"), [(0, 1, 1), (1, 0, 1), (1, 1, 0)])
def test_bad_limits_are_refused(total, per_host, lease):
    with pytest.raises(ValueError):
        SharedConcurrencyLimiter(REDIS_URL, total=total, per_host=per_host, lease_seconds=lease)
