"""Signed storage URLs for browsers name the public endpoint; the app's own traffic stays on the internal one.

Against moto's S3 server on loopback (the internal endpoint) with a
signature-checking gateway in front of it as the public endpoint
(tests/config/signed_gateway.py): a URL only fetches if it was signed for the
host the browser sends.
"""

from __future__ import annotations

import io
import uuid

import boto3
import pytest
import requests
from django.core.files.base import ContentFile
from django.test import Client
from django.utils import timezone
from PIL import Image as PILImage

from config.storage import S3Storage
from emotic_export.models import DatasetSnapshot
from tests.annotator.conftest import WorkerClient
from tests.config.signed_gateway import SignedGateway
from tests.factories import ImageFactory, PersonFactory, TaskAssignmentFactory, UserFactory, WorkerFactory

KEY, SECRET = "testing-key", "testing-secret"


@pytest.fixture
def bucket(s3_server):
    name = f"emotic-public-{uuid.uuid4().hex[:10]}"
    client = boto3.client("s3", endpoint_url=s3_server, region_name="us-east-1",
                          aws_access_key_id=KEY, aws_secret_access_key=SECRET)
    client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def gateway(s3_server):
    server = SignedGateway(upstream=s3_server, secrets={KEY: SECRET}).start()
    yield server
    server.stop()


def storage_options(s3_server: str, bucket: str, public: str | None) -> dict:
    """As config/settings/base.py sets them."""
    return {
        "bucket_name": bucket, "endpoint_url": s3_server, "public_endpoint_url": public, "region_name": "us-east-1",
        "access_key": KEY, "secret_key": SECRET, "default_acl": None, "file_overwrite": False,
        "querystring_auth": True, "querystring_expire": 600, "addressing_style": "path", "signature_version": "s3v4",
    }


def test_the_gateway_refuses_a_url_signed_for_another_host(s3_server, bucket, gateway):
    """What the public endpoint setting fixes: a URL signed for the internal name, moved to the public host, is refused."""
    internal = S3Storage(**storage_options(s3_server, bucket, public=None))
    name = internal.save("a/photo.bin", ContentFile(b"pixels"))
    signed_inside = internal.url(name)
    assert signed_inside.startswith(s3_server)  # without the setting: a name browsers cannot reach
    moved = signed_inside.replace(s3_server, gateway.url)
    refused = requests.get(moved, timeout=10)
    assert refused.status_code == 403 and b"SignatureDoesNotMatch" in refused.content
    assert "signature does not match for host" in refused.text


def test_urls_are_signed_for_the_public_endpoint_and_fetch_the_bytes(s3_server, bucket, gateway):
    storage = S3Storage(**storage_options(s3_server, bucket, public=gateway.url))
    name = storage.save("images/x/photo.jpg", ContentFile(b"the bytes of a photo"))
    assert gateway.seen == []  # the upload went to the internal endpoint
    assert storage.exists(name) and storage.open(name).read() == b"the bytes of a photo"  # so do reads
    assert gateway.seen == []

    url = storage.url(name)
    assert url.startswith(f"{gateway.url}/{bucket}/images/x/photo.jpg?") and "X-Amz-Signature=" in url
    fetched = requests.get(url, timeout=10)  # what the browser does: no credentials, only the URL
    assert fetched.status_code == 200 and fetched.content == b"the bytes of a photo"
    assert gateway.seen == [(f"127.0.0.1:{gateway.port}", f"/{bucket}/images/x/photo.jpg", 200)]

    tampered = url.replace("photo.jpg", "other.jpg")
    assert requests.get(tampered, timeout=10).status_code == 403


def test_the_storage_survives_pickling(s3_server, bucket, gateway):
    import pickle

    storage = S3Storage(**storage_options(s3_server, bucket, public=gateway.url))
    storage.url("warm/the/client")
    copy = pickle.loads(pickle.dumps(storage))
    assert copy.url("k").startswith(gateway.url)


@pytest.fixture
def public_storage(settings, s3_server, bucket, gateway, media_in_tmp):
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "config.storage.S3Storage", "OPTIONS": storage_options(s3_server, bucket, gateway.url)},
    }
    return gateway


@pytest.mark.django_db
def test_a_workers_image_redirects_to_the_public_endpoint(public_storage, settings):
    settings.IMAGE_REDIRECT_TO_STORAGE = True
    settings.IMAGE_RENDITION_MAX_SIDE = 320
    image = ImageFactory(width=640, height=480, file=True)
    client = WorkerClient(WorkerFactory())
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))
    response = client.get(f"/api/tasks/{task.pk}/image/")
    assert response.status_code == 302 and response["Location"].startswith(public_storage.url + "/")
    fetched = requests.get(response["Location"], timeout=10)
    assert fetched.status_code == 200, (response["Location"], fetched.text)
    assert PILImage.open(io.BytesIO(fetched.content)).size == (320, 240)


@pytest.mark.django_db
def test_a_snapshot_download_redirects_to_the_public_endpoint(public_storage):
    from django.core.files.storage import default_storage

    archive_key = default_storage.save("snapshots/s1/s1.tar.gz", ContentFile(b"an archive"))
    snapshot = DatasetSnapshot.objects.create(
        name="s1", state=DatasetSnapshot.State.COMPLETE, storage_key="snapshots/s1", archive_key=archive_key,
        completed_at=timezone.now(),
    )
    admin = Client()
    admin.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = admin.get(f"/admin/exports/snapshots/{snapshot.pk}/download/")
    assert response.status_code == 302 and response["Location"].startswith(public_storage.url + "/")
    assert requests.get(response["Location"], timeout=10).content == b"an archive"
