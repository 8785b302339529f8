"""Log-in throttling: after a few failed log-ins for one username from one address, refuse for a while.

The well-known scheme of django-axes, kept small: failures are counted per
(username, client address) in Django's cache (Redis when ``CACHE_URL`` is
set, so every gunicorn process and machine shares the count). The address is
``config.client_address.client_address``: the client's, not the reverse
proxy's (``TRUSTED_PROXIES``). Counting by the pair
stops password guessing without letting a stranger lock a worker out from
everywhere. Every log-in path goes through ``django.contrib.auth.authenticate``
(the worker log-in page, the admin log-in), so the check lives in an
authentication backend placed first: while a pair is locked it refuses before
any password is checked. The middleware turns that refusal into a 429 with
``Retry-After`` and says why on the form.

The worker API is throttled by Django REST framework (``annotator.api.WorkerThrottle``,
rate ``API_THROTTLE_WORKER``), in the same cache; its anonymous callers are
counted by ``REMOTE_ADDR``, which ``ClientAddressMiddleware`` sets to the same
client address (``NUM_PROXIES = 0``: never a raw X-Forwarded-For).
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from config.client_address import client_address  # the client's, also behind the proxy (TRUSTED_PROXIES)

LOCKED_ATTRIBUTE = "login_locked_for_seconds"


def _keys(username: str, address: str) -> tuple[str, str]:
    digest = hashlib.sha256(f"{username}\0{address}".encode()).hexdigest()[:32]
    return f"login-failures:{digest}", f"login-locked:{digest}"


def locked_for_seconds(username: str, address: str) -> int:
    """Seconds this (username, address) pair must still wait; 0 when it may try."""
    _, locked_key = _keys(username, address)
    until = cache.get(locked_key)
    return max(0, math.ceil(until - time.time())) if until else 0


def record_failure(username: str, address: str) -> int:
    """Count one failed log-in; lock the pair when it reaches LOGIN_FAILURES_ALLOWED. Returns the count."""
    failures_key, locked_key = _keys(username, address)
    window = settings.LOGIN_LOCKOUT_SECONDS
    cache.add(failures_key, 0, timeout=window)
    try:
        failures = cache.incr(failures_key)
    except ValueError:  # expired between add and incr
        cache.set(failures_key, 1, timeout=window)
        failures = 1
    if failures >= settings.LOGIN_FAILURES_ALLOWED:
        cache.set(locked_key, time.time() + window, timeout=window)
        cache.delete(failures_key)
    return failures


def clear_failures(username: str, address: str) -> None:
    cache.delete_many(list(_keys(username, address)))


class LoginThrottleBackend:
    """First in AUTHENTICATION_BACKENDS: refuses a locked pair before any password is checked.

    It authenticates nobody itself and has no ``get_user``, so sessions and
    ``force_login`` keep using ModelBackend.
    """

    def authenticate(self, request: HttpRequest | None, username: str | None = None, **credentials):
        if request is None or username is None:
            return None  # not an HTTP log-in (management commands, tests' Client.login)
        seconds = locked_for_seconds(username, client_address(request))
        if seconds:
            setattr(request, LOCKED_ATTRIBUTE, seconds)
            raise PermissionDenied  # authenticate() stops here: no other backend is tried
        return None


@receiver(user_login_failed, dispatch_uid="config.throttling.count_failure")
def count_failure(sender, credentials: dict, request: HttpRequest | None = None, **kwargs) -> None:
    username = credentials.get("username")
    if request is None or username is None or getattr(request, LOCKED_ATTRIBUTE, 0):
        return
    record_failure(username, client_address(request))


@receiver(user_logged_in, dispatch_uid="config.throttling.clear_on_success")
def clear_on_success(sender, request: HttpRequest | None, user, **kwargs) -> None:
    if request is not None:
        clear_failures(user.get_username(), client_address(request))


def lockout_message(seconds: int) -> str:
    minutes = max(1, math.ceil(seconds / 60))
    return (
        f"Too many failed log-ins for this account from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}."
    )


class LoginThrottleMiddleware:
    """A log-in refused by ``LoginThrottleBackend`` answers 429 with Retry-After and says why."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        seconds = getattr(request, LOCKED_ATTRIBUTE, 0)
        if seconds and response.status_code == 200:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response

    def process_template_response(self, request: HttpRequest, response):
        """The log-in form shows the lockout instead of 'wrong password' (the password was not checked)."""
        seconds = getattr(request, LOCKED_ATTRIBUTE, 0)
        form = (response.context_data or {}).get("form") if seconds else None
        if form is not None and hasattr(form, "non_field_errors"):
            form.errors[NON_FIELD_ERRORS] = form.error_class([lockout_message(seconds)], error_class="nonfield")
        return response
