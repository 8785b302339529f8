"""The payment ledger: every reward (an approval), rejection, bonus and paid screen-out, and how each reaches the marketplace.

A row is written, with its idempotency key (unique), *before* the
marketplace is called: the same decision made twice (a double click, two
workers, a retried task) finds the row already there and pays nothing more.
Its state then moves by compare-and-set updates, so one caller at a time
sends it:

    planned --(claimed)--> sending --(answer)--> paid | failed | planned (token refused: nothing happened)
                                     \\--(no answer)--> unknown --(reconciled from the marketplace's record)--> ...

A row whose outcome is unknown (a lost answer, a timeout, a process that
died while ``sending``) is never simply sent again: it is first reconciled
from the marketplace's own record (the submission's status; for a bonus, the
bonuses paid on the submission), and only a row that record shows was not
done goes back to ``planned``. Prolific pays bonuses asynchronously, so a lost
bonus payment is looked for during CAMPAIGNS_BONUS_SETTLE_SECONDS before it
counts as not paid. Rows of marketplaces without an API are settled by an
admin (``mark_paid_outside``).
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from campaigns.errors import CampaignError
from campaigns.models import Campaign, LedgerEntry, Participant, ParticipantSession
from campaigns.prolific import (
    MarketplaceError,
    MarketplaceUnavailable,
    ProlificClient,
    Submission,
    TokenRefused,
)
from campaigns.services import health
from campaigns.services.sessions import reject_session_answers

logger = logging.getLogger(__name__)
Kind, State = LedgerEntry.Kind, LedgerEntry.State
SETTLED = (State.PAID, State.FAILED, State.CANCELLED)
COMMITTED = (State.PLANNED, State.SENDING, State.UNKNOWN, State.PAID)


# ---------------------------------------------------------------- writing rows


def plan(
    session: ParticipantSession, kind: str, amount_cents: int, key: str, *, rule: str = "", category: str = "",
    message: str = "", by: AbstractBaseUser | None = None,
) -> tuple[LedgerEntry, bool]:
    """The row under ``key``: written now (planned), or the one already there. (row, whether it was written now)."""
    campaign = session.campaign
    fields = {
        "campaign": campaign, "participant": session.participant, "session": session, "kind": kind,
        "amount_cents": amount_cents, "currency": campaign.marketplace.currency, "rule": rule[:120],
        "rejection_category": category, "message": message, "created_by": by,
    }
    existing = LedgerEntry.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            return LedgerEntry.objects.create(idempotency_key=key, **fields), True
    except IntegrityError:  # written by someone else at the same moment
        return LedgerEntry.objects.get(idempotency_key=key), False


def reward_key(session: ParticipantSession) -> str:
    return f"reward:session:{session.pk}"


def rejection_key(session: ParticipantSession) -> str:
    return f"rejection:session:{session.pk}"


def screen_out_key(session: ParticipantSession) -> str:
    return f"screen_out:session:{session.pk}"


def plan_reward(session: ParticipantSession) -> LedgerEntry:
    """The session's reward, owed from its completion (money committed); paid when the submission is approved."""
    return plan(session, Kind.REWARD, session.campaign.reward_cents, reward_key(session), rule="completed session")[0]


def plan_screen_out(session: ParticipantSession) -> LedgerEntry | None:
    """A paid screen-out (Prolific pays it by itself when the participant submits the screen-out code)."""
    amount = session.campaign.screen_out_reward_cents
    if not amount:
        return None
    return plan(session, Kind.SCREEN_OUT, amount, screen_out_key(session), rule="screened out")[0]


def settle(session: ParticipantSession, kind: str, *, note: str, amount_cents: int | None = None) -> LedgerEntry | None:
    """The marketplace says the row's effect happened (an approval or rejection made there, a screen-out paid):
    the row is marked done, and written first if the platform had not (an approval in Prolific's own pages)."""
    keys = {Kind.REWARD: reward_key, Kind.REJECTION: rejection_key, Kind.SCREEN_OUT: screen_out_key}
    amount = amount_cents if amount_cents is not None else {
        Kind.REWARD: session.campaign.reward_cents, Kind.REJECTION: 0,
        Kind.SCREEN_OUT: session.campaign.screen_out_reward_cents,
    }[kind]
    if kind != Kind.REJECTION and not amount:
        return None
    entry, _ = plan(session, kind, amount, keys[kind](session), rule=note)
    now = timezone.now()
    changed = LedgerEntry.objects.filter(pk=entry.pk).exclude(state=State.PAID).update(
        state=State.PAID, settled_at=now, last_error=""
    )
    entry.refresh_from_db()
    if changed:
        _after_done(entry)
    return entry


