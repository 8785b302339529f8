"""Fixtures of the campaigns' tests: Prolific on loopback (``prolific``), a work pool, a qualification test."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.campaigns.fake_prolific import FakeProlific
from tests.factories import GoldItemFactory, PersonFactory


@pytest.fixture(autouse=True)
def protocol(settings):
    settings.GOLD_RATE = 0.0  # hidden controls only where a test asks for them
    settings.QUALIFICATION_ITEMS = 2
    settings.CAMPAIGNS_PUBLIC_URL = "https://emotic.test"
    cache.clear()  # API throttles


@pytest.fixture
def prolific(settings):
    """Prolific's API on a loopback port, the settings pointing at it (short timeouts, one quick retry)."""
    fake = FakeProlific().start()
    settings.PROLIFIC_API_URL = fake.url
    settings.PROLIFIC_API_TOKEN = fake.token
    settings.PROLIFIC_WEBHOOK_SECRET = fake.secret
    settings.PROLIFIC_WORKSPACE_ID = "a" * 24
    settings.CAMPAIGNS_HTTP_CONNECT_TIMEOUT_SECONDS = 2
    settings.CAMPAIGNS_HTTP_READ_TIMEOUT_SECONDS = 3
    settings.CAMPAIGNS_HTTP_RETRIES = 1
    settings.CAMPAIGNS_HTTP_BACKOFF_SECONDS = 0.01
    yield fake
    fake.stop()


@pytest.fixture
def qualification(db):
    """Two qualification items accepting Happiness (both must be passed: the pass rate is 80%)."""
    return [GoldItemFactory(for_qualification=True, for_control=False) for _ in range(2)]


@pytest.fixture
def pool(db):
    """Make ``n`` people to annotate (emotions, train split: one annotator each)."""
    def make(n: int, split: str = "train"):
        return [PersonFactory(image__split=split) for _ in range(n)]
    return make
