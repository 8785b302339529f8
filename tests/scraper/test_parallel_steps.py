"""One job, several steps at once: each takes its own chunks, nothing is done twice, the job ends once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from catalog.models import Image
from scraper.models import CrawlJob
from scraper.services import jobs
from scraper.services.jobs import create_crawl_job, enqueue_crawl_job, run_crawl_job
from tests.catalog.images import jpeg
from tests.scraper.local_server import Route

pytestmark = pytest.mark.django_db(transaction=True)  # the steps run in threads with their own connections


def test_two_steps_of_one_job_at_once_share_its_chunks(web, settings, tmp_path, monkeypatch):
    settings.SCRAPER_CHUNK_SIZE = 3
    for i in range(24):
        web.routes[f"/{i}.jpg"] = Route(jpeg(300 + i), delay=0.25)  # slow enough for the other step to join in
    (tmp_path / "urls.txt").write_text("\n".join(web.url(f"/{i}.jpg") for i in range(24)))
    job = create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")})
    chunks_by_step: dict[str, int] = {}
    real_process_items = jobs.process_items

    def counted(items, fetcher, **kwargs):  # observes which step took a chunk, then does the real work
        name = threading.current_thread().name
        chunks_by_step[name] = chunks_by_step.get(name, 0) + 1
        return real_process_items(items, fetcher, **kwargs)

    monkeypatch.setattr(jobs, "process_items", counted)

    def step_chain():
        try:
            run_crawl_job(job)
        finally:
            connection.close()

    chains = [threading.Thread(target=step_chain, name=f"step-{n}") for n in range(2)]
    for chain in chains:
        chain.start()
    for chain in chains:
        chain.join(120)
    job.refresh_from_db()
    assert (job.state, job.found, job.stored, job.rejected) == ("done", 24, 24, 0)
    assert Image.objects.count() == 24 and sorted(job.items.values_list("attempts", flat=True)) == [1] * 24
    assert sorted(chunks_by_step) == ["step-0", "step-1"] and sum(chunks_by_step.values()) == 8  # both worked
    assert all(web.hits(f"/{i}.jpg") == 1 for i in range(24))  # no image fetched twice


@pytest.mark.django_db  # in a transaction, so the queued steps wait for its commit and can be counted
@pytest.mark.parametrize("steps", [1, 3])
def test_a_job_handed_to_the_workers_starts_as_many_step_chains_as_set(settings, tmp_path, steps, django_capture_on_commit_callbacks):
    settings.SCRAPER_PARALLEL_STEPS = steps
    (tmp_path / "urls.txt").write_text("http://example.org/a.jpg\n")
    job = create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")})
    with django_capture_on_commit_callbacks(execute=False) as queued:
        enqueue_crawl_job(job)
    assert len(queued) == steps
    assert CrawlJob.objects.get(pk=job.pk).run_by_workers
