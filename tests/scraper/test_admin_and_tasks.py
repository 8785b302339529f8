"""Jobs started from the admin with progress shown, and run by Celery tasks."""

from __future__ import annotations

import pytest
from django.urls import reverse

from catalog.models import Image
from scraper.models import CrawlJob
from scraper.services.jobs import advance_crawl_job, create_crawl_job
from scraper.tasks import run_crawl_job_task
from tests.catalog.images import jpeg
from tests.scraper.local_server import Route

pytestmark = pytest.mark.django_db


@pytest.fixture
def photos(tmp_path):
    for i in range(3):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(300 + i))
    return tmp_path


def test_the_task_runs_a_job_to_the_end_step_by_step(photos, eager_celery, settings):
    settings.SCRAPER_CHUNK_SIZE = 1
    job = create_crawl_job("folder", {"path": str(photos)})
    run_crawl_job_task.delay(job.pk)
    job.refresh_from_db()
    assert (job.state, job.stored) == ("done", 3)


def test_a_redelivered_task_does_nothing_twice(web, tmp_path, settings, eager_celery):
    """acks_late: a worker that finishes a step and dies before acknowledging it has its message handed out again.

    Steps run one at a time here (``advance_crawl_job`` is the whole task but
    for queueing the next step), so the redelivered step meets a finished chunk.
    """
    settings.SCRAPER_CHUNK_SIZE = 2
    urls = [web.url(f"/img/{i}.jpg") for i in range(4)]
    for i in range(4):
        web.routes[f"/img/{i}.jpg"] = Route(jpeg(310 + i), headers={"Content-Type": "image/jpeg"})
    (tmp_path / "urls.txt").write_text("\n".join(urls) + "\n")
    job = create_crawl_job("urls", {"path": str(tmp_path / "urls.txt")})
    advance_crawl_job(job.pk)  # discovery
    advance_crawl_job(job.pk)  # worker A stores the first chunk, then dies before acknowledging the step
    first_chunk = list(job.items.filter(position__lt=2).values_list("key", "state", "image_id", "attempts"))
    assert [state for _, state, _, _ in first_chunk] == ["stored", "stored"]

    advance_crawl_job(job.pk)  # worker B gets the same message: the finished chunk is not taken again
    assert list(job.items.filter(position__lt=2).values_list("key", "state", "image_id", "attempts")) == first_chunk
    job.refresh_from_db()
    assert (job.found, job.stored, job.exact_duplicates, job.rejected) == (4, 4, 0, 0)
    assert advance_crawl_job(job.pk) is None  # and the job is over
    job.refresh_from_db()
    done = (job.state, job.finished_at, job.stored, job.exact_duplicates)

    run_crawl_job_task.delay(job.pk)  # the last step's message, redelivered after the job is done
    job.refresh_from_db()
    assert (job.state, job.finished_at, job.stored, job.exact_duplicates) == done
    assert Image.objects.count() == 4
    assert [web.hits(f"/img/{i}.jpg") for i in range(4)] == [1, 1, 1, 1]  # each image downloaded once


def test_a_job_is_started_from_the_admin(admin_client, photos, eager_celery, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:scraper_crawljob_add"), {"kind": "folder", "path": str(photos)})
    assert response.status_code == 302, response.content.decode()[:2000]
    job = CrawlJob.objects.get()
    assert (job.state, job.stored, job.created_by) == ("done", 3, "admin")


@pytest.mark.usefixtures("every_path_importable")
def test_the_admin_names_a_bad_parameter(admin_client):
    response = admin_client.post(reverse("admin:scraper_crawljob_add"), {"kind": "folder", "path": "/no/such/folder"})
    assert response.status_code == 200
    assert "&#x27;/no/such/folder&#x27; does not exist" in response.content.decode()
    response = admin_client.post(reverse("admin:scraper_crawljob_add"), {"kind": "search", "engine": "bing", "limit": 5})
    assert "give at least one query" in response.content.decode()
    assert not CrawlJob.objects.exists()


def test_the_admin_shows_progress(admin_client, photos, settings):
    settings.SCRAPER_CHUNK_SIZE = 2
    job = create_crawl_job("folder", {"path": str(photos)})
    advance_crawl_job(job.pk)  # discovery
    advance_crawl_job(job.pk)  # 2 of 3 stored
    page = admin_client.get(reverse("admin:scraper_crawljob_changelist")).content.decode()
    assert '<progress value="67" max="100"></progress> <span data-field="percent">67%</span>' in page
    detail = admin_client.get(reverse("admin:scraper_crawljob_change", args=[job.pk])).content.decode()
    assert "3 items" in detail


def test_admin_actions_cancel_and_resume(admin_client, photos, eager_celery, django_capture_on_commit_callbacks):
    job = create_crawl_job("folder", {"path": str(photos)})
    url = reverse("admin:scraper_crawljob_changelist")
    admin_client.post(url, {"action": "cancel", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert job.state == "cancelled"
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(url, {"action": "start_or_resume", "_selected_action": [job.pk]})
    job.refresh_from_db()
    assert (job.state, job.stored) == ("done", 3)


def test_the_item_list_shows_why_items_were_rejected(admin_client, tmp_path):
    (tmp_path / "fake.jpg").write_bytes(b"<html>not an image</html>")
    job = create_crawl_job("folder", {"path": str(tmp_path)})
    while advance_crawl_job(job.pk) is not None:
        pass
    page = admin_client.get(reverse("admin:scraper_crawlitem_changelist") + f"?job__id__exact={job.pk}").content.decode()
    assert "not_an_image" in page or "Not an image" in page
    assert "the content is an HTML page" in page


@pytest.mark.usefixtures("every_path_importable")
def test_the_admin_form_puts_each_reason_on_the_field_the_error_names(db):
    from scraper.admin import CrawlJobForm

    form = CrawlJobForm(data={"kind": "folder", "path": "/no/such/folder"})
    assert not form.is_valid()
    assert form.errors["path"] == ["'/no/such/folder' does not exist"]  # the reason, without the field's name
    form = CrawlJobForm(data={"kind": "search", "engine": "bing", "limit": 5, "template": "{mood} people"})
    assert not form.is_valid()
    assert form.errors["template"] == ["no words for slot {mood} (give --moods)"]
    form = CrawlJobForm(data={"kind": "search", "engine": "bing", "limit": 5, "template": "{place"})
    assert not form.is_valid()
    assert form.errors["template"] == ["expected '}' before end of string"]
    form = CrawlJobForm(data={"kind": "search", "engine": "bing", "limit": 5})
    assert not form.is_valid()
    assert form.errors["queries"] == ["give at least one query"]
