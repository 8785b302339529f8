"""Turn a bad environment into one clear line instead of a traceback."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")


def run_guarded(start: Callable[[], T]) -> T:
    try:
        return start()
    except ImproperlyConfigured as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def load_settings() -> None:
    """Import the settings module now, so configuration errors surface here."""
    from django.conf import settings

    run_guarded(lambda: settings.INSTALLED_APPS)


# Host names that reach only this machine: the development key may serve them (and nothing else).
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]"})


def check_secret_key_for_serving() -> None:
    """Refuse to serve requests with the public development key, except in explicit local development.

    The key is in the repository: whoever knows it can forge sessions, password
    reset links and every signed value (the hidden control items' positions
    among them). The WSGI and ASGI entry points may use it only when the
    environment itself says ``DEBUG=true`` and ``ALLOWED_HOSTS`` names loopback
    hosts only (``make demo`` sets both). A ``SettingError`` names what is wrong.
    """
    from django.conf import settings

    from config.env import SettingError, get_bool
    from config.settings.base import INSECURE_DEV_SECRET_KEY

    key = str(settings.SECRET_KEY)
    if key != INSECURE_DEV_SECRET_KEY and not key.startswith("django-insecure"):
        return
    debug_in_environment = get_bool("DEBUG", False)
    hosts = list(settings.ALLOWED_HOSTS)
    loopback_only = bool(hosts) and all(host in LOOPBACK_HOSTS for host in hosts)
    if debug_in_environment and settings.DEBUG and loopback_only:
        return
    why = []
    if not (debug_in_environment and settings.DEBUG):
        why.append("DEBUG is not set to true in the environment")
    if not loopback_only:
        why.append(f"ALLOWED_HOSTS names more than loopback ({', '.join(hosts) or 'nothing'})")
    raise SettingError(
        "SECRET_KEY",
        "is the public development key, which may serve only local development: "
        + " and ".join(why)
        + ". Set SECRET_KEY to a long random value, or for local development DEBUG=true and "
        "ALLOWED_HOSTS=localhost,127.0.0.1,[::1]",
    )


def load_settings_for_serving() -> None:
    """What the WSGI and ASGI entry points run first: the settings, then the secret-key check."""
    load_settings()
    run_guarded(check_secret_key_for_serving)
