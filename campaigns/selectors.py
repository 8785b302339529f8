"""Reads of the campaigns: progress, time and money per session, per participant and per campaign.

A campaign's work is what its participants' worker accounts did inside their
sessions' windows (from consent to the session's end): a participant has one
live session at a time, so every task belongs to at most one session.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, TaskAssignment
from campaigns.models import LIVE_SESSION_STATES, Campaign, LedgerEntry, Participant, ParticipantSession
from campaigns.rules import hourly_cents, min_hourly_cents, money

State = ParticipantSession.State
MONEY_KINDS = (LedgerEntry.Kind.REWARD, LedgerEntry.Kind.BONUS, LedgerEntry.Kind.SCREEN_OUT)
COMMITTED_STATES = (LedgerEntry.State.PLANNED, LedgerEntry.State.SENDING, LedgerEntry.State.UNKNOWN, LedgerEntry.State.PAID)


def campaign_tasks(campaign: Campaign, sessions: QuerySet[ParticipantSession] | None = None) -> QuerySet[TaskAssignment]:
    """Tasks assigned inside the windows of the campaign's sessions (qualification items included)."""
    sessions = campaign.sessions.all() if sessions is None else sessions
    inside = sessions.filter(
        participant__worker_id=OuterRef("worker_id"), consented_at__isnull=False, consented_at__lte=OuterRef("assigned_at"),
    ).filter(Q(ended_at__isnull=True) | Q(ended_at__gte=OuterRef("assigned_at")))
    return TaskAssignment.objects.filter(worker__participant__isnull=False).filter(Exists(inside))


def campaign_answers(campaign: Campaign) -> QuerySet[TaskAssignment]:
    return campaign_tasks(campaign).filter(state=TaskAssignment.State.SUBMITTED, is_qualification=False)


def campaign_answer_count(campaign: Campaign) -> int:
    return campaign_answers(campaign).count()


def seconds_per_task(campaign: Campaign) -> list[float]:
    ids = campaign_answers(campaign).values("pk")
    return [
        *EmotionAnnotation.objects.filter(assignment__in=ids).values_list("seconds_spent", flat=True),
        *BoxAnnotation.objects.filter(assignment__in=ids).values_list("seconds_spent", flat=True),
    ]


def ledger_totals(rows: QuerySet[LedgerEntry]) -> dict[str, int]:
    """Cents committed (owed or paid) and paid, by the money rows."""
    money_rows = rows.filter(kind__in=MONEY_KINDS)
    committed = money_rows.filter(state__in=COMMITTED_STATES).aggregate(total=Coalesce(Sum("amount_cents"), 0))["total"]
    paid = money_rows.filter(state=LedgerEntry.State.PAID).aggregate(total=Coalesce(Sum("amount_cents"), 0))["total"]
    bonuses = rows.filter(kind=LedgerEntry.Kind.BONUS, state__in=COMMITTED_STATES).aggregate(
        total=Coalesce(Sum("amount_cents"), 0))["total"]
    return {"committed": committed, "paid": paid, "bonuses": bonuses}


def session_hours(session: ParticipantSession, now: datetime | None = None) -> float:
    end = session.ended_at or now or timezone.now()
    return max((end - session.started_at).total_seconds(), 0.0) / 3600


def session_pay(sessions: QuerySet[ParticipantSession]) -> dict[int, int]:
    """Cents committed per session (reward, bonuses, paid screen-out)."""
    rows = (LedgerEntry.objects.filter(session__in=sessions, kind__in=MONEY_KINDS, state__in=COMMITTED_STATES)
            .values("session_id").annotate(total=Sum("amount_cents")))
    return {row["session_id"]: row["total"] for row in rows}


def hourly_pay_per_session(campaign: Campaign) -> list[float]:
    """Effective hourly pay (cents an hour) of each completed session: its money over its whole duration."""
    completed = campaign.sessions.filter(state=State.COMPLETED)
    pay = session_pay(completed)
    return [hourly_cents(pay.get(s.pk, 0), session_hours(s) * 60) for s in completed if session_hours(s) > 0]


@dataclass
class Progress:
    campaign: Campaign
    figures: list[tuple[str, str]]
    states: dict[str, int]
    warnings: list[str]
    as_json: dict


