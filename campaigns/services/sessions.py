"""A participant's session as the annotator sees it (its work scope), and a session's end with its figures.

The scope (``scope_for_worker``, registered with the annotator at start-up):
a participant works only inside a live session of theirs, only on the
campaign's task kinds and splits, and is given no new task once the session's
quota is met (N tasks, or M minutes since consent; the qualification test
does not count, and a worker still taking it is never "finished"). The page
then goes to the campaign's finish page (``/c/<slug>/done/``).

Time is recorded honestly: per answer the seconds the page measured; per
session its start, consent, end, the time on tasks, and the idle time (gaps
of more than CAMPAIGNS_IDLE_SECONDS between task events).
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from annotator.models import AnnotationStatus, BoxAnnotation, EmotionAnnotation, TaskAssignment, Worker
from annotator.services.assignment import release_live_tasks
from annotator.services.scopes import WorkScope
from campaigns.models import LIVE_SESSION_STATES, Campaign, Participant, ParticipantSession
from quality.services import review_annotations

logger = logging.getLogger(__name__)
State = ParticipantSession.State


def participant_of(worker: Worker) -> Participant | None:
    return Participant.objects.filter(worker_id=worker.pk).select_related("marketplace").first()


def live_session(participant: Participant) -> ParticipantSession | None:
    return (
        ParticipantSession.objects.filter(participant=participant, state__in=LIVE_SESSION_STATES)
        .select_related("campaign__marketplace", "participant")
        .first()
    )


def done_url(campaign: Campaign) -> str:
    return reverse("campaigns:done", args=[campaign.slug])


def consent_url(campaign: Campaign) -> str:
    return reverse("campaigns:consent", args=[campaign.slug])


def work_started(session: ParticipantSession) -> datetime:
    return session.consented_at or session.started_at


def task_quota(session: ParticipantSession) -> int | None:
    return None if session.task_quota is None else session.task_quota + session.extra_tasks_allowed


def _session_tasks(session: ParticipantSession, until: datetime | None = None):
    tasks = TaskAssignment.objects.filter(worker_id=session.participant.worker_id, assigned_at__gte=work_started(session))
    return tasks if until is None else tasks.filter(assigned_at__lte=until)


def tasks_done(session: ParticipantSession, until: datetime | None = None) -> int:
    """Tasks submitted in the session, hidden controls included (the worker cannot tell them apart), the test not."""
    return _session_tasks(session, until).filter(state=TaskAssignment.State.SUBMITTED, is_qualification=False).count()


def minutes_used(session: ParticipantSession, now: datetime) -> float:
    return max((now - work_started(session)).total_seconds(), 0.0) / 60


def quota_met(session: ParticipantSession, now: datetime | None = None) -> bool:
    """Whether the session's quota (tasks, or minutes since consent) is reached."""
    now = now or timezone.now()
    quota = task_quota(session)
    if quota is not None and tasks_done(session) >= quota:
        return True
    return session.minute_quota is not None and minutes_used(session, now) >= session.minute_quota


def _label(session: ParticipantSession, qualified: bool, tasks_left: int | None, minutes_left: float | None) -> str:
    campaign = session.campaign
    quota = task_quota(session)
    if not qualified:
        amount = f"{quota} tasks" if quota is not None else f"{session.minute_quota} minutes of tasks"
        return f"This session: the qualification test first, then {amount} (about {campaign.expected_minutes} minutes in all)."
    parts = []
    if tasks_left is not None:
        parts.append(f"{tasks_left} of {quota} task{'s' if quota != 1 else ''} left")
    if minutes_left is not None:
        parts.append(f"{math.ceil(minutes_left)} minute{'s' if math.ceil(minutes_left) != 1 else ''} left")
    elif tasks_left is not None and quota:
        parts.append(f"about {math.ceil(campaign.expected_minutes * tasks_left / quota)} min to go")
    return "This session: " + " · ".join(parts) + "."


