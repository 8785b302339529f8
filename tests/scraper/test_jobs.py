"""Crawl jobs end to end: every rejection counted by reason, resuming, re-running, dedup across sources."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from PIL import Image as PILImage

from catalog.models import Image
from annotator.services.assignment import emotion_pool
from scraper.models import CrawlItem, CrawlJob
from catalog.models import Source
from scraper.services.discovery import discover_items
from scraper.services.jobs import (
    HELD_POLL_SECONDS,
    advance_crawl_job,
    cancel_crawl_job,
    claim_items,
    create_crawl_job,
    resume_crawl_job,
    run_crawl_job,
    search_queries,
    shared_fetcher,
)
from scraper.sources import SourceError
from scraper.sources.search_engines import BingImages
from tests.scraper.datasets import coco_person, write_coco
from tests.catalog.images import encode, jpeg, photo
from tests.scraper.local_server import LocalServer, Route
from tests.scraper.search_pages import bing_page

pytestmark = pytest.mark.django_db


@pytest.fixture
def crawl_settings(settings, web):
    settings.SCRAPER_ENGINE_BASE_URLS = {"bing": web.base_url, "google": web.base_url}
    settings.SCRAPER_RESULTS_PER_PAGE = 50
    settings.SCRAPER_MAX_DOWNLOAD_BYTES = 200_000
    settings.MAX_IMAGE_PIXELS = 5_000_000
    settings.SCRAPER_RETRIES = 1
    settings.SCRAPER_CHUNK_SIZE = 4
    return settings


def serve_search(web, query: str, urls: list[str]) -> None:
    path = BingImages(web.base_url).page_url(query, 0, 50).removeprefix(web.base_url)
    results = [{"image_url": web.url(u), "page_url": web.url(f"/page{i}.html"), "title": f"photo {i}"} for i, u in enumerate(urls)]
    web.routes[path] = Route(bing_page(results), headers={"Content-Type": "text/html"})
    next_page = BingImages(web.base_url).page_url(query, 1, 50).removeprefix(web.base_url)
    web.routes[next_page] = Route(bing_page([]), headers={"Content-Type": "text/html"})


def serve_bad_web(web) -> dict[str, str]:
    """One image per rejection reason, and the reason each must get."""
    truncated = jpeg(40, noise=20)
    web.routes.update(
        {
            "/robots.txt": Route(b"User-agent: *\nDisallow: /private/\n"),
            "/img/html.jpg": Route(b"<!doctype html><html>login</html>", headers={"Content-Type": "image/jpeg"}),
            "/img/vector.svg": Route(b'<svg xmlns="http://www.w3.org/2000/svg"/>', headers={"Content-Type": "image/svg+xml"}),
            "/img/truncated.jpg": Route(truncated[: len(truncated) // 2]),
            "/img/tiny.png": Route(encode(PILImage.new("RGB", (1, 1)), "PNG")),
            "/img/bomb.png": Route(encode(PILImage.new("L", (3000, 3000)), "PNG")),
            "/img/huge.jpg": Route(b"\xff" * 300_000),
            "/img/broken.jpg": Route(b"", status=500),
            "/img/limited.jpg": Route(b"", status=429, headers={"Retry-After": "0"}),
            "/img/gone.jpg": Route(b"", status=404),
            "/img/noai.jpg": Route(jpeg(41), headers={"X-Robots-Tag": "noai"}),
            "/private/secret.jpg": Route(jpeg(42)),
        }
    )
    return {
        "/img/html.jpg": "not_an_image",
        "/img/vector.svg": "unsupported_format",
        "/img/truncated.jpg": "truncated",
        "/img/tiny.png": "too_small",
        "/img/bomb.png": "decompression_bomb",
        "/img/huge.jpg": "too_large",
        "/img/broken.jpg": "server_error",
        "/img/limited.jpg": "rate_limited",
        "/img/gone.jpg": "http_error",
        "/img/noai.jpg": "x_robots_tag",
        "/private/secret.jpg": "robots_txt",
    }


def test_a_search_job_stores_good_images_and_counts_every_rejection_by_reason(web, crawl_settings):
    expected = serve_bad_web(web)
    for i in range(3):
        web.routes[f"/img/ok{i}.jpg"] = Route(jpeg(50 + i), headers={"Content-Type": "image/jpeg", "Last-Modified": "Tue, 01 Jan 2019 00:00:00 GMT"})
    web.routes["/img/copy.jpg"] = Route(jpeg(50))  # the same bytes as ok0 under another URL
    web.routes["/img/smaller.jpg"] = Route(jpeg(51, (200, 150), quality=70))  # ok1, resized
    urls = [f"/img/ok{i}.jpg" for i in range(3)] + ["/img/copy.jpg", "/img/smaller.jpg", *expected]
    serve_search(web, "happy people eating in a park", urls)

    job = create_crawl_job(
        "search", {"engine": "bing", "queries": search_queries(queries=["happy people eating in a park"]), "limit": 50}
    )
    job = run_crawl_job(job)

    assert job.state == CrawlJob.State.DONE and job.error == ""
    assert (job.found, job.stored, job.exact_duplicates, job.near_duplicates, job.rejected) == (16, 3, 1, 1, 11)
    assert job.rejected_by_reason == {reason: 1 for reason in expected.values()}
    assert job.fetched == 10  # bodies read and judged: 5 images, html, svg, truncated, tiny, bomb
    for path, reason in expected.items():
        item = job.items.get(image_url=web.url(path))
        assert (item.state, item.reason) == ("rejected", reason) and item.detail
    image = Image.objects.get(source_url=web.url("/img/ok2.jpg"))
    assert image.source.kind == Source.Kind.SEARCH_ENGINE and image.source.engine == "bing"
    assert image.source.query == image.source_record == "happy people eating in a park"
    assert image.page_url == web.url("/page2.html") and image.original_database == "web"
    assert image.http_headers["last-modified"] == "Tue, 01 Jan 2019 00:00:00 GMT"
    # ok0 and copy are the same bytes: whichever was fetched first is stored, the other points at it.
    twins = {item.state: item for item in job.items.filter(image_url__in=[web.url("/img/ok0.jpg"), web.url("/img/copy.jpg")])}
    assert set(twins) == {"stored", "exact_duplicate"}
    assert twins["exact_duplicate"].image == twins["stored"].image
    assert twins["stored"].image.source_url == twins["stored"].image_url


def run_url_list(tmp_path, urls: list[str]) -> CrawlJob:
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    return run_crawl_job(create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")}))


def rejection_log(caplog, job: CrawlJob) -> list[tuple[int, str]]:
    """The level and text of each rejection the job logged."""
    return [(r.levelno, r.getMessage()) for r in caplog.records if r.getMessage().startswith(f"job {job.pk}: ") and " rejected (" in r.getMessage()]


def test_a_hanging_server_is_a_timeout_logged_and_counted_on_the_job(web, tmp_path, crawl_settings, caplog):
    crawl_settings.SCRAPER_READ_TIMEOUT_SECONDS = 0.3
    web.routes["/hang.jpg"] = Route(jpeg(64), delay=2)  # answers long after the read timeout
    web.routes["/ok.jpg"] = Route(jpeg(65))
    caplog.set_level(logging.INFO, logger="scraper")

    job = run_url_list(tmp_path, [web.url("/hang.jpg"), web.url("/ok.jpg")])

    assert (job.state, job.stored, job.rejected_by_reason) == ("done", 1, {"timeout": 1})
    item = job.items.get(key=web.url("/hang.jpg"))
    assert item.reason == "timeout" and "timed out" in item.detail.lower()
    assert rejection_log(caplog, job) == [(logging.INFO, f"job {job.pk}: {item.key} rejected (timeout): {item.detail}")]
    assert web.hits("/hang.jpg") == 2  # SCRAPER_RETRIES=1: tried again once


def test_a_redirect_to_a_private_address_is_refused_logged_and_counted_on_the_job(web, tmp_path, crawl_settings, caplog):
    internal = LocalServer("127.0.0.2").start()  # plays an internal service; `web` plays a public site
    try:
        crawl_settings.SCRAPER_ALLOW_PRIVATE_ADDRESSES = False
        crawl_settings.SCRAPER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        web.routes["/moved.jpg"] = Route(status=302, headers={"Location": internal.url("/secret.jpg")})
        web.routes["/ok.jpg"] = Route(jpeg(66))
        internal.routes["/secret.jpg"] = Route(jpeg(67))
        caplog.set_level(logging.INFO, logger="scraper")

        job = run_url_list(tmp_path, [web.url("/moved.jpg"), web.url("/ok.jpg")])

        assert (job.state, job.stored, job.rejected_by_reason) == ("done", 1, {"private_address": 1})
        item = job.items.get(key=web.url("/moved.jpg"))
        assert item.reason == "private_address" and "127.0.0.2" in item.detail
        assert rejection_log(caplog, job) == [
            (logging.INFO, f"job {job.pk}: {item.key} rejected (private_address): {item.detail}")
        ]
        assert internal.requests == []  # the internal service was never asked
    finally:
        internal.stop()


def test_rerunning_a_job_skips_what_is_done_and_retries_transient_failures(web, crawl_settings):
    web.routes["/img/a.jpg"] = Route(jpeg(60))
    web.routes["/img/flaky.jpg"] = Route(b"", status=503)
    serve_search(web, "q", ["/img/a.jpg", "/img/flaky.jpg"])
    job = run_crawl_job(create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["q"]), "limit": 5}))
    assert (job.stored, job.rejected_by_reason) == (1, {"server_error": 1})
    hits_before = web.hits("/img/a.jpg")

    web.routes["/img/flaky.jpg"] = Route(jpeg(61))  # the server has recovered
    job = run_crawl_job(resume_crawl_job(job))
    assert (job.state, job.stored, job.rejected) == ("done", 2, 0)
    assert web.hits("/img/a.jpg") == hits_before  # done work is not fetched again


def test_a_second_job_does_not_download_urls_already_stored(web, crawl_settings):
    web.routes["/img/a.jpg"] = Route(jpeg(62))
    serve_search(web, "q", ["/img/a.jpg"])
    run_crawl_job(create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["q"]), "limit": 5}))
    second = run_crawl_job(create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["q"]), "limit": 5}))
    assert second.exact_duplicates == 1 and web.hits("/img/a.jpg") == 1


def test_items_held_by_a_dead_worker_are_taken_over_when_the_claim_expires(tmp_path, crawl_settings):
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(70 + i))
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    advance_crawl_job(job.pk)  # discovery
    crashed = claim_items(job, 2)  # a worker takes two items and dies
    assert len(crashed) == 2
    assert advance_crawl_job(job.pk) == 0.0  # the third item is done by a live worker
    wait = advance_crawl_job(job.pk)
    assert wait == HELD_POLL_SECONDS  # nothing to do but look again (a parallel step may end soon; a dead one's claim runs out)
    CrawlItem.objects.filter(pk__in=[i.pk for i in crashed]).update(claimed_until=timezone.now() - timedelta(seconds=1))
    job = run_crawl_job(job)
    assert (job.state, job.stored) == ("done", 3)
    assert sorted(job.items.values_list("attempts", flat=True)) == [1, 2, 2]


def test_an_item_that_keeps_killing_workers_is_given_up(tmp_path, crawl_settings):
    crawl_settings.SCRAPER_MAX_ITEM_ATTEMPTS = 2
    (tmp_path / "a.jpg").write_bytes(jpeg(75))
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    advance_crawl_job(job.pk)
    for _ in range(2):  # two workers die on it
        claim_items(job, 1)
        CrawlItem.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    job = run_crawl_job(job)
    assert job.rejected_by_reason == {"gave_up": 1} and not Image.objects.exists()


def test_an_interrupted_discovery_resumes_after_the_last_saved_batch(web, crawl_settings):
    for query in ("one", "two"):
        web.routes[f"/img/{query}.jpg"] = Route(jpeg(80 if query == "one" else 81))
        serve_search(web, query, [f"/img/{query}.jpg"])
    job = create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["one", "two"]), "limit": 5})

    def die_after_first_batch(job):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        discover_items(job, shared_fetcher(), on_batch=die_after_first_batch)
    job.refresh_from_db()
    assert job.items.count() == 1 and not job.discovery_done
    job = run_crawl_job(job)
    assert (job.found, job.stored) == (2, 2)
    first_page = BingImages(web.base_url).page_url("one", 0, 50).removeprefix(web.base_url)
    assert web.hits(first_page) == 1  # the saved batch's page was not read again
    assert {s.query for s in Source.objects.filter(kind="search_engine")} == {"one", "two"}


def test_exact_and_near_duplicates_are_found_across_sources(tmp_path, crawl_settings):
    coco = write_coco(tmp_path / "coco", [{"id": 1, "seed": 90}], [coco_person(1, 1, [10, 10, 100, 200])])
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "same.jpg").write_bytes((tmp_path / "coco" / "val2017" / "000000000001.jpg").read_bytes())
    photo(90, (320, 240)).save(folder / "resized.png")
    (folder / "other.jpg").write_bytes(jpeg(91))

    coco_job = run_crawl_job(create_crawl_job("coco", {"path": str(coco)}))
    folder_job = run_crawl_job(create_crawl_job("folder", {"path": str(folder)}))
    assert coco_job.stored == 1
    assert (folder_job.stored, folder_job.exact_duplicates, folder_job.near_duplicates) == (1, 1, 1)
    coco_image = Image.objects.get(original_database="mscoco")
    assert folder_job.items.get(key="resized.png").image == coco_image
    assert coco_image.people.get().box == (10, 10, 110, 210)


def test_a_coco_import_makes_people_ready_for_emotion_tasks(tmp_path, crawl_settings):
    path = write_coco(
        tmp_path,
        [{"id": 5, "seed": 92}, {"id": 6, "seed": 93}],
        [coco_person(1, 5, [10, 10, 50, 100]), coco_person(2, 5, [200, 20, 80, 150]), coco_person(3, 6, [0, 0, 0, 0])],
    )
    job = run_crawl_job(create_crawl_job("coco", {"path": str(path)}))
    assert (job.stored, job.rejected_by_reason) == (1, {"bad_record": 1})
    image = Image.objects.get()
    assert (image.original_database, image.folder, image.filename) == ("mscoco", "mscoco/images", "000000000005.jpg")
    assert sorted(p.box for p in image.people.all()) == [(10, 10, 60, 110), (200, 20, 280, 170)]
    assert {p.box_origin for p in image.people.all()} == {"imported"}
    assert image.source.dataset == "mscoco" and image.source_record == "coco image 5"
    # COCO's boxes are final: no box-drawing stage, the people go straight to emotion tasks.
    assert image.boxes_confirmed
    assert set(emotion_pool()) == set(image.people.all())


def test_a_dataset_file_name_that_cannot_be_placed_is_a_bad_record_and_the_rest_imported(tmp_path, crawl_settings):
    """COCO's backslash: the image is refused at ingest naming the field, and later exports never meet it."""
    path = write_coco(
        tmp_path,
        [{"id": 1, "seed": 101, "file_name": "sub\\000000000001.jpg"}, {"id": 2, "seed": 102}],
        [coco_person(1, 1, [10, 10, 50, 100]), coco_person(2, 2, [10, 10, 50, 100])],
    )
    job = run_crawl_job(create_crawl_job("coco", {"path": str(path)}))
    assert (job.stored, job.rejected_by_reason) == (1, {"bad_record": 1})
    bad = job.items.get(reason="bad_record")
    assert bad.detail.startswith("filename: must be a plain file name without '/' or '\\'")
    assert list(Image.objects.values_list("filename", flat=True)) == ["000000000002.jpg"]


