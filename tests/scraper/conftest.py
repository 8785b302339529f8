"""Fixtures for the scraper: a live HTTP server on loopback, fast-failing fetch settings, eager Celery."""

from __future__ import annotations

import pytest

from config.celery import app as celery_app
from scraper.fetching import AddressPolicy, PoliteFetcher
from scraper.sources import flickr, openverse
from tests.scraper.local_server import LocalServer


@pytest.fixture
def every_path_importable(settings):
    """The whole disk as the import root, for tests about paths that lie nowhere ('/no/such/folder'):
    they meet the check they are about (existence), not the import roots (tests/scraper/test_import_roots.py)."""
    settings.SCRAPER_IMPORT_ROOTS = ["/"]
    return settings


@pytest.fixture
def web():
    server = LocalServer().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def quick_fetch_settings(settings):
    """Small test images, short timeouts, quick retries; loopback allowed (test settings)."""
    settings.SCRAPER_MIN_IMAGE_SIDE = 64
    settings.SCRAPER_RETRY_BACKOFF_SECONDS = 0.01
    settings.SCRAPER_READ_TIMEOUT_SECONDS = 2.0
    settings.SCRAPER_CONNECT_TIMEOUT_SECONDS = 2.0
    settings.SCRAPER_RESULTS_PER_PAGE = 3
    return settings


def make_fetcher(**overrides) -> PoliteFetcher:
    options = dict(
        user_agent="emotic-test-crawler/1.0 (+https://example.org/crawler)",
        address_policy=AddressPolicy.build(allow_private=True),
        retries=2,
        backoff=0.01,
        connect_timeout=2.0,
        read_timeout=2.0,
    )
    options.update(overrides)
    return PoliteFetcher(**options)


@pytest.fixture
def fetcher():
    with make_fetcher() as instance:
        yield instance


@pytest.fixture
def eager_celery():
    """Tasks run in the test's process, each re-queued step included."""
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture
def api_settings(settings, web):
    """Every search API pointed at the loopback server (tests/scraper/search_apis.py answers there), unpaced."""
    settings.OPENVERSE_API_URL = web.url("/v1")
    settings.OPENVERSE_CLIENT_ID = settings.OPENVERSE_CLIENT_SECRET = ""
    settings.OPENVERSE_DAILY_QUOTA = 0
    settings.OPENVERSE_MIN_INTERVAL_SECONDS = 0.0
    settings.WIKIMEDIA_API_URL = web.url("/w/api.php")
    settings.WIKIMEDIA_CONTACT = "https://example.org/crawler; tests@example.org"
    settings.WIKIMEDIA_MIN_INTERVAL_SECONDS = 0.0
    settings.WIKIMEDIA_DAILY_QUOTA = 0
    settings.FLICKR_API_URL = web.url("/services/rest/")
    settings.FLICKR_API_KEY = "test-key"
    settings.FLICKR_MIN_INTERVAL_SECONDS = 0.0
    settings.FLICKR_DAILY_QUOTA = 86_400
    settings.SCRAPER_ENGINE_BASE_URLS = {"bing": web.base_url, "google": web.base_url}
    settings.SCRAPER_UNKNOWN_LICENSE = "keep"
    settings.SCRAPER_MAX_DOWNLOAD_BYTES = 200_000
    settings.MAX_IMAGE_PIXELS = 5_000_000
    settings.SCRAPER_CHUNK_SIZE = 50
    openverse._tokens.clear()  # tokens and licence tables are kept per process
    flickr._license_tables.clear()
    yield settings
    openverse._tokens.clear()
    flickr._license_tables.clear()