def scope_for_worker(worker: Worker) -> WorkScope | None:
    """The annotator's work scope of a participant (``None`` for everyone else): see the module's docstring."""
    participant = participant_of(worker)
    if participant is None:
        return None
    session = live_session(participant)
    if session is None:
        last = participant.sessions.select_related("campaign").order_by("-started_at", "-id").first()
        return WorkScope(
            kinds=frozenset(), finished=True, finish_url=done_url(last.campaign) if last else "",
            label="Your session has ended.",
        )
    campaign = session.campaign
    if session.state == State.CONSENT:
        return WorkScope(kinds=frozenset(), finished=True, finish_url=consent_url(campaign),
                         label="Read the information sheet first.")
    now = timezone.now()
    qualified = worker.qualification == Worker.Qualification.QUALIFIED
    quota = task_quota(session)
    done = tasks_done(session) if quota is not None else 0
    tasks_left = max(quota - done, 0) if quota is not None else None
    minutes_left = max(session.minute_quota - minutes_used(session, now), 0.0) if session.minute_quota is not None else None
    met = (tasks_left == 0) or (minutes_left is not None and minutes_left <= 0)
    return WorkScope(
        kinds=frozenset(campaign.task_kinds) if campaign.task_kinds else None,
        splits=frozenset(campaign.splits) if campaign.splits else None,
        finished=qualified and (met or campaign.state == Campaign.State.CLOSED),
        finish_url=done_url(campaign),
        label=_label(session, qualified, tasks_left, minutes_left),
        tasks_left=tasks_left,
        minutes_left=None if minutes_left is None else round(minutes_left, 1),
    )


def session_figures(session: ParticipantSession, until: datetime) -> dict:
    """Tasks, correct controls, seconds on tasks, active and idle seconds of the session up to ``until``."""
    tasks = list(
        _session_tasks(session, until).values("pk", "state", "is_qualification", "gold_item_id", "gold_passed",
                                              "assigned_at", "finished_at")
    )
    counted = [t for t in tasks if not t["is_qualification"]]
    ids = [t["pk"] for t in tasks if t["state"] == TaskAssignment.State.SUBMITTED]
    seconds = sum(
        model.objects.filter(assignment_id__in=ids).aggregate(total=Sum("seconds_spent"))["total"] or 0.0
        for model in (EmotionAnnotation, BoxAnnotation)
    )
    start = work_started(session)
    moments = sorted(
        {start, until, *(t["assigned_at"] for t in tasks), *(t["finished_at"] for t in tasks if t["finished_at"])}
    )
    moments = [m for m in moments if start <= m <= until]
    idle = sum(max((b - a).total_seconds() - settings.CAMPAIGNS_IDLE_SECONDS, 0.0) for a, b in zip(moments, moments[1:]))
    total = max((until - session.started_at).total_seconds(), 0.0)
    return {
        "tasks_done": sum(1 for t in counted if t["state"] == TaskAssignment.State.SUBMITTED),
        "controls_passed": sum(1 for t in counted if t["gold_item_id"] and t["gold_passed"]),
        "seconds_on_tasks": float(seconds),
        "idle_seconds": idle,
        "active_seconds": max(total - idle, 0.0),
    }


def end_session(session: ParticipantSession, state: str, *, reason: str = "", now: datetime | None = None) -> bool:
    """End a live session in ``state`` (its figures written, its live tasks released); False if it had ended already.

    The session row is locked and checked live first, so two ends at once
    (the finish page and a webhook) end it once.
    """
    if state in LIVE_SESSION_STATES:
        raise ValueError(f"{state} is not an end")
    now = now or timezone.now()
    released = 0
    with transaction.atomic():
        locked = ParticipantSession.objects.select_for_update().get(pk=session.pk)
        ended = locked.state in LIVE_SESSION_STATES
        if ended:
            released = release_live_tasks(Worker.objects.get(pk=session.participant.worker_id), now)
            figures = session_figures(locked, now)
            ParticipantSession.objects.filter(pk=session.pk).update(
                state=state, ended_at=now, end_reason=reason[:300], **figures
            )
    session.refresh_from_db()
    if ended:
        logger.info("session %s of %s ended: %s (%d task(s) released) %s", session.pk, session.participant, state,
                    released, reason)
    return bool(ended)


def session_answers(session: ParticipantSession):
    """The emotion answers given in the session (its window: from consent to its end)."""
    tasks = _session_tasks(session, session.ended_at).filter(is_qualification=False)
    return EmotionAnnotation.objects.filter(assignment__in=tasks.values("pk"), is_gold=False)


def reject_session_answers(session: ParticipantSession) -> int:
    """The documented rule for a rejected submission: its emotion answers are rejected (quality's review status)
    and leave the figures and exports. Returned and timed-out submissions keep their answers."""
    ids = list(session_answers(session).exclude(status=AnnotationStatus.REJECTED).values_list("pk", flat=True))
    return review_annotations(ids, AnnotationStatus.REJECTED) if ids else 0