def test_images_without_trusted_boxes_wait_for_workers_to_draw_them(tmp_path, crawl_settings):
    coco = write_coco(tmp_path / "coco", [{"id": 1, "seed": 97}], [coco_person(1, 1, [10, 10, 100, 200])])
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "a.jpg").write_bytes((tmp_path / "coco" / "val2017" / "000000000001.jpg").read_bytes())
    (folder / "b.jpg").write_bytes(jpeg(98))
    run_crawl_job(create_crawl_job("folder", {"path": str(folder)}))
    assert not Image.objects.filter(boxes_confirmed=True).exists()
    run_crawl_job(create_crawl_job("coco", {"path": str(coco)}))  # the same photo, with COCO's boxes
    assert list(Image.objects.filter(boxes_confirmed=True).values_list("filename", flat=True)) == ["a.jpg"]


def test_a_missing_file_in_a_dataset_is_counted_and_the_rest_imported(tmp_path, crawl_settings):
    path = write_coco(
        tmp_path, [{"id": 1, "seed": 94, "missing": True}, {"id": 2, "seed": 95}], [coco_person(1, 1, [1, 1, 90, 90]), coco_person(2, 2, [1, 1, 90, 90])]
    )
    job = run_crawl_job(create_crawl_job("coco", {"path": str(path)}))
    assert (job.stored, job.rejected_by_reason) == (1, {"missing_file": 1})


