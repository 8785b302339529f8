"""Worker accounts and their API tokens."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import QuerySet
from django.utils import timezone

from annotator.models import ApiToken, Worker
from annotator.services.errors import AnswerInvalid, StaffNotWorker

TOKEN_BYTES = 32
MAX_TOKENS_PER_WORKER = 10


def worker_for(user: AbstractBaseUser) -> Worker:
    """The user's worker record, made on first use (a new worker starts unqualified).

    Staff accounts are never workers (``StaffNotWorker``): they work in the admin.
    """
    if user.is_staff:
        raise StaffNotWorker()
    worker, _ = Worker.objects.get_or_create(user=user)
    return worker


def bounded_worker_for(user: AbstractBaseUser) -> Worker:
    """The user's worker record, marked bounded: another part limits its work (``scopes``), which is asked for it."""
    if user.is_staff:
        raise StaffNotWorker()
    worker, _ = Worker.objects.get_or_create(user=user, defaults={"bounded": True})
    if not worker.bounded:
        Worker.objects.filter(pk=worker.pk).update(bounded=True)
        worker.bounded = True
    return worker


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def create_api_token(worker: Worker, name: str) -> tuple[ApiToken, str]:
    """A new token and its key. The key is shown once: only its SHA-256 is stored."""
    name = name.strip()
    if not name:
        raise AnswerInvalid("name", "say what the token is for")
    if len(name) > 100:
        raise AnswerInvalid("name", f"must be at most 100 characters, got {len(name)}")
    if live_tokens(worker.api_tokens.all()).count() >= MAX_TOKENS_PER_WORKER:
        raise AnswerInvalid("name", f"you already have {MAX_TOKENS_PER_WORKER} tokens: revoke one first")
    raw_key = secrets.token_urlsafe(TOKEN_BYTES)
    token = ApiToken.objects.create(worker=worker, name=name, key_prefix=raw_key[:8], key_sha256=_digest(raw_key))
    return token, raw_key


def revoke_api_token(worker: Worker, token_id: int) -> bool:
    deleted, _ = ApiToken.objects.filter(worker=worker, pk=token_id).delete()
    return deleted > 0


def revoke_api_tokens(token_ids: Iterable[int]) -> int:
    """An admin's revocation of any workers' tokens; returns how many were revoked."""
    deleted, _ = ApiToken.objects.filter(pk__in=list(token_ids)).delete()
    return deleted


def live_tokens(tokens: QuerySet[ApiToken]) -> QuerySet[ApiToken]:
    """The tokens that have not expired (``API_TOKEN_LIFETIME_DAYS`` after they were made)."""
    return tokens.filter(created_at__gt=timezone.now() - ApiToken.lifetime())


TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def worker_for_api_key(raw_key: str) -> Worker | None:
    """The active worker a key belongs to, recording its use; None for an unknown or expired key, or an inactive user.

    The time of use is kept to the minute: a program calling several times a
    second would otherwise pay an UPDATE on every request for nothing.
    """
    token = live_tokens(ApiToken.objects.select_related("worker__user")).filter(key_sha256=_digest(raw_key)).first()
    user = token.worker.user if token is not None else None
    if user is None or not user.is_active or user.is_staff or token.worker.kind != Worker.Kind.CROWD:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.worker
