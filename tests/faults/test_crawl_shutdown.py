"""A worker told to stop (warm shutdown) while its crawl waits on a site's Crawl-delay stops in seconds, not
when the site allows: every wait is cut short, the step ends, and the items waiting go back to pending."""

from __future__ import annotations

import time

import pytest

from scraper.models import CrawlItem, CrawlJob
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job
from tests.catalog.images import jpeg
from tests.faults.conftest import publishing_to, wait_until
from tests.scraper.local_server import LocalServer, Route

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def web():
    server = LocalServer().start()
    yield server
    server.stop()


def test_a_warm_shutdown_does_not_wait_for_a_sites_crawl_delay(web, tmp_path, private_redis, start_worker):
    web.routes["/robots.txt"] = Route(b"User-agent: *\nCrawl-delay: 45\n")
    for n in range(3):
        web.routes[f"/{n}.jpg"] = Route(jpeg(400 + n), headers={"Content-Type": "image/jpeg"})
    (tmp_path / "urls.txt").write_text("\n".join(web.url(f"/{n}.jpg") for n in range(3)))
    job = create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")})
    with publishing_to(private_redis.url):
        enqueue_crawl_job(job)
    worker = start_worker("crawl", SCRAPER_OBEY_ROBOTS_TXT="true", SCRAPER_MAX_CRAWL_DELAY_SECONDS="60")
    wait_until(lambda: CrawlItem.objects.filter(job=job, state=CrawlItem.State.STORED).exists(),
               "the first image, after which the site asks for 45 s between requests", worker=worker)
    time.sleep(0.5)  # the other two now wait on the Crawl-delay

    started = time.monotonic()
    worker.process.terminate()  # SIGTERM: Celery's warm shutdown
    worker.process.wait(timeout=40)
    assert time.monotonic() - started < 15, worker.log()
    items = CrawlItem.objects.filter(job=job)
    assert items.filter(state=CrawlItem.State.STORED).count() == 1
    assert set(items.exclude(state=CrawlItem.State.STORED).values_list("state", "attempts", "claimed_until")) == {
        (CrawlItem.State.PENDING, 0, None)}
    assert CrawlJob.objects.get(pk=job.pk).state == CrawlJob.State.RUNNING  # the next worker goes on with it
    assert sum(web.hits(f"/{n}.jpg") for n in range(3)) == 1
