"""Researcher tokens: granted to staff only, with scopes; looked up by key (only the SHA-256 is stored)."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.utils import timezone

from emotic.errors import FieldError
from research_api.models import ResearchToken, Scope

TOKEN_BYTES = 32
MAX_TOKENS_PER_USER = 10
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


class TokenGrantRefused(FieldError):
    """A token that cannot be granted; ``field`` names the input at fault."""

    status_code = 400
    code = "invalid"


def _digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def check_grant(user: AbstractBaseUser, name: str, scopes: Iterable[str]) -> tuple[str, list[str]]:
    """The name and scopes of a token ``user`` may be granted, checked; ``TokenGrantRefused`` names what is wrong."""
    name = name.strip()
    if not name:
        raise TokenGrantRefused("name", "say what the token is for")
    if len(name) > 100:
        raise TokenGrantRefused("name", f"must be at most 100 characters, got {len(name)}")
    if not (user.is_active and user.is_staff):
        raise TokenGrantRefused("user", f"{user.get_username()} is not active staff: researcher tokens are for staff only")
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in Scope.values]
    if unknown:
        raise TokenGrantRefused("scopes", f"unknown scope {unknown[0]!r} (choose from {', '.join(Scope.values)})")
    if not scopes:
        raise TokenGrantRefused("scopes", f"grant at least one scope ({', '.join(Scope.values)})")
    if live_tokens(ResearchToken.objects.filter(user=user)).count() >= MAX_TOKENS_PER_USER:
        raise TokenGrantRefused("name", f"{user.get_username()} already has {MAX_TOKENS_PER_USER} tokens: revoke one first")
    return name, scopes


def grant_research_token(
    user: AbstractBaseUser, name: str, scopes: Iterable[str], *, granted_by: AbstractBaseUser | None = None
) -> tuple[ResearchToken, str]:
    """A new token for a staff ``user`` and its key. The key is shown once: only its SHA-256 is stored."""
    name, scopes = check_grant(user, name, scopes)
    raw_key = "rk_" + secrets.token_urlsafe(TOKEN_BYTES)
    token = ResearchToken.objects.create(
        user=user, name=name, scopes=[s for s in Scope.values if s in scopes], key_prefix=raw_key[:8],
        key_sha256=_digest(raw_key), created_by=granted_by,
    )
    return token, raw_key


def revoke_research_tokens(token_ids: Iterable[int]) -> int:
    deleted, _ = ResearchToken.objects.filter(pk__in=list(token_ids)).delete()
    return deleted


def live_tokens(tokens):
    """The tokens that have not expired."""
    return tokens.filter(created_at__gt=timezone.now() - ResearchToken.lifetime())


def token_for_key(raw_key: str) -> ResearchToken | None:
    """The live token of an active staff account with this key, recording its use (to the minute); else None."""
    token = live_tokens(ResearchToken.objects.select_related("user")).filter(key_sha256=_digest(raw_key)).first()
    if token is None or not token.user.is_active or not token.user.is_staff:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= TOKEN_USE_RESOLUTION:
        ResearchToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