def cancel_unsent(session: ParticipantSession, kinds: Iterable[str], reason: str) -> int:
    """Rows of the session not sent yet (planned) that are owed no more: cancelled."""
    return LedgerEntry.objects.filter(session=session, kind__in=list(kinds), state=State.PLANNED).update(
        state=State.CANCELLED, settled_at=timezone.now(), last_error=reason[:500]
    )


# ---------------------------------------------------------------- moving a row


def _move(entry: LedgerEntry, from_states: Iterable[str], **fields) -> bool:
    """Compare-and-set: change the row only if it is still in one of ``from_states``."""
    moved = LedgerEntry.objects.filter(pk=entry.pk, state__in=list(from_states)).update(**fields)
    entry.refresh_from_db()
    return bool(moved)


def _submission_id(entry: LedgerEntry) -> str:
    session = entry.session
    if session is None or not session.external_session_id:
        raise CampaignError("session", "this row's session has no marketplace submission id to act on")
    return session.external_session_id


def _after_error(entry: LedgerEntry, error: MarketplaceError, *, was_sent: bool) -> None:
    """Where a row goes after a failed call: nothing happened (planned, failed) or the outcome is unknown."""
    now = timezone.now()
    if isinstance(error, TokenRefused) or (isinstance(error, MarketplaceUnavailable) and not was_sent):
        _move(entry, [State.SENDING, State.PLANNED], state=State.PLANNED, last_error=error.message[:500])
    elif isinstance(error, MarketplaceUnavailable):
        _move(entry, [State.SENDING], state=State.UNKNOWN, last_error=error.message[:500])
    else:
        _move(entry, [State.SENDING, State.PLANNED], state=State.FAILED, settled_at=now, last_error=error.message[:500])
    health.record_error(entry.campaign, error)
    logger.warning("ledger row %s (%s): %s -> %s", entry.pk, entry.idempotency_key, error.message, entry.state)


def _done(entry: LedgerEntry, *, note: str = "") -> None:
    if _move(entry, [State.SENDING, State.UNKNOWN, State.PLANNED], state=State.PAID, settled_at=timezone.now(),
             last_error=note):
        _after_done(entry)


def _after_done(entry: LedgerEntry) -> None:
    """A rejection carried out: no reward is owed, and the session's answers follow the rule for rejected submissions."""
    if entry.kind == Kind.REJECTION and entry.session is not None:
        cancel_unsent(entry.session, [Kind.REWARD], "not owed: the submission was rejected")
        reject_session_answers(entry.session)


def client_for(campaign: Campaign) -> ProlificClient:
    """The marketplace's client (raises ``MarketplaceNotConfigured`` without a token: nothing is written then)."""
    if not campaign.marketplace.has_api:
        raise CampaignError("marketplace", f"{campaign.marketplace} has no API: settle its rows by hand")
    return ProlificClient()


def send(entry: LedgerEntry, client: ProlificClient | None = None) -> LedgerEntry:
    """Carry out the row at the marketplace, once: reconcile it first if an earlier call's outcome is unknown."""
    entry.refresh_from_db()
    if entry.state in SETTLED or not entry.campaign.marketplace.has_api:
        return entry
    if entry.state == State.SENDING and entry.sent_at and timezone.now() - entry.sent_at < timedelta(
        seconds=settings.CAMPAIGNS_STALE_CALL_SECONDS
    ):
        return entry  # another caller's call is in flight
    try:
        _submission_id(entry)
    except CampaignError as error:
        _move(entry, [State.PLANNED], state=State.FAILED, settled_at=timezone.now(), last_error=error.reason)
        return entry
    client = client or client_for(entry.campaign)
    if entry.state in (State.SENDING, State.UNKNOWN):
        reconcile(entry, client)
        if entry.state != State.PLANNED:
            return entry
    if entry.kind == Kind.BONUS:
        _send_bonus(entry, client)
    elif entry.kind in (Kind.REWARD, Kind.REJECTION):
        _send_transition(entry, client)
    else:  # a paid screen-out: Prolific pays it by itself; see whether it has
        reconcile(entry, client)
    return entry


