"""Sizes and types: request bodies are capped; scraped files are limited in size, checked by content, fetched only from public addresses.

No page takes file uploads (no model has a FileField); the only files that
enter storage are the scraper's, and they pass the limits checked here.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from django.apps import apps
from django.core.files.storage import default_storage
from django.db import models
from django.test import Client

from annotator.models import EmotionAnnotation, TaskAssignment
from catalog.models import Image
from scraper.models import CrawlItem
from scraper.services.jobs import create_crawl_job, run_crawl_job
from tests.factories import TaskAssignmentFactory
from tests.catalog.images import jpeg
from tests.scraper.local_server import LocalServer, Route

pytestmark = pytest.mark.django_db


def test_no_model_stores_uploaded_files():
    file_fields = [
        f"{model.__name__}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if isinstance(field, models.FileField)
    ]
    assert file_fields == []


def test_a_body_over_the_limit_is_refused_before_anything_reads_it(settings):
    task = TaskAssignmentFactory()
    client = Client()
    client.force_login(task.worker.user)
    padding = "x" * (settings.REQUEST_MAX_BODY_BYTES + 1)
    body = {"submission_id": str(uuid.uuid4()), "categories": ["Happiness"], "valence": 5, "arousal": 5, "dominance": 5,
            "gender": "Male", "age": "Adult", "padding": padding}
    response = client.post(f"/api/tasks/{task.pk}/submit/", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["detail"].startswith("body: ") and str(settings.REQUEST_MAX_BODY_BYTES) in response.json()["detail"]
    assert TaskAssignment.objects.get(pk=task.pk).state == "assigned"
    assert not EmotionAnnotation.objects.exists()


def test_forms_get_the_same_limit_and_a_malformed_length_is_refused(settings):
    client = Client()
    big = client.post("/accounts/login/", {"username": "x" * (settings.REQUEST_MAX_BODY_BYTES + 10), "password": "y"})
    assert big.status_code == 413
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE <= settings.REQUEST_MAX_BODY_BYTES
    bad = client.generic("POST", "/accounts/login/", b"a=b", CONTENT_LENGTH="lots")
    assert bad.status_code == 400 and "Content-Length" in bad.json()["detail"]


def svg() -> bytes:
    return b'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="400"><rect width="400" height="400"/></svg>'


@pytest.fixture
def web():
    server = LocalServer().start()
    yield server
    server.stop()


def test_scraped_files_are_limited_in_size_and_type_and_to_public_addresses(settings, web, tmp_path):
    """The production fetch policy (private addresses refused) with loopback as the one allowed network."""
    settings.SCRAPER_ALLOW_PRIVATE_ADDRESSES = False
    settings.SCRAPER_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    settings.SCRAPER_OBEY_ROBOTS_TXT = False
    settings.SCRAPER_MAX_DOWNLOAD_BYTES = 60_000
    settings.SCRAPER_MIN_IMAGE_SIDE = 64
    settings.SCRAPER_RETRIES, settings.SCRAPER_RETRY_BACKOFF_SECONDS = 0, 0.0
    web.routes.update({
        "/ok.jpg": Route(jpeg(1, (320, 240)), headers={"Content-Type": "image/jpeg"}),
        "/huge.jpg": Route(jpeg(2, (1600, 1200), noise=40.0), headers={"Content-Type": "image/jpeg"}),
        "/drawing.svg": Route(svg(), headers={"Content-Type": "image/svg+xml"}),
        "/page.jpg": Route(b"<html><body>not a photo</body></html>" * 20, headers={"Content-Type": "image/jpeg"}),
        "/tiny.jpg": Route(jpeg(3, (16, 16)), headers={"Content-Type": "image/jpeg"}),
        # A public-looking URL that redirects to a loopback address outside the allowed network.
        "/moved.jpg": Route(b"", status=302, headers={"Location": f"http://[::1]:{web.port}/ok.jpg"}),
    })
    assert len(web.routes["/huge.jpg"].body) > settings.SCRAPER_MAX_DOWNLOAD_BYTES
    urls = tmp_path / "urls.txt"
    urls.write_text("\n".join(web.url(path) for path in web.routes) + "\n")

    job = run_crawl_job(create_crawl_job("urls", {"path": str(urls)}))

    reasons = dict(CrawlItem.objects.filter(job=job).values_list("key", "reason"))
    assert reasons == {
        web.url("/ok.jpg"): "",
        web.url("/huge.jpg"): "too_large",
        web.url("/drawing.svg"): reasons[web.url("/drawing.svg")],
        web.url("/page.jpg"): "not_an_image",
        web.url("/tiny.jpg"): "too_small",
        web.url("/moved.jpg"): "private_address",
    }
    assert reasons[web.url("/drawing.svg")] in {"not_an_image", "unsupported_format"}
    assert job.stored == 1 and job.rejected == 5
    stored = Image.objects.get()
    assert [p.name for p in Path(settings.MEDIA_ROOT).rglob("*") if p.is_file()] == [Path(stored.storage_key).name]
    assert default_storage.exists(stored.storage_key)
