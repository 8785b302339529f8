"""Suite-wide fixtures. Services are used for real; a missing one fails the run."""

from __future__ import annotations

import socket

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def pytest_sessionstart(session):
    missing = [
        f"{name} on {host}:{port}"
        for name, host, port in (("PostgreSQL", "127.0.0.1", 5432), ("Redis", "127.0.0.1", 6379))
        if not _reachable(host, port)
    ]
    if missing:
        pytest.exit("tests need these services running: " + ", ".join(missing), returncode=3)


@pytest.fixture(autouse=True)
def media_in_tmp(settings, tmp_path):
    """Each test stores files in its own folder on local disk (S3 tests override this)."""
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = str(media)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(media), "base_url": "/media/"},
        },
    }
    return media


@pytest.fixture(autouse=True)
def import_roots_in_tmp(settings, tmp_path_factory):
    """Imports may read only under the run's temporary folder (SCRAPER_IMPORT_ROOTS), where tests write their datasets."""
    settings.SCRAPER_IMPORT_ROOTS = [str(tmp_path_factory.getbasetemp())]
    return settings.SCRAPER_IMPORT_ROOTS


@pytest.fixture(scope="session")
def s3_server():
    """A real S3 API (moto's standalone server) on loopback, for the whole run."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_storage(settings, s3_server, media_in_tmp):
    """Point the default storage at a fresh bucket on the loopback S3 server (django-storages + boto3)."""
    import uuid

    import boto3

    bucket = f"emotic-test-{uuid.uuid4().hex[:12]}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}
    client = boto3.client("s3", endpoint_url=s3_server, **credentials)
    client.create_bucket(Bucket=bucket)
    settings.STORAGE_BACKEND = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": bucket,
                "endpoint_url": s3_server,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    yield client, bucket


@pytest.fixture
def migrator():
    """Moves the test database to a migration and back to the latest one afterwards."""
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()

    def migrate(targets):
        """To ``targets`` (None: the latest migrations; ``(app, None)``: none of the app's); returns the models there."""
        executor.loader.build_graph()
        targets = latest if targets is None else targets
        executor.migrate(targets)
        return executor.loader.project_state([t for t in targets if t[1] is not None]).apps

    yield migrate
    migrate(latest)


@pytest.fixture
def folder_source(db):
    """A source row for images stored by a test (the catalog's and the scraper's tests)."""
    from catalog.models import Source

    return Source.objects.create(kind=Source.Kind.FOLDER, name="test photos")
