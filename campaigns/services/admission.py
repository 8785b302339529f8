"""A participant's way through a session: admitted from the study URL, consent, work, and back to the marketplace.

1. ``admit``: the study URL's parameters name the participant (and their
   submission). No password: the account is the one keyed by (marketplace,
   external id), made on the first visit and found again on the next (same
   worker, same history, no second qualification); a different id is a
   different worker, and the same id on another marketplace too. The page
   then binds the account to this browser's session.
2. ``consent``: the information sheet first. Declining ends the session with
   the marketplace's no-consent code.
3. Work on the annotation page: the qualification test if the worker has not
   passed it, then tasks until the quota is met (``sessions``).
4. ``finish``: a failed qualification (or a block) ends with the screen-out
   code, never the completion code; a met quota (or no work left) ends with
   the completion code, the reward written in the ledger (owed) at that moment.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.models import Worker
from annotator.services.assignment import work_outlook
from annotator.services.scopes import WorkScope
from annotator.services.workers import bounded_worker_for
from campaigns.errors import AdmissionRefused, CampaignError
from campaigns.marketplaces import Entry, check_entry_matches, exit_url, read_entry
from campaigns.models import Campaign, Participant, ParticipantSession
from campaigns.selectors import campaign_answer_count
from campaigns.services import ledger
from campaigns.services.sessions import consent_url, end_session, live_session, quota_met, scope_for_worker

logger = logging.getLogger(__name__)
State = ParticipantSession.State
ENDED_FOR_GOOD = (State.COMPLETED, State.SCREENED_OUT, State.NO_CONSENT)


def ensure_admitting(campaign: Campaign) -> None:
    """Raise ``AdmissionRefused`` (with the page's explanation) unless the campaign admits participants now."""
    if campaign.state == Campaign.State.DRAFT:
        raise AdmissionRefused("not_open", "This study has not started yet.", 404)
    if campaign.state == Campaign.State.CLOSED:
        raise AdmissionRefused("closed", "This study has ended: it takes no more participants. Thank you for your interest.", 410)
    if campaign.state == Campaign.State.PAUSED:
        raise AdmissionRefused("paused", "This study is paused for now. Please come back to it later from the marketplace.", 503)
    if campaign.admissions_halted_at:
        raise AdmissionRefused(
            "halted", "This study is paused for a moment while we cannot reach the marketplace. Nothing of yours is "
            "lost: please try the study link again in a few minutes.", 503,
        )
    full = targets_reached(campaign)
    if full:
        raise AdmissionRefused("full", full, 410)


def targets_reached(campaign: Campaign) -> str:
    """Why the campaign needs no one more ("" while it does)."""
    if campaign.target_participants:
        completed = campaign.sessions.filter(state=State.COMPLETED).count()
        if completed >= campaign.target_participants:
            return "This study has all the participants it needs. Thank you for your interest."
    if campaign.target_answers:
        if campaign_answer_count(campaign) >= campaign.target_answers:
            return "This study has collected all the answers it needs. Thank you for your interest."
    return ""


def _participant(campaign: Campaign, external_id: str) -> tuple[Participant, bool]:
    """The participant keyed by (marketplace, external id), with their worker account; made on first sight."""
    marketplace = campaign.marketplace
    participant = Participant.objects.filter(marketplace=marketplace, external_id=external_id).first()
    if participant is not None:
        return participant, False
    try:
        with transaction.atomic():
            # A new account, never one found by its name: someone who signed up under a participant's name gets
            # no one's work, and the participant keeps their own account (the name is only a label).
            users = get_user_model().objects
            username = f"{marketplace.kind}.{marketplace.pk}.{external_id}"
            while users.filter(username=username).exists():
                username = f"{marketplace.kind}.{marketplace.pk}.{external_id}.{secrets.token_hex(3)}"
            user = users.create_user(username=username, password=None)
            participant = Participant.objects.create(marketplace=marketplace, external_id=external_id, worker=bounded_worker_for(user))
    except IntegrityError:  # the same participant arriving twice at once
        return Participant.objects.get(marketplace=marketplace, external_id=external_id), False
    logger.info("participant %s of %s admitted for the first time", external_id, marketplace)
    return participant, True


def admit(campaign: Campaign, query) -> ParticipantSession:
    """The live session of the participant the study URL names: continued, or started. Raises ``EntryInvalid``
    (the URL names no one: nothing is created) or ``AdmissionRefused``."""
    entry = read_entry(campaign.marketplace, query)
    check_entry_matches(campaign, entry)
    ensure_admitting(campaign)
    participant, _ = _participant(campaign, entry.participant_id)
    with transaction.atomic():
        Participant.objects.select_for_update().filter(pk=participant.pk).first()  # one admission of a participant at a time
        live = live_session(participant)
        if live is not None and live.campaign_id == campaign.pk and _same_submission(live, entry):
            if entry.session_id and not live.external_session_id:
                ParticipantSession.objects.filter(pk=live.pk).update(external_session_id=entry.session_id)
                live.refresh_from_db()
            return live
        if live is not None:
            why = "a newer submission" if live.campaign_id == campaign.pk else f"a session of {campaign}"
            end_session(live, State.REPLACED, reason=f"the participant started {why}")
        last = participant.sessions.filter(campaign=campaign).order_by("-started_at", "-id").first()
        if last is not None and last.state in ENDED_FOR_GOOD and not campaign.allow_returning:
            if not entry.session_id or entry.session_id == last.external_session_id:
                return last  # back after the end: shown how it ended, again
            raise AdmissionRefused("taken_part", "You have already taken part in this study: it takes each participant once.")
        if entry.session_id and campaign.sessions.filter(external_session_id=entry.session_id).exists():
            return campaign.sessions.get(external_session_id=entry.session_id)
        return ParticipantSession.objects.create(
            campaign=campaign, participant=participant, state=State.CONSENT,
            external_session_id=entry.session_id, external_study_id=entry.study_id or campaign.external_study_id,
            task_quota=campaign.session_tasks, minute_quota=campaign.session_minutes,
        )


def _same_submission(session: ParticipantSession, entry: Entry) -> bool:
    return not entry.session_id or not session.external_session_id or entry.session_id == session.external_session_id


def give_consent(session: ParticipantSession, agreed: bool) -> ParticipantSession:
    """The participant's answer to the information sheet; declining ends the session (no-consent code)."""
    if session.state != State.CONSENT:
        raise CampaignError("consent", "was already answered for this session")
    if not agreed:
        end_session(session, State.NO_CONSENT, reason="declined the information and consent sheet")
        return session
    ParticipantSession.objects.filter(pk=session.pk, state=State.CONSENT).update(state=State.WORKING, consented_at=timezone.now())
    session.refresh_from_db()
    return session


@dataclass(frozen=True)
class Finish:
    """Where the finish page sends the participant: ``next`` is redirect (``url``), page, consent, work or extra."""

    next: str
    url: str = ""
    outcome: str = ""  # completed, screened_out, no_consent, released
    code: str = ""


def exit_for(session: ParticipantSession) -> Finish:
    """The way back to the marketplace of an ended session."""
    campaign = session.campaign
    outcome = session.state
    if outcome not in ENDED_FOR_GOOD:
        return Finish("page", outcome="released")
    code = {State.COMPLETED: campaign.completion_code, State.SCREENED_OUT: campaign.screen_out_code,
            State.NO_CONSENT: campaign.no_consent_code}[outcome]
    url = exit_url(
        campaign.marketplace, outcome=outcome, code=code, participant_id=session.participant.external_id,
        session_id=session.external_session_id, study_id=session.external_study_id,
    )
    return Finish("redirect" if url else "page", url, outcome, code)


def finish(session: ParticipantSession) -> Finish:
    """End the session if its work is over and say where the participant goes; else back to work (or consent)."""
    session.refresh_from_db()
    if not session.is_live:
        return exit_for(session)
    if session.state == State.CONSENT:
        return Finish("consent", consent_url(session.campaign))
    worker = Worker.objects.get(pk=session.participant.worker_id)
    if worker.is_blocked or worker.qualification == Worker.Qualification.FAILED:
        why = "blocked by quality control" if worker.is_blocked else "did not pass the qualification test"
        end_session(session, State.SCREENED_OUT, reason=why)
        if session.state == State.SCREENED_OUT:
            ledger.plan_screen_out(session)
        return exit_for(session)
    if worker.qualification != Worker.Qualification.QUALIFIED:
        return Finish("work")
    met = quota_met(session)
    scope = scope_for_worker(worker)
    if met and session.campaign.max_extra_tasks and not session.extra_offer_answered and _work_left(worker, scope):
        return Finish("extra")
    if not (met or session.campaign.state == Campaign.State.CLOSED or not _work_left(worker, scope)):
        return Finish("work")
    end_session(session, State.COMPLETED, reason="quota met" if met else "no work left for this participant")
    if session.state == State.COMPLETED:
        ledger.plan_reward(session)
    return exit_for(session)


def _work_left(worker: Worker, scope) -> bool:
    """Whether the pool may still give this worker something in the campaign's kinds and splits."""
    outlook = work_outlook(worker, None if scope is None else WorkScope(kinds=scope.kinds, splits=scope.splits))
    return outlook.work_later


def choose_extra(session: ParticipantSession, more: bool) -> ParticipantSession:
    """The participant's answer to "a few more tasks, each with a bonus?" once the quota is met."""
    if not session.is_live or session.extra_offer_answered:
        raise CampaignError("extra", "this offer was already answered")
    extra = session.campaign.max_extra_tasks if more else 0
    ParticipantSession.objects.filter(pk=session.pk, extra_offer_answered=False).update(
        extra_offer_answered=True, extra_tasks_allowed=extra
    )
    session.refresh_from_db()
    return session