def test_a_source_that_cannot_be_read_fails_the_job_with_the_reason_and_keeps_what_is_stored(tmp_path, crawl_settings):
    (tmp_path / "a.jpg").write_bytes(jpeg(96))
    run_crawl_job(create_crawl_job("folder", {"path": str(tmp_path)}))
    coco = tmp_path / "instances_val.json"
    coco.write_text('{"images": [}')
    job = run_crawl_job(create_crawl_job("coco", {"path": str(coco), "images_dir": str(tmp_path)}))
    assert job.state == "failed" and "is not valid JSON (line 1" in job.error
    assert Image.objects.count() == 1


@pytest.mark.parametrize(
    ("kind", "params", "message"),
    [
        ("coco", {"path": "/no/such.json"}, "path: '/no/such.json' does not exist"),
        ("folder", {}, "path: give the file or folder to import"),
        ("search", {"engine": "bing", "queries": [], "limit": 5}, "queries: give at least one query"),
        ("search", {"engine": "yahoo", "queries": [{"text": "x"}], "limit": 5}, "engine: unknown engine 'yahoo'"),
        ("search", {"engine": "bing", "queries": [{"text": "x"}], "limit": 0}, "limit: must be a whole number of at least 1"),
        ("gopher", {}, "kind: must be one of"),
    ],
)
@pytest.mark.usefixtures("every_path_importable")
def test_bad_job_parameters_are_named(kind, params, message):
    with pytest.raises(SourceError, match=message.replace("(", r"\(").replace(")", r"\)")):
        create_crawl_job(kind, params)
    assert not CrawlJob.objects.exists()


