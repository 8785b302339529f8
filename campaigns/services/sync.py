"""Polling, the webhooks' fallback: submissions' states, the ledger's unknown rows, and the participant groups.

Every CAMPAIGNS_POLL_SECONDS (Celery beat, ``campaigns.poll_marketplaces``),
for each open or paused Prolific campaign: the study's submissions are read
and any status that differs from the one known here is applied, as of now
(``statuses``: a later webhook with an older timestamp will not undo it).
Each poll is also the marketplace's health check: failures in a row halt
admissions, the first success resumes them (``health``). Then the ledger's
rows of unknown outcome are reconciled, and the participant groups updated.

Participant groups: a participant who passed the qualification test is in
the marketplace's "allowed" group, one blocked by quality control is in its
"blocked" group (and out of "allowed"); an unblock takes them out again.
The annotator and quality mark a participant as needing an update
(``receivers``); the poll sends the changes in one call per group.
"""

from __future__ import annotations

import logging

from django.db.models import Q
from django.utils import timezone

from annotator.models import Worker
from campaigns.models import Campaign, Marketplace, Participant
from campaigns.prolific import MarketplaceError, MarketplaceNotConfigured, ProlificClient
from campaigns.services import health, ledger
from campaigns.services.statuses import apply_submission_status, normal_status

logger = logging.getLogger(__name__)


def poll_campaign(campaign: Campaign, client: ProlificClient) -> int:
    """Apply the study's submission statuses that differ from the known ones; returns how many were applied."""
    try:
        submissions = client.list_submissions(campaign.external_study_id)
        study = client.get_study(campaign.external_study_id)
    except MarketplaceError as error:
        health.record_error(campaign, error)
        logger.warning("campaign %s: polling %s failed: %s", campaign.slug, campaign.marketplace, error.message)
        return 0
    health.record_success(campaign)
    now = timezone.now()
    sessions = {s.external_session_id: s for s in campaign.sessions.exclude(external_session_id="")}
    applied = 0
    for submission in submissions:
        session = sessions.get(submission.id)
        if session is not None and normal_status(submission.status) != session.submission_status:
            applied += apply_submission_status(session, submission.status, now) == "applied"
    Campaign.objects.filter(pk=campaign.pk).update(last_synced_at=now, external_status=str(study.get("status", ""))[:32])
    return applied


def polled_campaigns():
    return Campaign.objects.filter(
        marketplace__kind=Marketplace.Kind.PROLIFIC, state__in=[Campaign.State.OPEN, Campaign.State.PAUSED]
    ).exclude(external_study_id="").select_related("marketplace")


def poll_all() -> dict[str, int]:
    """The periodic task's work: poll every campaign, reconcile the ledger, update the participant groups."""
    try:
        client = ProlificClient()
    except MarketplaceNotConfigured:
        return {"campaigns": 0, "statuses": 0, "reconciled": 0, "groups": 0}
    campaigns = list(polled_campaigns())
    statuses = sum(poll_campaign(campaign, client) for campaign in campaigns)
    reconciled = ledger.reconcile_unsettled()
    groups = sync_groups(client)
    return {"campaigns": len(campaigns), "statuses": statuses, "reconciled": reconciled, "groups": groups}


def mark_groups_dirty(worker_id: int) -> None:
    """The worker's qualification or block changed: their marketplace groups need an update."""
    Participant.objects.filter(worker_id=worker_id, marketplace__kind=Marketplace.Kind.PROLIFIC).update(groups_dirty=True)


def sync_groups(client: ProlificClient | None = None) -> int:
    """Send the participant groups' changes; returns how many participants were brought in step."""
    done = 0
    marketplaces = Marketplace.objects.filter(kind=Marketplace.Kind.PROLIFIC).filter(
        ~Q(allowed_group_id="") | ~Q(blocked_group_id="")
    )
    for marketplace in marketplaces:
        dirty = list(Participant.objects.filter(marketplace=marketplace, groups_dirty=True).select_related("worker"))
        if not dirty:
            continue
        client = client or ProlificClient()
        want = {
            p.pk: (p.worker.qualification == Worker.Qualification.QUALIFIED and not p.worker.is_blocked, p.worker.is_blocked)
            for p in dirty
        }
        changes = [
            (marketplace.allowed_group_id, [p for p in dirty if want[p.pk][0] and not p.in_allowed_group], "add"),
            (marketplace.allowed_group_id, [p for p in dirty if not want[p.pk][0] and p.in_allowed_group], "remove"),
            (marketplace.blocked_group_id, [p for p in dirty if want[p.pk][1] and not p.in_blocked_group], "add"),
            (marketplace.blocked_group_id, [p for p in dirty if not want[p.pk][1] and p.in_blocked_group], "remove"),
        ]
        try:
            for group_id, members, action in changes:
                if group_id and members:
                    ids = [p.external_id for p in members]
                    (client.add_to_group if action == "add" else client.remove_from_group)(group_id, ids)
        except MarketplaceError as error:
            logger.warning("participant groups of %s not updated (kept for the next poll): %s", marketplace, error.message)
            continue
        now = timezone.now()
        for participant in dirty:
            allowed, blocked = want[participant.pk]
            # Only if the worker is still as sent: a change meanwhile keeps the participant for the next poll.
            Participant.objects.filter(
                pk=participant.pk, worker__qualification=participant.worker.qualification,
                worker__is_blocked=participant.worker.is_blocked,
            ).update(
                groups_dirty=False, groups_synced_at=now,
                in_allowed_group=allowed if marketplace.allowed_group_id else participant.in_allowed_group,
                in_blocked_group=blocked if marketplace.blocked_group_id else participant.in_blocked_group,
            )
        done += len(dirty)
    return done
