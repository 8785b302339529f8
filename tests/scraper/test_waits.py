"""A crawl's waits: a hostile Crawl-delay cannot hold a thread, and every wait ends when the job is cancelled
or the worker shuts down, leaving the items for later rather than refused."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from scraper.fetching.cancel import FetchCancelled, cancellable, pause, shutting_down
from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import advance_crawl_job, cancel_crawl_job, create_crawl_job
from tests.catalog.images import jpeg
from tests.scraper.conftest import make_fetcher
from tests.scraper.local_server import Route

IMAGE = Route(jpeg(7), headers={"Content-Type": "image/jpeg"})


def test_a_crawl_delay_above_the_cap_refuses_the_site_without_waiting(web):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 1000000000\n")
    web.routes["/a.jpg"] = IMAGE
    with make_fetcher(max_crawl_delay=30) as fetcher:
        started = time.monotonic()
        with pytest.raises(Exception) as refused:
            fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
    assert time.monotonic() - started < 2
    assert refused.value.reason == "robots_txt"
    assert "Crawl-delay of 1e+09 s, more than the 30 s" in refused.value.detail and web.hits("/a.jpg") == 0


def test_a_crawl_delay_within_the_cap_spaces_the_requests(web):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 1\n")  # whole seconds: robots.txt has no others
    web.routes["/a.jpg"] = web.routes["/b.jpg"] = IMAGE
    with make_fetcher(max_crawl_delay=30) as fetcher:
        fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)
        fetcher.fetch_image(web.url("/b.jpg"), max_bytes=10**6)
    arrivals = {path: at for path, at in web.arrivals}
    assert arrivals["/b.jpg"] - arrivals["/a.jpg"] >= 0.99


def test_a_wait_for_the_sites_crawl_delay_ends_at_once_when_cancelled(web):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 25\n")
    web.routes["/a.jpg"] = web.routes["/b.jpg"] = IMAGE
    stop, outcome = threading.Event(), []
    with make_fetcher(max_crawl_delay=30) as fetcher:
        fetcher.fetch_image(web.url("/a.jpg"), max_bytes=10**6)  # the next request to this site is 25 s away

        def second():
            with cancellable(stop):
                try:
                    fetcher.fetch_image(web.url("/b.jpg"), max_bytes=10**6)
                    outcome.append("fetched")
                except FetchCancelled:
                    outcome.append("cancelled")

        thread = threading.Thread(target=second)
        started = time.monotonic()
        thread.start()
        time.sleep(0.3)
        stop.set()
        thread.join(5)
    assert outcome == ["cancelled"] and time.monotonic() - started < 2 and web.hits("/b.jpg") == 0


def test_a_shutdown_ends_every_wait_in_the_process():
    try:
        shutting_down.set()
        started = time.monotonic()
        with pytest.raises(FetchCancelled):
            pause(60)
        assert time.monotonic() - started < 0.5
    finally:
        shutting_down.clear()


@pytest.mark.django_db(transaction=True)  # the step runs in a thread with its own connection
def test_cancelling_a_job_frees_the_threads_waiting_on_a_site_and_leaves_the_items_pending(web, tmp_path, settings):
    settings.SCRAPER_MAX_CRAWL_DELAY_SECONDS = 60
    web.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 40\n")
    for n in range(3):
        web.routes[f"/{n}.jpg"] = Route(jpeg(20 + n), headers={"Content-Type": "image/jpeg"})
    (tmp_path / "urls.txt").write_text("\n".join(web.url(f"/{n}.jpg") for n in range(3)))
    job = create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")})
    with make_fetcher(max_crawl_delay=60) as fetcher:
        advance_crawl_job(job.pk, fetcher=fetcher)  # discovery
        finished = threading.Event()

        def step():
            try:
                advance_crawl_job(job.pk, fetcher=fetcher)  # one image, then two waits of 40 and 80 s
            finally:
                finished.set()
                connection.close()

        threading.Thread(target=step, daemon=True).start()
        deadline = time.monotonic() + 10
        while sum(web.hits(f"/{n}.jpg") for n in range(3)) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        started = time.monotonic()
        cancel_crawl_job(job)
        assert finished.wait(10), "the step still waits on the site after its job was cancelled"
    assert time.monotonic() - started < 5
    items = CrawlItem.objects.filter(job=job)
    assert items.filter(state=CrawlItem.State.STORED).count() == 1
    waiting = items.filter(state=CrawlItem.State.PENDING)
    assert waiting.count() == 2 and set(waiting.values_list("attempts", "claimed_until")) == {(0, None)}
    assert CrawlJob.objects.get(pk=job.pk).state == CrawlJob.State.CANCELLED


def test_crawls_have_a_queue_of_their_own():
    from config.celery import app

    def queue_of(name: str) -> str:
        route = app.amqp.router.route({}, name)
        return route["queue"].name if hasattr(route["queue"], "name") else route["queue"]

    assert queue_of("scraper.run_crawl_job") == queue_of("scraper.requeue_stalled_crawl_jobs") == "crawl"
    assert queue_of("emotic_export.build_snapshot") == queue_of("quality.drain_refreshes") == "celery"