def _send_transition(entry: LedgerEntry, client: ProlificClient) -> None:
    """Approve or reject the submission, after reading its status (already done? not submitted yet?)."""
    submission_id = _submission_id(entry)
    target = "APPROVED" if entry.kind == Kind.REWARD else "REJECTED"
    try:
        submission = client.get_submission(submission_id)
    except MarketplaceError as error:
        _after_error(entry, error, was_sent=False)
        return
    health.record_success(entry.campaign)
    if submission.status == target:
        _done(entry, note=f"already {target.lower()} at {entry.campaign.marketplace}")
        return
    if submission.status != "AWAITING REVIEW":
        _move(entry, [State.PLANNED], last_error=f"the submission is {submission.status}: it can be "
              f"{'approved' if target == 'APPROVED' else 'rejected'} once it awaits review")
        return
    if not _move(entry, [State.PLANNED], state=State.SENDING, sent_at=timezone.now(), attempts=F("attempts") + 1):
        return  # someone else claimed it
    try:
        if entry.kind == Kind.REWARD:
            client.approve(submission_id)
        else:
            client.reject(submission_id, entry.message, entry.rejection_category)
    except MarketplaceError as error:
        _after_error(entry, error, was_sent=True)
        return
    health.record_success(entry.campaign)
    _done(entry)


def _send_bonus(entry: LedgerEntry, client: ProlificClient) -> None:
    """Set the bonus up (once: the bulk id is kept on the row), then pay it (never repeated without reconciling)."""
    if not _move(entry, [State.PLANNED], state=State.SENDING, sent_at=timezone.now(), attempts=F("attempts") + 1):
        return
    study_id = entry.session.external_study_id or entry.campaign.external_study_id
    if not entry.external_ref:
        try:
            bulk_id = client.set_up_bonus(study_id, _submission_id(entry), entry.amount_cents)
        except MarketplaceError as error:
            # Setting up moves no money: whatever happened, the row can be sent again (a new set-up).
            _move(entry, [State.SENDING], state=State.PLANNED, last_error=error.message[:500])
            health.record_error(entry.campaign, error)
            return
        _move(entry, [State.SENDING], external_ref=bulk_id)
    try:
        client.pay_bonus(entry.external_ref)
    except MarketplaceError as error:
        _after_error(entry, error, was_sent=True)
        return
    health.record_success(entry.campaign)
    _done(entry)


def reconcile(entry: LedgerEntry, client: ProlificClient) -> LedgerEntry:
    """Decide an unsent or unknown row from the marketplace's record of the submission; send nothing."""
    try:
        submission = client.get_submission(_submission_id(entry))
    except MarketplaceError as error:
        health.record_error(entry.campaign, error)
        if entry.state == State.SENDING:
            _move(entry, [State.SENDING], state=State.UNKNOWN, last_error=error.message[:500])
        return entry
    health.record_success(entry.campaign)
    unsettled = [State.PLANNED, State.SENDING, State.UNKNOWN]
    if entry.kind == Kind.BONUS:
        _reconcile_bonus(entry, submission)
    elif entry.kind == Kind.REWARD:
        if submission.status == "APPROVED":
            _done(entry, note="approved (found in the marketplace's record)")
        elif submission.status in ("REJECTED", "RETURNED", "TIMED-OUT"):
            _move(entry, unsettled, state=State.CANCELLED, settled_at=timezone.now(),
                  last_error=f"not owed: the submission is {submission.status}")
        else:
            _move(entry, unsettled, state=State.PLANNED,
                  last_error=f"not approved yet (the submission is {submission.status})")
    elif entry.kind == Kind.REJECTION:
        if submission.status == "REJECTED":
            _done(entry, note="rejected (found in the marketplace's record)")
        else:
            _move(entry, unsettled, state=State.PLANNED, last_error=f"not rejected yet ({submission.status})")
    elif entry.kind == Kind.SCREEN_OUT and submission.status == "SCREENED OUT":
        _done(entry, note="screened out and paid by the marketplace")
    return entry


