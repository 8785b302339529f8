"""Writing the access log, and forgetting it after ``ACCESS_LOG_DAYS``."""

from __future__ import annotations

from datetime import timedelta
from ipaddress import ip_address

from django.conf import settings
from django.utils import timezone

from access.models import AccessAttempt


def record_attempt(
    kind: str, outcome: str, *, username: str = "", address: str = "", user=None, user_agent: str = "", wait_seconds: int = 0
) -> AccessAttempt:
    try:
        checked_address = str(ip_address(address)) if address else None
    except ValueError:
        checked_address = None  # "unknown" and the like: kept out rather than refused
    return AccessAttempt.objects.create(
        kind=kind, outcome=outcome, username=(username or "")[:150], user=user, address=checked_address,
        user_agent=(user_agent or "")[:300], wait_seconds=max(0, int(wait_seconds)),
    )


def forget_old_attempts(now=None) -> int:
    """Delete attempts older than ACCESS_LOG_DAYS; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.ACCESS_LOG_DAYS)
    deleted, _ = AccessAttempt.objects.filter(created_at__lt=cutoff).delete()
    return deleted
