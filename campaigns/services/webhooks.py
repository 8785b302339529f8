"""Prolific's webhooks: checked, stored once by their event id, applied once.

As docs.prolific.com/api-reference/webhooks documents them:

- Verifying: every request carries ``X-Prolific-Request-Signature`` and
  ``X-Prolific-Request-Timestamp``; the signature is the base64 of the
  HMAC-SHA256 of the timestamp followed by the body, keyed with the
  workspace's secret (PROLIFIC_WEBHOOK_SECRET). A request whose signature
  does not match is refused (403) and changes nothing; so is one whose signed
  timestamp is more than CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS away from now (a
  captured request replayed later).
- Idempotency: ``X-Event-ID`` is the same across redeliveries ("delivered at
  least once"): the event is stored under it (unique), and a second delivery
  is acknowledged and skipped.
- Order: ``X-Timestamp`` says when the event was sent, and events may arrive
  out of order: a submission's status older than the one applied is stored
  but not applied (``statuses``).
- Bodies: ``{"resource_id", "event_type": "submission.status.change",
  "participant_id", "status"}`` and ``{"resource_id", "event_type":
  "study.status.change", "status", "metadata"}``.

The event is stored and applied in one transaction: if applying fails the
request answers 500, nothing is kept, and Prolific delivers it again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from django.conf import settings
from django.db import IntegrityError, transaction

from campaigns.errors import CampaignError
from campaigns.models import Campaign, ParticipantSession, WebhookEvent
from campaigns.services import statuses

logger = logging.getLogger(__name__)
SIGNATURE, TIMESTAMP, EVENT_ID, SENT_AT = (
    "X-Prolific-Request-Signature", "X-Prolific-Request-Timestamp", "X-Event-ID", "X-Timestamp",
)
MAX_EVENT_ID = 100


class HookRefused(CampaignError):
    """A webhook request this platform does not accept; nothing was changed."""

    def __init__(self, field: str, reason: str, status_code: int = 403):
        super().__init__(field, reason)
        self.status_code = status_code
        self.code = "forbidden" if status_code == 403 else "invalid"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Prolific's signature: base64(HMAC-SHA256(secret, timestamp + body))."""
    digest = hmac.new(secret.encode(), timestamp.encode() + body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(body: bytes, headers: Mapping[str, str], now: float | None = None) -> float:
    """Check the signature and its timestamp; returns the signed time (seconds). Raises ``HookRefused`` (403)."""
    secret = settings.PROLIFIC_WEBHOOK_SECRET
    if not secret:
        raise HookRefused(SIGNATURE, "no webhook secret is set up here (PROLIFIC_WEBHOOK_SECRET): every event is refused")
    signature, timestamp = headers.get(SIGNATURE, ""), headers.get(TIMESTAMP, "")
    if not signature or not timestamp:
        raise HookRefused(SIGNATURE, f"the request is not signed ({SIGNATURE} and {TIMESTAMP} are required)")
    try:
        signed_at = float(timestamp)
    except ValueError:
        raise HookRefused(TIMESTAMP, f"is not a UNIX timestamp: {timestamp[:40]!r}") from None
    if not hmac.compare_digest(sign(secret, timestamp, body).encode(), signature.strip().encode()):
        raise HookRefused(SIGNATURE, "does not match the body and timestamp signed with this workspace's secret")
    now = time.time() if now is None else now
    if abs(now - signed_at) > settings.CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS:
        raise HookRefused(
            TIMESTAMP, f"is {abs(now - signed_at):.0f} s away from now (more than "
            f"{settings.CAMPAIGNS_WEBHOOK_TOLERANCE_SECONDS} s): a replayed or delayed request is refused",
        )
    return signed_at


def _sent_at(headers: Mapping[str, str], signed_at: float) -> datetime:
    raw = headers.get(SENT_AT, "")
    try:
        seconds = float(raw) if raw else signed_at
    except ValueError:
        seconds = signed_at
    return datetime.fromtimestamp(seconds, tz=UTC)


def receive(body: bytes, headers: Mapping[str, str], now: float | None = None) -> tuple[WebhookEvent, bool]:
    """Check, store and apply one delivery; (the event, whether it was new). Raises ``HookRefused``."""
    signed_at = verify(body, headers, now)
    event_id = headers.get(EVENT_ID, "").strip()
    if not event_id or len(event_id) > MAX_EVENT_ID:
        raise HookRefused(EVENT_ID, f"is required (at most {MAX_EVENT_ID} characters): events are de-duplicated by it", 400)
    try:
        payload = json.loads(body)
    except ValueError:
        raise HookRefused("body", "is not JSON", 400) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("event_type"), str):
        raise HookRefused("body", "must be a JSON object with an event_type", 400)
    with transaction.atomic():
        try:
            with transaction.atomic():
                event = WebhookEvent.objects.create(
                    event_id=event_id, event_type=payload["event_type"][:64],
                    resource_id=str(payload.get("resource_id") or "")[:64], status=str(payload.get("status") or "")[:40],
                    sent_at=_sent_at(headers, signed_at), payload=payload, outcome=WebhookEvent.Outcome.IGNORED,
                )
        except IntegrityError:
            logger.info("webhook event %s delivered again: acknowledged, not applied twice", event_id)
            return WebhookEvent.objects.get(event_id=event_id), False
        event.outcome = _apply(event)
        event.save(update_fields=["outcome"])
    return event, True


def _apply(event: WebhookEvent) -> str:
    Outcome = WebhookEvent.Outcome
    if event.event_type == "submission.status.change":
        session = (ParticipantSession.objects.filter(external_session_id=event.resource_id)
                   .select_related("participant", "campaign__marketplace").order_by("-started_at").first())
        if session is None or session.campaign.marketplace.kind != "prolific":
            return Outcome.UNKNOWN_RESOURCE
        participant_id = str(event.payload.get("participant_id") or "")
        if participant_id and participant_id.lower() != session.participant.external_id.lower():
            logger.warning("webhook %s: submission %s belongs to %s here, not %s: not applied", event.event_id,
                           event.resource_id, session.participant.external_id, participant_id)
            return Outcome.IGNORED
        result = statuses.apply_submission_status(session, event.status, event.sent_at)
        return {statuses.APPLIED: Outcome.APPLIED, statuses.STALE: Outcome.STALE}.get(result, Outcome.IGNORED)
    if event.event_type == "study.status.change":
        changed = Campaign.objects.filter(external_study_id=event.resource_id).update(external_status=event.status[:32])
        return Outcome.APPLIED if changed else Outcome.UNKNOWN_RESOURCE
    return Outcome.IGNORED
