"""Log-in throttling (config/throttling.py) and the worker API's throttle (Django REST framework)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest
import redis
from django.test import Client
from django.urls import resolve, reverse
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from annotator.api import WorkerThrottle
from config.cache import redis_cache
from tests.factories import PASSWORD, WorkerFactory
from tests.security.url_patterns import all_routes

pytestmark = pytest.mark.django_db

REDIS_CACHE_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(params=["memory", "redis"])
def cache_backend(request, settings):
    """Both caches the settings can choose: the per-process one, and Redis (CACHE_URL) under a prefix of its own."""
    if request.param == "memory":
        yield request.param
        return
    prefix = f"security-test-{uuid.uuid4().hex}"  # parallel runs never share counters
    settings.CACHES = {"default": {**redis_cache(REDIS_CACHE_URL), "KEY_PREFIX": prefix}}
    yield request.param
    server = redis.Redis.from_url(REDIS_CACHE_URL)
    for key in server.scan_iter(f"{prefix}:*"):
        server.delete(key)


def log_in(client: Client, username: str, password: str, path: str = "/accounts/login/"):
    return client.post(path, {"username": username, "password": password})


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_repeated_failures_lock_the_username_from_that_address(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    WorkerFactory(user__username="target")
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert log_in(attacker, "target", "guess").status_code == 200  # the form again, with its error
    locked = log_in(attacker, "target", "guess")
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == settings.LOGIN_LOCKOUT_SECONDS
    assert b"Too many failed log-ins" in locked.content
    assert b"match" not in locked.content  # only the lockout is explained, not a wrong password

    right_password = log_in(attacker, "target", PASSWORD)
    assert right_password.status_code == 429 and not logged_in(attacker)  # refused before the password is checked
    assert log_in(attacker, "target", PASSWORD, "/admin/login/").status_code == 429  # every log-in path

    elsewhere = Client(REMOTE_ADDR="198.51.100.20")
    assert log_in(elsewhere, "target", PASSWORD).status_code == 302 and logged_in(elsewhere)


def test_a_successful_log_in_clears_the_count(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    WorkerFactory(user__username="forgetful")
    client = Client()
    for _ in range(2):
        log_in(client, "forgetful", "wrong")
    assert log_in(client, "forgetful", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(2):  # 4 failures in all: without the reset the third would have locked
        assert log_in(client, "forgetful", "wrong").status_code == 200
    assert log_in(client, "forgetful", PASSWORD).status_code == 302


def test_the_lock_runs_out(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED, settings.LOGIN_LOCKOUT_SECONDS = 1, 1
    WorkerFactory(user__username="patient")
    client = Client()
    assert log_in(client, "patient", "wrong").status_code == 200
    assert log_in(client, "patient", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert log_in(client, "patient", PASSWORD).status_code == 302


def test_unknown_usernames_are_counted_too():
    """Otherwise the answer would tell which accounts exist."""
    client = Client()
    answers = [log_in(client, "nobody-here", "x").status_code for _ in range(7)]
    assert answers == [200, 200, 200, 200, 200, 429, 429]  # LOGIN_FAILURES_ALLOWED = 5


def worker_api_views() -> list[type[APIView]]:
    """The view class behind every route of the worker API (namespace ``annotator-api``)."""
    views = []
    for route in all_routes():
        if route.name.startswith("annotator-api:"):
            kwargs = {"task_id": 1} if "<int:task_id>" in route.route else {}
            views.append(resolve(reverse(route.name, kwargs=kwargs)).func.view_class)
    return views


def test_every_worker_api_view_is_throttled_per_worker():
    views = worker_api_views()
    assert len(views) >= 7
    for view in views:
        assert WorkerThrottle in view.throttle_classes, view.__name__


@pytest.fixture
def low_worker_rate(monkeypatch):
    monkeypatch.setattr(WorkerThrottle, "rate", "3/minute", raising=False)


def test_a_worker_over_the_rate_gets_429_with_retry_after(low_worker_rate):
    heavy, other = WorkerFactory(), WorkerFactory()
    client = Client()
    client.force_login(heavy.user)
    assert [client.get("/api/me/").status_code for _ in range(3)] == [200, 200, 200]
    refused = client.get("/api/me/")
    assert refused.status_code == 429
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "throttled" in refused.json()["detail"].lower()

    calm = Client()
    calm.force_login(other.user)
    assert calm.get("/api/me/").status_code == 200  # counted per worker


def test_the_token_and_the_session_share_one_workers_allowance(low_worker_rate):
    from annotator.services.workers import create_api_token

    worker = WorkerFactory()
    _, key = create_api_token(worker, "script")
    session = Client()
    session.force_login(worker.user)
    assert [session.get("/api/me/").status_code for _ in range(3)] == [200, 200, 200]
    assert Client().get("/api/me/", HTTP_AUTHORIZATION=f"Token {key}").status_code == 429


def test_anonymous_callers_of_the_schema_are_throttled_per_address(monkeypatch):
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/minute", raising=False)
    client = Client(REMOTE_ADDR="203.0.113.50")
    assert [client.get("/api/schema/").status_code for _ in range(3)] == [200, 200, 429]
    assert Client(REMOTE_ADDR="203.0.113.51").get("/api/schema/").status_code == 200


def settings_in_subprocess(environment: dict) -> subprocess.CompletedProcess:
    code = "import django; django.setup(); from django.conf import settings; print(settings.CACHES['default']['BACKEND'])"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.base", **environment}
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)


def test_cache_url_chooses_redis_and_a_bad_one_is_named():
    assert settings_in_subprocess({"CACHE_URL": REDIS_CACHE_URL}).stdout.strip() == "config.cache.FailOpenRedisCache"
    assert settings_in_subprocess({"CACHE_URL": ""}).stdout.strip().endswith("LocMemCache")
    bad = settings_in_subprocess({"CACHE_URL": "memcached://127.0.0.1:11211"})
    assert bad.returncode != 0 and "CACHE_URL: must be a redis:// or rediss:// URL, got 'memcached'" in bad.stderr