def test_a_cancelled_job_stops_and_keeps_what_it_stored(tmp_path, crawl_settings):
    for i in range(6):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(100 + i))
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    advance_crawl_job(job.pk)
    advance_crawl_job(job.pk)  # one chunk of 4
    cancel_crawl_job(job)
    assert advance_crawl_job(job.pk) is None
    job.refresh_from_db()
    assert (job.state, job.stored, job.items.filter(state="pending").count()) == ("cancelled", 4, 2)
    assert run_crawl_job(resume_crawl_job(job)).stored == 6


def test_an_item_the_database_refuses_does_not_spoil_its_batch(tmp_path, crawl_settings):
    from django.db import connection

    crawl_settings.SCRAPER_MAX_ITEM_ATTEMPTS = 2
    for i, name in enumerate(["a.jpg", "bad.jpg", "c.jpg"]):
        (tmp_path / name).write_bytes(jpeg(110 + i))
    with connection.cursor() as cursor:  # the database refuses this one row, and only it
        cursor.execute(
            "CREATE FUNCTION refuse_bad() RETURNS trigger AS $$ BEGIN "
            "IF NEW.filename = 'bad.jpg' THEN RAISE EXCEPTION 'no room for bad.jpg'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        cursor.execute("CREATE TRIGGER refuse_bad BEFORE INSERT ON annotator_image FOR EACH ROW EXECUTE FUNCTION refuse_bad()")
    job = run_crawl_job(create_crawl_job("folder", {"path": str(tmp_path)}))
    assert (job.state, job.stored, job.rejected_by_reason) == ("done", 2, {"gave_up": 1})
    bad = job.items.get(key="bad.jpg")
    assert "no room for bad.jpg" in bad.detail and bad.attempts == 3
    assert sorted(Image.objects.values_list("filename", flat=True)) == ["a.jpg", "c.jpg"]
    stored_keys = set(Image.objects.values_list("storage_key", flat=True))
    files = {str(p.relative_to(crawl_settings.MEDIA_ROOT)) for p in Path(crawl_settings.MEDIA_ROOT).rglob("*") if p.is_file()}
    assert files == stored_keys  # bad.jpg's file was removed each time


def test_a_redirected_image_keeps_both_urls(web, crawl_settings):
    web.routes["/img/moved.jpg"] = Route(status=301, headers={"Location": "/cdn/final.jpg"})
    web.routes["/cdn/final.jpg"] = Route(jpeg(120))
    serve_search(web, "q", ["/img/moved.jpg"])
    job = run_crawl_job(create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["q"]), "limit": 5}))
    item = job.items.get()
    assert item.state == "stored" and item.extra["final_url"] == web.url("/cdn/final.jpg")
    assert item.image.source_url == web.url("/img/moved.jpg")  # the URL the result page gave


