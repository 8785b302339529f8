"""Admins start a snapshot from the admin, watch it and download its archive."""

import io
import tarfile

import pytest
from django.urls import reverse

from config.celery import app as celery_app
from emotic_export.models import DatasetSnapshot
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(UserFactory(username="boss", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def tasks_run_inline():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False


def new_snapshot_form(**overrides):
    data = {"name": "from-admin", "description": "", "formats": ["jsonl", "coco"], "train": "0.7", "val": "0.1",
            "test": "0.2", "split_seed": "0", "label_rule": "union-mean"}
    data.update(overrides)
    return data


def test_an_admin_starts_a_snapshot_and_downloads_it(annotated_db, admin_client, tasks_run_inline, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:emotic_export_datasetsnapshot_add"), new_snapshot_form())
    assert response.status_code == 302
    snapshot = DatasetSnapshot.objects.get(name="from-admin")
    assert snapshot.state == "complete" and snapshot.formats == ["jsonl", "coco"]
    assert snapshot.created_by.username == "boss"

    listing = admin_client.get(reverse("admin:emotic_export_datasetsnapshot_changelist"))
    assert listing.status_code == 200
    assert b"from-admin" in listing.content and b"download .tar.gz" in listing.content
    status = admin_client.get(reverse("emotic_export:status", args=[snapshot.pk])).json()
    assert status["state"] == "complete" and status["counts"]["val"]["people"] == 2

    download = admin_client.get(reverse("emotic_export:download", args=[snapshot.pk]))
    assert download.status_code == 200
    archive = tarfile.open(fileobj=io.BytesIO(b"".join(download.streaming_content)))
    assert "from-admin/coco.json" in archive.getnames()


def test_bad_options_are_shown_on_the_form(annotated_db, admin_client):
    response = admin_client.post(reverse("admin:emotic_export_datasetsnapshot_add"), new_snapshot_form(train="0.9"))
    assert response.status_code == 200
    assert b"must be non-negative and sum to 1" in response.content
    assert not DatasetSnapshot.objects.exists()


def test_workers_cannot_download_snapshots(annotated_db, client):
    snapshot = DatasetSnapshot.objects.create(name="private")
    client.force_login(UserFactory(username="crowd"))
    response = client.get(reverse("emotic_export:download", args=[snapshot.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_an_incomplete_snapshot_cannot_be_downloaded(admin_client):
    snapshot = DatasetSnapshot.objects.create(name="building", state="building")
    assert admin_client.get(reverse("emotic_export:download", args=[snapshot.pk])).status_code == 404


@pytest.mark.parametrize(
    ("error", "field", "message"),
    [
        (("label_rule", "must be one of the rules"), "label_rule", "must be one of the rules"),
        (("seed", "must be a non-negative integer, got -1"), "split_seed", "must be a non-negative integer, got -1"),
        (("ratios", "must be non-negative and sum to 1"), "__all__", "ratios: must be non-negative and sum to 1"),
    ],
)
def test_the_snapshot_form_puts_each_reason_on_the_field_the_error_names(db, monkeypatch, error, field, message):
    from emotic_export import admin as export_admin
    from emotic_export.services import ExportError

    def refuse(**options):
        raise ExportError(*error)

    monkeypatch.setattr(export_admin, "ExportOptions", refuse)
    form = export_admin.NewSnapshotForm(data=new_snapshot_form())
    assert not form.is_valid()
    assert form.errors[field] == [message]
