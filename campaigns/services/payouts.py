"""An admin's decisions on completed sessions: approve them (paying their rewards) or reject one, through the ledger.

Rejecting follows Prolific's rules (docs.prolific.com/api-reference/
submissions/transition-submission): a category from its list and a message
to the participant of at least 100 characters; both are checked before
anything is written. A session whose reward is already paid cannot be
rejected. Without a token (or with one Prolific refuses) the admin is told,
and no row is left half-written: a new decision writes nothing, and rows
already planned stay planned.
"""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser

from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, ParticipantSession
from campaigns.prolific import REJECTION_CATEGORIES, REJECTION_MESSAGE_MIN
from campaigns.services import ledger

Kind, State = LedgerEntry.Kind, LedgerEntry.State


def approve_completed(campaign: Campaign, by: AbstractBaseUser | None = None) -> dict[str, int]:
    """Send the reward (approval) of every completed session not paid yet; returns the rows' states."""
    client = ledger.client_for(campaign)  # no token: refused before anything
    rejected = campaign.ledger.filter(kind=Kind.REJECTION).exclude(state__in=[State.FAILED, State.CANCELLED])
    completed = campaign.sessions.filter(state=ParticipantSession.State.COMPLETED).exclude(
        pk__in=rejected.values("session_id"))
    for session in completed:
        ledger.plan_reward(session)
    rows = campaign.ledger.filter(kind=Kind.REWARD, state__in=[State.PLANNED, State.UNKNOWN, State.SENDING],
                                  session__in=completed)
    counts: dict[str, int] = {}
    for entry in rows.select_related("campaign__marketplace", "session"):
        ledger.send(entry, client)
        counts[entry.state] = counts.get(entry.state, 0) + 1
    return counts


def check_rejection(category: str, message: str) -> str:
    message = (message or "").strip()
    if category not in REJECTION_CATEGORIES:
        raise CampaignError("rejection_category", f"must be one of {', '.join(REJECTION_CATEGORIES)}, got {category!r}")
    if len(message) < REJECTION_MESSAGE_MIN:
        raise CampaignError(
            "message", f"Prolific requires at least {REJECTION_MESSAGE_MIN} characters explaining the rejection to the "
            f"participant; this one has {len(message)}",
        )
    return message


def reject(session: ParticipantSession, category: str, message: str, by: AbstractBaseUser | None = None) -> LedgerEntry:
    """Reject the session's submission: the rejection is written and sent; once done, the reward is cancelled."""
    message = check_rejection(category, message)
    if session.state != ParticipantSession.State.COMPLETED:
        raise CampaignError("session", f"only a completed session can be rejected; this one is {session.get_state_display().lower()}")
    if session.ledger.filter(kind=Kind.REJECTION).exclude(state__in=[State.FAILED, State.CANCELLED]).exists():
        raise CampaignError("session", "was already rejected")
    reward = session.ledger.filter(kind=Kind.REWARD).first()
    if reward is not None and reward.state in (State.PAID, State.SENDING, State.UNKNOWN):
        raise CampaignError("session", "its reward is already paid (or being paid): it can no longer be rejected")
    client = ledger.client_for(session.campaign) if session.campaign.marketplace.has_api else None
    entry, _ = ledger.plan(session, Kind.REJECTION, 0, ledger.rejection_key(session), rule="rejected by an admin",
                           category=category, message=message, by=by)
    if client is not None:
        ledger.send(entry, client)
    return entry
