"""Log-in, sign-up and password-reset attempts: every try, its outcome, and why a refused one was refused."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AccessAttempt(models.Model):
    """One attempt to log in (any log-in page), to sign up or to ask for a password reset, kept for ``ACCESS_LOG_DAYS``."""

    class Kind(models.TextChoices):
        LOG_IN = "log_in", "Log-in"
        SIGN_UP = "sign_up", "Sign-up"
        PASSWORD_RESET = "reset", "Password reset"

    class Outcome(models.TextChoices):
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Wrong user name or password"
        DELAYED = "delayed", "Refused: too many failures for this account (it must wait)"
        ADDRESS_LIMIT = "address_limit", "Refused: too many attempts from this address"
        BUSY = "busy", "Refused: too many attempts on the whole site"
        REQUESTED = "requested", "Reset link asked for (sent if the e-mail address has an account)"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    outcome = models.CharField(max_length=15, choices=Outcome.choices)
    username = models.CharField(max_length=150, blank=True, help_text="As typed (cut to 150 characters).")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    address = models.GenericIPAddressField(null=True, blank=True, help_text="The client's, behind the proxy too.")
    user_agent = models.CharField(max_length=300, blank=True)
    wait_seconds = models.PositiveIntegerField(default=0, help_text="For a refused attempt: how long it was told to wait.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["username", "created_at"], name="access_attempt_username")]
        constraints = [
            models.CheckConstraint(condition=Q(kind__in=["log_in", "sign_up", "reset"]), name="access_attempt_kind_valid"),
            models.CheckConstraint(
                condition=Q(outcome__in=["succeeded", "failed", "delayed", "address_limit", "busy", "requested"]),
                name="access_attempt_outcome_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.username!r} from {self.address}: {self.outcome}"
