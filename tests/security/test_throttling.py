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


def test_repeated_failures_make_the_username_wait_longer_and_longer_from_that_address(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    WorkerFactory(user__username="target")
    attacker = Client(REMOTE_ADDR="203.0.113.7")
    for _ in range(3):
        assert log_in(attacker, "target", "guess").status_code == 200  # the form again, with its error
    waiting = log_in(attacker, "target", "guess")
    assert waiting.status_code == 429 and waiting["Retry-After"] == "1"  # the first delay: a second
    assert b"Too many failed log-ins for this account. Try again in 1 second." in waiting.content
    assert b"match" not in waiting.content  # only the wait is explained, not a wrong password

    right_password = log_in(attacker, "target", PASSWORD)
    assert right_password.status_code == 429 and not logged_in(attacker)  # refused before the password is checked
    assert log_in(attacker, "target", PASSWORD, "/admin/login/").status_code == 429  # every log-in path

    delays, wait = [], 1
    for _ in range(2):  # each further failure doubles the wait
        time.sleep(wait + 0.05)
        assert log_in(attacker, "target", "guess").status_code == 200
        wait = int(log_in(attacker, "target", "guess")["Retry-After"])
        delays.append(wait)
    assert delays == [2, 4]

    elsewhere = Client(REMOTE_ADDR="198.51.100.20")  # the owner, from their own address, is not held up
    assert log_in(elsewhere, "target", PASSWORD).status_code == 302 and logged_in(elsewhere)


def test_the_delays_stop_at_the_lockout_length(settings):
    from config.throttling import _delay

    settings.LOGIN_LOCKOUT_SECONDS = 900
    assert [_delay(n, 5) for n in (0, 4, 5, 6, 9, 14, 15, 40, 10**6)] == [0, 0, 1, 2, 16, 512, 900, 900, 900]


def test_guessing_from_many_addresses_still_makes_the_account_wait(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED, settings.LOGIN_ACCOUNT_FAILURES_ALLOWED = 3, 6
    WorkerFactory(user__username="popular")
    for n in range(6):  # rotating addresses: no pair reaches its own limit
        assert log_in(Client(REMOTE_ADDR=f"203.0.113.{n + 10}"), "popular", "guess").status_code == 200
    refused = log_in(Client(REMOTE_ADDR="203.0.113.99"), "popular", PASSWORD)
    assert refused.status_code == 429 and refused["Retry-After"] == "1"


def test_a_successful_log_in_clears_the_count(cache_backend, settings):
    settings.LOGIN_FAILURES_ALLOWED = 3
    WorkerFactory(user__username="forgetful")
    client = Client()
    for _ in range(2):
        log_in(client, "forgetful", "wrong")
    assert log_in(client, "forgetful", PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(2):  # 4 failures in all: without the reset the third would have made it wait
        assert log_in(client, "forgetful", "wrong").status_code == 200
    assert log_in(client, "forgetful", PASSWORD).status_code == 302


def test_the_wait_runs_out(cache_backend, settings):
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


def hashes_counted(monkeypatch) -> list[str]:
    """Every password hash computed from now on (the CPU a flood would burn)."""
    from django.contrib.auth.hashers import PBKDF2PasswordHasher, MD5PasswordHasher

    hashed: list[str] = []
    for hasher in (PBKDF2PasswordHasher, MD5PasswordHasher):
        original = hasher.encode
        monkeypatch.setattr(hasher, "encode", lambda self, password, salt, *a, _o=original, **k: (
            hashed.append(password), _o(self, password, salt, *a, **k))[1])
    return hashed


def test_a_flood_from_one_address_is_refused_before_any_password_is_hashed(cache_backend, settings, monkeypatch):
    settings.LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE, settings.LOGIN_ATTEMPTS_PER_SECOND = 5, 1000
    hashed = hashes_counted(monkeypatch)
    flooder = Client(REMOTE_ADDR="203.0.113.50")
    answers = [log_in(flooder, f"user-{n}", "x").status_code for n in range(8)]  # a new user name each time
    assert answers == [200] * 5 + [429] * 3
    assert len(hashed) == 5  # the refused ones cost no hashing
    refused = log_in(flooder, "user-99", "x")
    # until the estimate falls back under the limit: at most a minute and a fifth of one (see _over_rate)
    assert b"Too many attempts from your address" in refused.content and 1 <= int(refused["Retry-After"]) <= 72
    other = Client(REMOTE_ADDR="198.51.100.9")
    assert log_in(other, "user-1", "x").status_code == 200  # another address is not held up


class Clock:
    """The throttle's clock (``config.throttling.time``), set by the test: minute edges on demand."""

    def __init__(self, now: float):
        self.now = now

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import config.throttling

    clock = Clock(1000 * 60 - 1.0)  # one second before a minute's edge
    monkeypatch.setattr(config.throttling, "time", clock)
    return clock


def test_a_burst_across_the_edge_of_a_minute_is_not_let_through_twice(cache_backend, settings, clock):
    settings.LOGIN_ATTEMPTS_PER_ADDRESS_PER_MINUTE, settings.LOGIN_ATTEMPTS_PER_SECOND = 5, 1000
    flooder = Client(REMOTE_ADDR="203.0.113.51")
    assert [log_in(flooder, f"a-{n}", "x").status_code for n in range(5)] == [200] * 5
    clock.now += 2  # a new minute: a fixed window would start counting from nothing
    refused = log_in(flooder, "b-0", "x")
    # the last minute still holds 5*(59/60) of them: one more fits once a fifth of them has aged out
    assert refused.status_code == 429 and refused["Retry-After"] == "11"
    clock.now += 10
    assert log_in(flooder, "b-1", "x").status_code == 429  # the refusals did not lengthen the wait
    clock.now += 1
    assert log_in(flooder, "b-2", "x").status_code == 200


def test_a_steady_stream_is_admitted_at_the_limit_and_no_faster(cache_backend, clock):
    from config.throttling import _over_rate

    admitted = []
    for second in range(600):  # one try a second for ten minutes, at 6 a minute
        clock.now = 1000 * 60 + second + 0.5
        if _over_rate("stream-test", 6, 60) == 0:
            admitted.append(second)
    assert 48 <= len(admitted) <= 60  # six a minute, less the estimate's caution (it assumes the last minute even)
    most_in_a_minute = max(sum(start <= s < start + 60 for s in admitted) for start in range(541))
    assert most_in_a_minute == 6


def test_the_whole_site_checks_at_most_so_many_passwords_a_second(cache_backend, settings, monkeypatch):
    settings.LOGIN_ATTEMPTS_PER_SECOND = 3
    hashed = hashes_counted(monkeypatch)
    while time.time() % 1 > 0.5:  # start early in a second, so the burst stays in one
        time.sleep(0.05)
    answers = [log_in(Client(REMOTE_ADDR=f"203.0.113.{n}"), f"u{n}", "x").status_code for n in range(6)]
    assert answers.count(429) >= 2 and len(hashed) <= 4
    busy = log_in(Client(REMOTE_ADDR="203.0.113.200"), "someone", "x")
    if busy.status_code == 429:
        assert b"Too many log-ins on the site right now" in busy.content


def test_sign_ups_are_limited_per_address_before_any_password_is_hashed(cache_backend, settings, monkeypatch):
    settings.SIGNUPS_PER_ADDRESS_PER_HOUR = 2
    from django.contrib.auth import get_user_model

    client = Client(REMOTE_ADDR="203.0.113.77")
    answers = []
    for n in range(4):
        response = client.post("/accounts/signup/", {"username": f"newcomer{n}", "password1": "a-long-pass-phrase-9",
                                                     "password2": "a-long-pass-phrase-9"})
        answers.append(response.status_code)
        client.post("/accounts/logout/")
    assert answers == [302, 302, 429, 429]
    assert get_user_model().objects.filter(username__startswith="newcomer").count() == 2
    refused = client.post("/accounts/signup/", {"username": "late", "password1": "x", "password2": "x"})
    assert b"Too many attempts from your address" in refused.content and 'value="late"' in refused.content.decode()


def test_every_attempt_is_in_the_access_log(cache_backend, settings, admin_client):
    from access.models import AccessAttempt

    settings.LOGIN_FAILURES_ALLOWED = 1
    WorkerFactory(user__username="logged")
    client = Client(REMOTE_ADDR="203.0.113.5", HTTP_USER_AGENT="probe/1.0")
    log_in(client, "logged", "wrong")
    log_in(client, "logged", PASSWORD)  # must wait: refused
    time.sleep(1.05)
    log_in(client, "logged", PASSWORD)
    rows = list(AccessAttempt.objects.filter(username="logged").order_by("id").values_list(
        "kind", "outcome", "address", "user_agent", "wait_seconds"))
    assert rows == [("log_in", "failed", "203.0.113.5", "probe/1.0", 0), ("log_in", "delayed", "203.0.113.5", "probe/1.0", 1),
                    ("log_in", "succeeded", "203.0.113.5", "probe/1.0", 0)]
    assert AccessAttempt.objects.get(outcome="succeeded").user.username == "logged"
    page = admin_client.get("/admin/access/accessattempt/?q=logged").content.decode()
    assert page.count("203.0.113.5") >= 3 and admin_client.get("/admin/access/accessattempt/add/").status_code == 403


def test_old_attempts_are_forgotten(settings):
    from datetime import timedelta

    from django.utils import timezone

    from access.models import AccessAttempt
    from access.services import forget_old_attempts, record_attempt

    settings.ACCESS_LOG_DAYS = 30
    old, recent = record_attempt("log_in", "failed", username="a"), record_attempt("log_in", "failed", username="b")
    AccessAttempt.objects.filter(pk=old.pk).update(created_at=timezone.now() - timedelta(days=31))
    assert forget_old_attempts() == 1 and list(AccessAttempt.objects.values_list("pk", flat=True)) == [recent.pk]


def worker_api_views() -> list[type[APIView]]:
    """The view class behind every route of the worker API (namespace ``annotator-api``)."""
    views = []
    for route in all_routes():
        if route.name.startswith("annotator-api:"):
            kwargs = {"task_id": 1} if "<int:task_id>" in route.route else {}
            if "<str:sha256>" in route.route:
                kwargs = {"sha256": "0" * 64, "side": 1024}
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

    worker = WorkerFactory(api_access=True)
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


def test_password_resets_are_limited_per_e_mail_address_and_per_client_address(cache_backend, settings):
    """The reset form cannot flood an inbox: a refused request sends nothing and says why (429, Retry-After)."""
    from django.core import mail

    from access.models import AccessAttempt

    settings.PASSWORD_RESETS_PER_EMAIL_PER_HOUR, settings.PASSWORD_RESETS_PER_ADDRESS_PER_HOUR = 2, 3
    WorkerFactory(user__username="victim", user__email="victim@example.org")
    answers = [Client(REMOTE_ADDR=f"198.51.100.{n}").post("/accounts/password-reset/", {"email": "Victim@example.org"})
               for n in range(4)]
    assert [a.status_code for a in answers] == [302, 302, 429, 429]
    assert len(mail.outbox) == 2
    assert b"Too many reset links asked for this e-mail address" in answers[2].content
    assert 'value="Victim@example.org"' in answers[2].content.decode() and int(answers[2]["Retry-After"]) > 0

    one_address = Client(REMOTE_ADDR="198.51.100.99")
    codes = [one_address.post("/accounts/password-reset/", {"email": f"someone{n}@example.org"}).status_code for n in range(5)]
    assert codes == [302, 302, 302, 429, 429]
    assert b"Too many attempts from your address" in one_address.post(
        "/accounts/password-reset/", {"email": "x@example.org"}).content
    outcomes = list(AccessAttempt.objects.filter(kind="reset").values_list("outcome", flat=True).order_by("id"))
    assert outcomes == ["requested"] * 2 + ["delayed"] * 2 + ["requested"] * 3 + ["address_limit"] * 3
    assert len(mail.outbox) == 2


def test_the_whole_site_sends_at_most_so_many_reset_links_a_minute(cache_backend, settings):
    settings.PASSWORD_RESETS_PER_MINUTE = 2
    codes = [Client(REMOTE_ADDR=f"198.51.100.{n}").post("/accounts/password-reset/", {"email": f"p{n}@example.org"}).status_code
             for n in range(3)]
    assert codes == [302, 302, 429]