def progress(campaign: Campaign) -> Progress:
    """The campaign's live figures, as the admin page shows them."""
    currency = campaign.marketplace.currency
    states = dict(campaign.sessions.values_list("state").annotate(n=Count("id")))
    active = sum(states.get(s, 0) for s in LIVE_SESSION_STATES)
    completed = states.get(State.COMPLETED, 0)
    answers = campaign_answer_count(campaign)
    totals = ledger_totals(campaign.ledger.all())
    seconds = seconds_per_task(campaign)
    median_seconds = statistics.median(seconds) if seconds else None
    hourly = hourly_pay_per_session(campaign)
    effective = statistics.median(hourly) if hourly else None
    minimum = min_hourly_cents(campaign.marketplace)
    planned = hourly_cents(campaign.reward_cents, campaign.expected_minutes)
    figures = [
        ("Participants active now", str(active)),
        ("Sessions completed", f"{completed}" + (f" of {campaign.target_participants}" if campaign.target_participants else "")),
        ("Answers stored", f"{answers}" + (f" of {campaign.target_answers}" if campaign.target_answers else "")),
        ("Money committed", money(totals["committed"], currency)),
        ("Money paid", money(totals["paid"], currency)),
        ("Of which bonuses", money(totals["bonuses"], currency)),
        ("Median time per task", "n/a" if median_seconds is None else f"{median_seconds:.1f} s"),
        ("Planned hourly pay (reward at the expected time)", f"{money(planned, currency)} an hour"),
        ("Effective hourly pay (median of completed sessions)", "n/a" if effective is None else f"{money(effective, currency)} an hour"),
        (f"{campaign.marketplace}'s minimum", "none" if minimum is None else f"{money(minimum, currency)} an hour"),
    ]
    warnings = []
    if effective is not None and minimum is not None and effective < minimum:
        warnings.append(
            f"Sessions take longer than expected: the median effective pay, {money(effective, currency)} an hour, is under "
            f"the marketplace's minimum of {money(minimum, currency)}. Raise the reward, or pay the difference as bonuses."
        )
    if campaign.marketplace.has_api and not settings.PROLIFIC_API_TOKEN:
        warnings.append("PROLIFIC_API_TOKEN is not set: the platform cannot publish, approve, reject or pay on Prolific. "
                        "Rewards stay owed in the ledger until it is.")
    if campaign.admissions_halted_at:
        warnings.append(f"Admissions are paused: {campaign.admissions_halted_reason}")
    if campaign.last_api_error:
        warnings.append(f"Last error from {campaign.marketplace} ({campaign.last_api_error_at:%Y-%m-%d %H:%M}): "
                        f"{campaign.last_api_error}")
    return Progress(
        campaign, figures, states, warnings,
        {"active": active, "completed": completed, "answers": answers, "committed_cents": totals["committed"],
         "paid_cents": totals["paid"], "median_seconds_per_task": median_seconds,
         "effective_hourly_cents": effective, "minimum_hourly_cents": minimum, "states": states},
    )


def completions_over_time(campaign: Campaign) -> list[datetime]:
    return list(campaign.sessions.filter(state=State.COMPLETED).order_by("ended_at").values_list("ended_at", flat=True))


def answers_over_time(campaign: Campaign) -> list[datetime]:
    return list(campaign_answers(campaign).order_by("finished_at").values_list("finished_at", flat=True))


@dataclass(frozen=True)
class ParticipantFigures:
    sessions: int
    completed: int
    answers: int
    pay_cents: int
    bonus_cents: int
    hours: float
    hourly_cents: float | None


def participant_figures(participant: Participant) -> ParticipantFigures:
    """Per worker: sessions, answers, pay (paid), bonuses, and effective hourly rate over all their sessions."""
    sessions = list(participant.sessions.all())
    rows = participant.ledger.filter(state=LedgerEntry.State.PAID)
    pay = rows.filter(kind__in=MONEY_KINDS).aggregate(total=Coalesce(Sum("amount_cents"), 0))["total"]
    bonus = rows.filter(kind=LedgerEntry.Kind.BONUS).aggregate(total=Coalesce(Sum("amount_cents"), 0))["total"]
    hours = sum(session_hours(s) for s in sessions if not s.is_live)
    answers = sum(s.tasks_done for s in sessions)
    return ParticipantFigures(
        sessions=len(sessions), completed=sum(1 for s in sessions if s.state == State.COMPLETED), answers=answers,
        pay_cents=pay, bonus_cents=bonus, hours=hours, hourly_cents=(pay / hours if hours > 0 else None),
    )


def release_facts(campaign: Campaign) -> dict:
    """What a snapshot's release notes say of the crowd behind it: platform, people, answers, pay."""
    answers = campaign_answers(campaign)
    per_item = list(
        answers.filter(person__isnull=False).values("person_id").annotate(n=Count("worker_id", distinct=True))
        .values_list("n", flat=True)
    )
    hourly = hourly_pay_per_session(campaign)
    totals = ledger_totals(campaign.ledger.all())
    return {
        "campaign": campaign.slug,
        "platform": campaign.marketplace.get_kind_display(),
        "marketplace": campaign.marketplace.name,
        "currency": campaign.marketplace.currency,
        "participants": campaign.sessions.values("participant").distinct().count(),
        "sessions_completed": campaign.sessions.filter(state=State.COMPLETED).count(),
        "answers": answers.count(),
        "annotators_per_item_mean": round(statistics.fmean(per_item), 3) if per_item else None,
        "reward_per_session": campaign.reward_cents / 100,
        "paid_total": totals["paid"] / 100,
        "bonuses_total": totals["bonuses"] / 100,
        "median_hourly_pay": round(statistics.median(hourly) / 100, 2) if hourly else None,
        "minimum_hourly_pay": (min_hourly_cents(campaign.marketplace) or 0) / 100 or None,
    }


def release_notes_for_images(image_ids: list[int]) -> list[dict] | None:
    """The release facts of every campaign whose answers are about these images (a snapshot's ``collection``)."""
    campaigns = [
        campaign for campaign in Campaign.objects.order_by("pk")
        if campaign_answers(campaign).filter(Q(person__image_id__in=image_ids) | Q(image_id__in=image_ids)).exists()
    ]
    return [release_facts(campaign) for campaign in campaigns] or None
