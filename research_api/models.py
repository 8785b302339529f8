"""Researcher API tokens: keys of staff accounts, each with the scopes it was granted."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Scope(models.TextChoices):
    """What a researcher token may do: every reading needs ``read``, each start its own scope."""

    READ = "read", "Read images, people, answers (worker ids anonymised), figures, snapshots, runs, crawl jobs"
    IDENTIFY = "identify", "See answers' real worker ids and user names instead of pseudonyms"
    EXPORT = "export", "Start snapshots"
    TRAIN = "train", "Start training runs"
    CRAWL = "crawl", "Start crawl jobs"


class ResearchToken(models.Model):
    """A staff member's key for programs calling the researcher API. Only its SHA-256 is stored.

    It works only while its user is active staff, until it expires
    (``RESEARCH_TOKEN_LIFETIME_DAYS`` after it was made) or is revoked (deleted).
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="research_tokens")
    name = models.CharField(max_length=100, help_text="What the token is for (a notebook, a pipeline).")
    scopes = models.JSONField(default=list, help_text="Granted scopes: read, identify, export, train, crawl.")
    key_prefix = models.CharField(max_length=8, help_text="First characters, to tell tokens apart.")
    key_sha256 = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        help_text="The admin who granted it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(key_sha256__regex=r"^[0-9a-f]{64}$"), name="research_token_sha256_hex"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}...) of {self.user}"

    @staticmethod
    def lifetime() -> timedelta:
        return timedelta(days=settings.RESEARCH_TOKEN_LIFETIME_DAYS)

    @property
    def expires_at(self):
        return self.created_at + self.lifetime() if self.created_at else None

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def allows(self, scope: str) -> bool:
        return scope in self.scopes
