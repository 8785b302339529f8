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
