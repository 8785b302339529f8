"""The marketplace's word on a submission, from a webhook or a poll, applied to its session and the ledger once.

Events may come late, twice, or out of order (Prolific: "we do not guarantee
the order of events"): each status carries the time it was sent, and one
older than the session's last applied status is recorded but not applied.

What each status does:

- RETURNED, TIMED-OUT: the participant gave the study up. A live session
  ends (``released``) and the work it holds goes back to the pool at once,
  for other workers; its answers are kept. A reward not sent yet is cancelled.
- REJECTED: as above, and the session's emotion answers are rejected
  (quality's review status: left out of figures and exports); the reward is
  cancelled and the rejection recorded in the ledger.
- APPROVED: the reward is paid (recorded, if approved in Prolific's own pages).
- SCREENED OUT: a paid screen-out is paid.
- Others (RESERVED, ACTIVE, AWAITING REVIEW, ...): only recorded.
"""

from __future__ import annotations

import logging
from datetime import datetime

from django.db import transaction

from campaigns.models import LedgerEntry, ParticipantSession
from campaigns.services import ledger
from campaigns.services.sessions import end_session, reject_session_answers

logger = logging.getLogger(__name__)
RELEASING = ("RETURNED", "TIMED-OUT", "REJECTED")
APPLIED, STALE, UNCHANGED = "applied", "stale", "unchanged"


ALIASES = {"TIMED_OUT": "TIMED-OUT", "TIMED OUT": "TIMED-OUT", "AWAITING_REVIEW": "AWAITING REVIEW",
           "SCREENED_OUT": "SCREENED OUT", "PARTIALLY_APPROVED": "PARTIALLY APPROVED"}


def normal_status(status: str) -> str:
    """Prolific's spelling of a submission status ("AWAITING REVIEW", "TIMED-OUT"), whatever the event wrote."""
    upper = (status or "").strip().upper()
    return ALIASES.get(upper, upper)


def apply_submission_status(session: ParticipantSession, status: str, at: datetime) -> str:
    """Apply ``status`` (sent at ``at``) to the session: ``applied``, ``stale`` (older than what is known) or ``unchanged``."""
    status = normal_status(status)
    with transaction.atomic():
        locked = ParticipantSession.objects.select_for_update().get(pk=session.pk)
        if locked.submission_status_at is not None and at < locked.submission_status_at:
            logger.info("session %s: %s of %s is older than %s of %s: not applied", session.pk, status, at,
                        locked.submission_status, locked.submission_status_at)
            return STALE
        if locked.submission_status == status:
            ParticipantSession.objects.filter(pk=session.pk).update(submission_status_at=at)
            return UNCHANGED
        ParticipantSession.objects.filter(pk=session.pk).update(submission_status=status, submission_status_at=at)
        locked.refresh_from_db()
        _effects(locked, status)
    session.refresh_from_db()
    return APPLIED


def _effects(session: ParticipantSession, status: str) -> None:
    Kind = LedgerEntry.Kind
    if status in RELEASING:
        if session.is_live:
            end_session(session, ParticipantSession.State.RELEASED, reason=f"{status} at {session.campaign.marketplace}")
        ledger.cancel_unsent(session, [Kind.REWARD, Kind.SCREEN_OUT], f"not owed: the submission was {status}")
    if status == "REJECTED":
        ledger.settle(session, Kind.REJECTION, note="rejected at the marketplace")
        reject_session_answers(session)
    elif status == "APPROVED":
        ledger.settle(session, Kind.REWARD, note="approved at the marketplace")
    elif status == "SCREENED OUT":
        ledger.settle(session, Kind.SCREEN_OUT, note="screened out and paid by the marketplace")
