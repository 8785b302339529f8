"""Storage on S3 through django-storages, against a real S3 API server (moto) on loopback."""

from __future__ import annotations

import boto3
import pytest
from django.core.files.storage import default_storage
from django.db import connection

from catalog.models import Image
from catalog.ingest import IngestOutcome, ingest_image_bytes
from scraper.services.jobs import create_crawl_job, run_crawl_job
from tests.catalog.images import jpeg

pytestmark = pytest.mark.django_db

BUCKET = "emotic-images"


@pytest.fixture
def s3(s3_server, settings, media_in_tmp, monkeypatch):
    """A fresh bucket, and the default storage pointed at it (after the suite's local-disk fixture)."""
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.client(
        "s3", endpoint_url=s3_server, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_server,
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test",
                "location": "media",
                "default_acl": None,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    yield client
    objects = client.list_objects_v2(Bucket=BUCKET).get("Contents", [])
    for obj in objects:
        client.delete_object(Bucket=BUCKET, Key=obj["Key"])
    client.delete_bucket(Bucket=BUCKET)


def keys(client) -> list[str]:
    return sorted(obj["Key"] for obj in client.list_objects_v2(Bucket=BUCKET).get("Contents", []))


def test_an_image_is_stored_in_the_bucket_under_its_content_key(s3, folder_source, media_in_tmp):
    data = jpeg(400)
    result = ingest_image_bytes(data, source=folder_source, filename="a.jpg", original_database="web")
    assert result.outcome == IngestOutcome.STORED
    key = result.image.storage_key
    assert keys(s3) == [f"media/{key}"]
    assert s3.get_object(Bucket=BUCKET, Key=f"media/{key}")["Body"].read() == data
    with default_storage.open(key) as handle:  # read back through Django's storage API
        assert handle.read() == data
    assert list(media_in_tmp.iterdir()) == []  # nothing went to local disk


def test_the_same_bytes_are_stored_once_in_the_bucket(s3, folder_source):
    for _ in range(2):
        ingest_image_bytes(jpeg(401), source=folder_source, filename="", original_database="web")
    assert len(keys(s3)) == 1 and Image.objects.count() == 1


def test_a_failed_insert_leaves_nothing_in_the_bucket(s3, folder_source):
    with connection.cursor() as cursor:
        cursor.execute("CREATE FUNCTION refuse_s3() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql")
        cursor.execute("CREATE TRIGGER refuse_s3 BEFORE INSERT ON annotator_image FOR EACH ROW EXECUTE FUNCTION refuse_s3()")
    with pytest.raises(Exception, match="refused"):
        ingest_image_bytes(jpeg(402), source=folder_source, filename="", original_database="web")
    assert keys(s3) == []


def test_a_crawl_job_writes_to_the_bucket_from_its_fetch_threads(s3, tmp_path, settings):
    for i in range(4):
        (tmp_path / f"{i}.jpg").write_bytes(jpeg(410 + i))
    (tmp_path / "copy.jpg").write_bytes(jpeg(410))
    job = run_crawl_job(create_crawl_job("folder", {"path": str(tmp_path)}))
    assert (job.stored, job.exact_duplicates) == (4, 1)
    assert keys(s3) == sorted(f"media/{key}" for key in Image.objects.values_list("storage_key", flat=True))
