"""API clients logged in the way the page and programs log in."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.factories import PASSWORD, WorkerFactory


class WorkerClient(APIClient):
    """A session-authenticated client that sends the CSRF token, as the page does."""

    def __init__(self, worker, **kwargs):
        super().__init__(enforce_csrf_checks=True, **kwargs)
        self.worker = worker
        assert self.login(username=worker.user.username, password=PASSWORD)
        self.get("/work/")  # sets the CSRF cookie, like opening a page
        self.csrf_token = self.cookies["csrftoken"].value

    def post_json(self, path, data, **extra):
        return self.post(path, data, format="json", HTTP_X_CSRFTOKEN=self.csrf_token, **extra)


@pytest.fixture
def no_hidden_controls(settings):
    settings.GOLD_RATE = 0.0


@pytest.fixture
def client_for():
    def make(worker=None):
        return WorkerClient(worker or WorkerFactory())

    return make
