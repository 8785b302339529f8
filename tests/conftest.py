"""Suite-wide fixtures. Services are used for real; a missing one fails the run."""

from __future__ import annotations

import socket

import pytest
from django.conf import settings


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
