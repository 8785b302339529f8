"""The command line: scrape, import_dataset, crawl_job; progress, summary, errors naming the argument."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from catalog.models import Image
from scraper.models import CrawlJob
from scraper.sources.search_engines import BingImages, GoogleImages
from tests.scraper.datasets import coco_person, write_coco
from tests.catalog.images import jpeg
from tests.scraper.local_server import Route
from tests.scraper.search_pages import bing_page, google_page

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_scrape_runs_a_search_with_a_progress_bar_and_a_summary(web, settings):
    settings.SCRAPER_ENGINE_BASE_URLS = {"bing": web.base_url, "google": web.base_url}
    engine = GoogleImages(web.base_url)
    for i in range(2):
        web.routes[f"/p/{i}.jpg"] = Route(jpeg(200 + i))
    web.routes[engine.page_url("kids playing", 0, 3).removeprefix(web.base_url)] = Route(
        google_page([{"image_url": web.url(f"/p/{i}.jpg")} for i in range(2)] + [{"image_url": web.url("/p/missing.jpg")}])
    )
    web.routes[engine.page_url("kids playing", 1, 3).removeprefix(web.base_url)] = Route(google_page([]))

    out, err = run("scrape", "--engine", "google", "--query", "kids playing", "--limit", "10")
    assert "found 3, fetched 2, stored 2, exact duplicates 0, near duplicates 0, rejected 1" in out
    assert "rejected (http_error): 1" in out
    assert "job #" in err and "img" in err  # the tqdm bar
    assert Image.objects.filter(source_record="kids playing").count() == 2


def test_scrape_builds_queries_from_a_template(web, settings):
    settings.SCRAPER_ENGINE_BASE_URLS = {"bing": web.base_url, "google": web.base_url}
    # Setup (issue 16): the first query's result page is served, the second's is missing. A source none of whose
    # pages could be read now ends the job degraded, never "done".
    engine = BingImages(web.base_url)
    web.routes["/p/park.jpg"] = Route(jpeg(205))
    web.routes[engine.page_url("happy people in a park", 0, 3).removeprefix(web.base_url)] = Route(bing_page([{"image_url": web.url("/p/park.jpg")}]))
    web.routes[engine.page_url("happy people in a park", 1, 3).removeprefix(web.base_url)] = Route(bing_page([]))
    run("scrape", "--engine", "bing", "--template", "{emotion} people in a {place}", "--places", "park,office", "--emotions", "happy", "--limit", "5")
    job = CrawlJob.objects.get()
    assert [q["text"] for q in job.params["queries"]] == ["happy people in a park", "happy people in a office"]
    assert job.page_errors and job.state == "done"  # the local server has no result page for the second query here


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--engine", "bing", "--query", "x", "--limit", "0"], "--limit: must be at least 1"),
        (["--engine", "bing", "--query", "x", "--limit", "many"], "--limit: must be a whole number"),
        (["--engine", "bing", "--limit", "3"], "--query: give at least one --query or a --template"),
        (["--engine", "bing", "--template", "{mood}", "--limit", "3"], r"--template: no words for slot \{mood\}"),
        (["--engine", "bing", "--template", "{place", "--limit", "3"], r"--template: expected '\}' before end of string"),
        (["--engine", "altavista", "--query", "x", "--limit", "3"], "--engine: invalid choice: 'altavista'"),
    ],
)
def test_scrape_errors_name_the_argument(args, message):
    with pytest.raises(CommandError, match=message):
        run("scrape", *args)
    assert not CrawlJob.objects.exists()


def test_import_dataset_imports_coco(tmp_path):
    path = write_coco(tmp_path, [{"id": 7, "seed": 210}], [coco_person(1, 7, [5, 5, 50, 90])])
    out, _ = run("import_dataset", "--format", "coco", str(path))
    assert "stored 1" in out
    assert Image.objects.get().people.count() == 1


def test_import_dataset_imports_a_folder_under_a_given_name(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg(211))
    run("import_dataset", "--format", "folder", str(tmp_path), "--original-database", "framesdb", "--folder", "framesdb/images")
    image = Image.objects.get()
    assert (image.original_database, image.folder, image.filename) == ("framesdb", "framesdb/images", "a.jpg")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "folder", "/no/such/folder"], "PATH: '/no/such/folder' does not exist"),
        (["--format", "coco", "{tmp}/instances_val2017.json", "--images-dir", "/nowhere"], "--images-dir: '/nowhere' does not exist"),
        (["--format", "tiff", "x"], "--format: invalid choice: 'tiff'"),
    ],
)
@pytest.mark.usefixtures("every_path_importable")
def test_import_dataset_errors_name_the_argument(tmp_path, args, message):
    (tmp_path / "instances_val2017.json").write_text("{}")
    with pytest.raises(CommandError, match=message):
        run("import_dataset", *[a.replace("{tmp}", str(tmp_path)) for a in args])


def test_a_malformed_dataset_fails_with_the_reason(tmp_path):
    (tmp_path / "instances_val2017.json").write_text('{"images": 3, "annotations": [], "categories": []}')
    with pytest.raises(CommandError, match="images: missing or not a list"):
        run("import_dataset", "--format", "coco", str(tmp_path / "instances_val2017.json"), "--images-dir", str(tmp_path))


def test_crawl_job_shows_and_resumes_a_job(tmp_path):
    (tmp_path / "a.jpg").write_bytes(jpeg(212))
    run("import_dataset", "--format", "folder", str(tmp_path))
    job = CrawlJob.objects.get()
    (tmp_path / "b.jpg").write_bytes(jpeg(213))  # added later: discovery is over, so it is not picked up
    out, _ = run("crawl_job", "resume", str(job.pk))
    assert "stored 1" in out
    out, _ = run("crawl_job", "show", str(job.pk))
    assert out.startswith(f"job #{job.pk} done")
    with pytest.raises(CommandError, match="JOB: there is no crawl job #999"):
        run("crawl_job", "show", "999")