def _reconcile_bonus(entry: LedgerEntry, submission: Submission) -> None:
    """Paid if the submission carries more bonuses of this amount than the ledger already counts as paid."""
    there = sum(1 for amount in submission.bonus_payments if amount == entry.amount_cents)
    here = LedgerEntry.objects.filter(
        session=entry.session, kind=Kind.BONUS, state=State.PAID, amount_cents=entry.amount_cents
    ).exclude(pk=entry.pk).count()
    if there > here:
        _done(entry, note="paid (found in the submission's bonus payments)")
        return
    settle_by = (entry.sent_at or entry.created_at) + timedelta(seconds=settings.CAMPAIGNS_BONUS_SETTLE_SECONDS)
    if entry.state in (State.SENDING, State.UNKNOWN) and entry.external_ref and timezone.now() < settle_by:
        _move(entry, [State.SENDING], state=State.UNKNOWN)  # may still be paid: Prolific pays "in the following minutes"
        return
    _move(entry, [State.SENDING, State.UNKNOWN], state=State.PLANNED,
          last_error="not found among the submission's bonus payments: it will be paid when sent again")


# ---------------------------------------------------------------- many rows


def unsettled_rows(campaign: Campaign | None = None) -> QuerySet[LedgerEntry]:
    """Rows whose outcome must be found: unknown ones, and ``sending`` ones whose caller died."""
    stale = timezone.now() - timedelta(seconds=settings.CAMPAIGNS_STALE_CALL_SECONDS)
    rows = LedgerEntry.objects.filter(Q(state=State.UNKNOWN) | Q(state=State.SENDING, sent_at__lt=stale))
    rows = rows.filter(campaign__marketplace__kind="prolific")
    return rows if campaign is None else rows.filter(campaign=campaign)


def reconcile_unsettled(campaign: Campaign | None = None) -> int:
    """Reconcile every unknown or stale row (the periodic task); returns how many were looked at."""
    rows = list(unsettled_rows(campaign).select_related("campaign__marketplace", "session"))
    if not rows:
        return 0
    client = ProlificClient()
    for entry in rows:
        reconcile(entry, client)
    return len(rows)


def send_many(entries: Iterable[LedgerEntry]) -> dict[str, int]:
    """Send each row; returns how many ended in each state. Raises ``MarketplaceNotConfigured`` before any call."""
    entries = list(entries)
    counts: dict[str, int] = {}
    clients: dict[int, ProlificClient] = {}
    for entry in entries:
        client = clients.get(entry.campaign_id) or clients.setdefault(entry.campaign_id, client_for(entry.campaign))
        send(entry, client)
        counts[entry.state] = counts.get(entry.state, 0) + 1
    return counts


def mark_paid_outside(entries: Iterable[LedgerEntry], by: AbstractBaseUser | None) -> int:
    """Rows of marketplaces without an API, paid by hand on the marketplace: marked done, with who said so."""
    ids = [e.pk for e in entries if not e.campaign.marketplace.has_api and e.state == State.PLANNED]
    who = by.get_username() if by is not None else "an admin"
    return LedgerEntry.objects.filter(pk__in=ids, state=State.PLANNED).update(
        state=State.PAID, settled_at=timezone.now(), last_error=f"paid outside the platform (marked by {who})"
    )


# ---------------------------------------------------------------- export

CSV_COLUMNS = (
    "id", "created_at", "campaign", "marketplace", "participant", "session", "submission", "kind", "state",
    "amount", "currency", "idempotency_key", "external_ref", "rule", "rejection_category", "attempts", "sent_at",
    "settled_at", "last_error",
)


def _cell(value) -> str:
    """A CSV cell a spreadsheet will not run as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def ledger_csv(rows: QuerySet[LedgerEntry]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for e in rows.select_related("campaign__marketplace", "participant", "session").order_by("created_at", "id"):
        writer.writerow([_cell(v) for v in (
            e.pk, e.created_at.isoformat(), e.campaign.slug, e.campaign.marketplace.name, e.participant.external_id,
            e.session_id or "", e.session.external_session_id if e.session else "", e.kind, e.state,
            f"{e.amount_cents / 100:.2f}", e.currency, e.idempotency_key, e.external_ref, e.rule, e.rejection_category,
            e.attempts, e.sent_at.isoformat() if e.sent_at else "", e.settled_at.isoformat() if e.settled_at else "",
            e.last_error,
        )])
    return out.getvalue()


def participant_rows(participant: Participant) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(participant=participant)
