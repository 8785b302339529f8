"""The client's address behind the reverse proxy (config/client_address.py), as the lock-out and the throttles use it."""

from __future__ import annotations

import ipaddress

import pytest
from django.test import Client, RequestFactory
from rest_framework.throttling import AnonRateThrottle

from config.client_address import client_address, parse_networks, resolve_client_address
from tests.factories import PASSWORD, WorkerFactory

PROXY = "10.89.0.2"
TRUSTED = parse_networks([PROXY, "192.168.7.0/24", "::1"])


@pytest.mark.parametrize(
    ("peer", "forwarded_for", "client"),
    [
        ("203.0.113.7", None, "203.0.113.7"),  # no proxy in between
        ("203.0.113.7", "198.51.100.1", "203.0.113.7"),  # a stranger's header is ignored
        (PROXY, None, PROXY),  # the proxy asking for itself
        (PROXY, "198.51.100.1", "198.51.100.1"),
        (PROXY, "1.2.3.4, 198.51.100.1", "198.51.100.1"),  # the client wrote 1.2.3.4 itself; the proxy appended the truth
        (PROXY, "198.51.100.1, 192.168.7.9", "198.51.100.1"),  # two proxies, both trusted
        (PROXY, "192.168.7.8, 192.168.7.9", "192.168.7.8"),  # only proxies: the farthest one
        (PROXY, "not-an-address", PROXY),  # garbage: the hop that wrote it is all we can vouch for
        (PROXY, "198.51.100.1, garbage, 192.168.7.9", "192.168.7.9"),
        (PROXY, "198.51.100.1:51234", "198.51.100.1"),  # with a port
        ("::1", "2001:db8::5", "2001:db8::5"),
        ("::1", "[2001:db8::5]:443", "2001:db8::5"),
        ("::ffff:10.89.0.2", "198.51.100.1", "198.51.100.1"),  # IPv4 peer on an IPv6 socket
        ("", None, "unknown"),
    ],
)
def test_the_header_counts_only_from_a_trusted_proxy_read_from_the_right(peer, forwarded_for, client):
    assert resolve_client_address(peer, forwarded_for, TRUSTED) == client


def test_a_bad_entry_is_named():
    with pytest.raises(ValueError, match="'10.0.0.300' is neither an IP address nor a network"):
        parse_networks(["10.0.0.1", "10.0.0.300"])
    assert parse_networks(["172.30.0.0/16"])[0] == ipaddress.ip_network("172.30.0.0/16")


def test_the_helper_reads_the_settings_and_answers_once_per_request(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    request = RequestFactory().get("/", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="198.51.100.4")
    assert client_address(request) == "198.51.100.4"
    settings.TRUSTED_PROXIES = []
    assert client_address(request) == "198.51.100.4"  # settled for the request's life


# --- through the middleware, as every request goes ------------------------------------------
def log_in(client: Client, username: str, password: str, **headers):
    return client.post("/accounts/login/", {"username": username, "password": password}, **headers)


@pytest.mark.django_db
def test_behind_the_proxy_the_lock_out_is_per_client_not_per_proxy(settings):
    """Before: every request came from the proxy's address, so one guesser locked the account for everyone."""
    settings.TRUSTED_PROXIES = [PROXY]
    settings.LOGIN_FAILURES_ALLOWED = 2
    WorkerFactory(user__username="target-behind-proxy")
    via_proxy = Client(REMOTE_ADDR=PROXY)
    for _ in range(2):
        assert log_in(via_proxy, "target-behind-proxy", "guess", HTTP_X_FORWARDED_FOR="203.0.113.70").status_code == 200
    assert log_in(via_proxy, "target-behind-proxy", PASSWORD, HTTP_X_FORWARDED_FOR="203.0.113.70").status_code == 429
    # The guesser's own earlier entries in the header change nothing: the proxy appended the truth.
    assert log_in(via_proxy, "target-behind-proxy", PASSWORD,
                  HTTP_X_FORWARDED_FOR="198.51.100.71, 203.0.113.70").status_code == 429
    worker = Client(REMOTE_ADDR=PROXY)
    assert log_in(worker, "target-behind-proxy", PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.71").status_code == 302


@pytest.mark.django_db
def test_a_client_without_the_proxy_cannot_choose_its_address(settings):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.LOGIN_FAILURES_ALLOWED = 2
    WorkerFactory(user__username="target-direct")
    attacker = Client(REMOTE_ADDR="203.0.113.80")
    answers = [
        log_in(attacker, "target-direct", "guess", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(4)
    ]
    assert answers == [200, 200, 429, 429]


@pytest.mark.django_db
def test_anonymous_api_callers_are_throttled_by_their_address_never_by_a_header_they_send(settings, monkeypatch):
    """Before: Django REST framework counted by the raw X-Forwarded-For, so a new header each time was never throttled."""
    settings.TRUSTED_PROXIES = [PROXY]
    monkeypatch.setattr(AnonRateThrottle, "rate", "2/minute", raising=False)
    rotating = Client(REMOTE_ADDR="203.0.113.90")
    answers = [rotating.get("/api/schema/", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}").status_code for n in range(3)]
    assert answers == [200, 200, 429]

    via_proxy = Client(REMOTE_ADDR=PROXY)
    first = [via_proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.91").status_code for _ in range(3)]
    assert first == [200, 200, 429]
    assert via_proxy.get("/api/schema/", HTTP_X_FORWARDED_FOR="203.0.113.92").status_code == 200  # another client


def test_x_forwarded_proto_is_believed_only_from_a_trusted_proxy(settings, db):
    settings.TRUSTED_PROXIES = [PROXY]
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    stranger = Client(REMOTE_ADDR="203.0.113.95").get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
    assert stranger.status_code == 301 and stranger["Location"].startswith("https://")
    assert Client(REMOTE_ADDR=PROXY).get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https").status_code == 200


def test_healthz_answers_under_production_settings_from_inside_the_container(settings, db):
    """Compose's check asks gunicorn itself: plain HTTP, Host 127.0.0.1:8000 (not an allowed host). Before: 301, or 400."""
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["emotic.example.org"]
    inside = Client().get("/healthz", HTTP_HOST="127.0.0.1:8000")
    assert inside.status_code == 200 and inside.json() == {"status": "ok"}
    assert Client().get("/accounts/login/", HTTP_HOST="127.0.0.1:8000").status_code == 400  # only /healthz
    assert Client().get("/accounts/login/", HTTP_HOST="emotic.example.org").status_code == 301
