"""Researcher tokens and clients, and the small annotated database the export tests use."""

from __future__ import annotations

import pytest
from django.test import Client

from config.celery import app as celery_app
from research_api.services import grant_research_token
from tests.emotic_export.conftest import annotated_db  # noqa: F401  (a fixture used here too)
from tests.factories import UserFactory

ALL_SCOPES = ["read", "identify", "export", "train", "crawl"]


@pytest.fixture
def researcher(db):
    return UserFactory(username="researcher", is_staff=True)


@pytest.fixture
def token_client(researcher):
    """``token_client(*scopes)``: a client sending a new researcher token with those scopes."""

    def make(*scopes: str) -> Client:
        _, key = grant_research_token(researcher, "tests", scopes or ["read"])
        return Client(HTTP_AUTHORIZATION=f"Token {key}")

    return make


@pytest.fixture
def tasks_run_inline():
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = False