def test_images_are_stored_while_discovery_is_still_going(web, crawl_settings):
    for query in ("one", "two"):
        web.routes[f"/img/{query}.jpg"] = Route(jpeg(130 if query == "one" else 131))
        serve_search(web, query, [f"/img/{query}.jpg"])
    job = create_crawl_job("search", {"engine": "bing", "queries": search_queries(queries=["one", "two"]), "limit": 5})
    assert discover_items(job, shared_fetcher(), max_seconds=0) is False  # a spell of discovery ran out after one batch
    advance_crawl_job(job.pk)  # the next step fetches what was found so far
    job.refresh_from_db()
    assert (job.stored, job.discovery_done) == (1, False)
    job = run_crawl_job(job)
    assert (job.state, job.stored) == ("done", 2)


def test_arrivals_are_committed_in_batches_not_one_transaction_each(tmp_path, crawl_settings, monkeypatch):
    """Each commit holds the ingest lock for a few round trips whatever its size: they are gathered."""
    import scraper.services.pipeline as pipeline

    crawl_settings.SCRAPER_CHUNK_SIZE = 40
    monkeypatch.setattr(pipeline, "COMMIT_BATCH", 16)
    monkeypatch.setattr(pipeline, "COMMIT_WAIT_SECONDS", 60)  # only the count, or the chunk's end, may start a commit
    for i in range(40):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(300 + i, (96, 72)))
    batches, commit = [], pipeline._commit_batch
    monkeypatch.setattr(pipeline, "_commit_batch", lambda arrivals: (batches.append(len(arrivals)), commit(arrivals))[1])
    job = run_crawl_job(create_crawl_job("folder", {"path": str(tmp_path)}))
    assert job.stored + job.near_duplicates == 40 and sum(batches) == 40
    assert all(size >= 16 for size in batches[:-1]) and len(batches) <= 3
