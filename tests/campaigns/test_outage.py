"""Prolific down: the campaign pauses admissions with a clear page, participants at work go on, nothing is lost."""

from __future__ import annotations

import pytest
from django.test import Client

from campaigns.models import Campaign, LedgerEntry, Participant, ParticipantSession
from campaigns.services import payouts, sync
from campaigns.services.studies import publish_study
from tests.campaigns.factories import CampaignFactory
from tests.campaigns.helpers import arrive
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_an_outage_halts_admissions_keeps_everything_and_ends_by_itself(prolific, pool, qualification, settings):
    settings.CAMPAIGNS_HALT_AFTER_FAILURES = 3
    pool(10)
    campaign = CampaignFactory(session_tasks=2)
    publish_study(campaign)
    working, submission = arrive(prolific, campaign)
    working.work(2 + 1)

    prolific.down = True
    for _ in range(3):
        sync.poll_all()

    campaign.refresh_from_db()
    assert campaign.admissions_halted_at is not None and "cannot be reached" in campaign.admissions_halted_reason
    # Someone new is told, clearly, and nothing is made for them.
    refused = Client().get(f"/c/{campaign.slug}/?PROLIFIC_PID={'a' * 24}&STUDY_ID={campaign.external_study_id}")
    assert refused.status_code == 503 and b"paused for a moment" in refused.content
    assert Participant.objects.count() == 1
    # The participant at work finishes, is sent back with the completion code, and is owed the reward.
    working.work(1)
    assert working.finish(campaign.slug)["Location"].endswith("cc=C1OK2DONE")
    # An admin approving now is told; the reward stays owed, not lost and not half-sent.
    admin = Client()
    admin.force_login(UserFactory(username="lead", is_staff=True, is_superuser=True))
    page = admin.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert b"Admissions are paused" in page.content
    assert payouts.approve_completed(campaign) == {LedgerEntry.State.PLANNED: 1}
    assert LedgerEntry.objects.get().state == LedgerEntry.State.PLANNED

    # Prolific answers again: the next poll resumes admissions, and the owed reward goes through.
    prolific.down = False
    prolific.submit_code(submission, campaign.completion_code)
    sync.poll_all()
    campaign.refresh_from_db()
    assert campaign.admitting and campaign.marketplace_failures == 0
    assert ParticipantSession.objects.get().submission_status == "AWAITING REVIEW"
    participant_id, late = prolific.take_place(campaign.external_study_id)
    assert Client().get(f"/c/{campaign.slug}/?PROLIFIC_PID={participant_id}").status_code == 302
    assert payouts.approve_completed(campaign) == {LedgerEntry.State.PAID: 1}
    assert Campaign.objects.get().last_api_error == ""
