"""A whole campaign, from its creation in the admin to paid, reconciled crowd work, against Prolific on loopback."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from annotator.models import Worker
from campaigns.models import Campaign, LedgerEntry, ParticipantSession, WebhookEvent
from tests.campaigns.factories import CONSENT, MarketplaceFactory
from tests.campaigns.helpers import Browser
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
State = ParticipantSession.State


def admin_client() -> Client:
    client = Client()
    client.force_login(UserFactory(username="research-lead", is_staff=True, is_superuser=True))
    return client


def campaign_form(marketplace, **changes) -> dict:
    form = {
        "name": "Emotions in context, wave 1", "slug": "wave-1", "marketplace": marketplace.pk,
        "task_kinds": ["emotions"], "splits": ["train"], "target_participants": "2", "target_answers": "",
        "session_tasks": "2", "session_minutes": "", "expected_minutes": "10", "max_extra_tasks": "1",
        "reward_cents": "150", "screen_out_reward_cents": "0", "bonus_per_control_cents": "0",
        "bonus_per_extra_task_cents": "20", "consent_text": CONSENT, "completion_code": "WAVE1DONE",
        "screen_out_code": "WAVE1OUT", "no_consent_code": "WAVE1NOC", "frame_ancestors": "",
        "external_study_id": "", "external_project_id": "",
    }
    return {**form, **changes}


def deliver(client: Client, delivery) -> dict:
    body, headers = delivery
    response = client.post("/hooks/prolific/", body, content_type="application/json",
                           **{f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"})
    assert response.status_code == 200, response.content
    return response.json()


def test_a_campaign_from_creation_to_paid_reconciliation(prolific, pool, qualification, tmp_path):
    pool(10)
    marketplace = MarketplaceFactory(name="Prolific")
    lead = admin_client()

    # Created and opened by an admin: the study is made and published on Prolific.
    assert lead.post("/admin/campaigns/campaign/add/", campaign_form(marketplace)).status_code == 302
    campaign = Campaign.objects.get(slug="wave-1")
    assert campaign.state == Campaign.State.DRAFT
    opened = lead.post(f"/admin/campaigns/campaign/{campaign.pk}/act/", {"action": "open"}, follow=True)
    assert b"is open: participants are admitted" in opened.content
    campaign.refresh_from_db()
    study = prolific.studies[campaign.external_study_id]
    assert campaign.state == Campaign.State.OPEN and study["status"] == "ACTIVE" == campaign.external_status
    assert (study["reward"], study["estimated_completion_time"], study["total_available_places"]) == (150, 10, 2)
    assert study["external_study_url"] == ("https://emotic.test/c/wave-1/?PROLIFIC_PID={{%PROLIFIC_PID%}}"
                                           "&STUDY_ID={{%STUDY_ID%}}&SESSION_ID={{%SESSION_ID%}}")
    assert {c["code"]: c["code_type"] for c in study["completion_codes"]} == {
        "WAVE1DONE": "COMPLETED", "WAVE1OUT": "OTHER", "WAVE1NOC": "NO_CONSENT"}

    # Two participants take the study; the first also does the one extra task offered.
    submissions = []
    for extra in (True, False):
        participant_id, submission_id = prolific.take_place(campaign.external_study_id)
        browser = Browser()
        response = browser.open_url(prolific.study_url_for(campaign.external_study_id, participant_id, submission_id))
        assert response["Location"] == "/c/wave-1/consent/"
        browser.consent("wave-1")
        browser.work(2 + 2)  # the qualification test, then the quota
        if extra:
            assert browser.finish("wave-1").status_code == 200  # the offer
            browser.client.post("/c/wave-1/done/", {"choice": "more"})
            browser.work(1)
        else:
            browser.client.post("/c/wave-1/done/", {"choice": "finish"})
        back = browser.finish("wave-1")
        assert back["Location"] == "https://app.prolific.com/submissions/complete?cc=WAVE1DONE"
        assert prolific.submit_code(submission_id, "WAVE1DONE") == "AWAITING REVIEW"
        assert deliver(Client(), prolific.submission_event(submission_id))["outcome"] == "applied"
        submissions.append(submission_id)

    sessions = list(ParticipantSession.objects.order_by("id"))
    assert [s.state for s in sessions] == [State.COMPLETED, State.COMPLETED]
    assert [s.submission_status for s in sessions] == ["AWAITING REVIEW"] * 2
    assert [s.tasks_done for s in sessions] == [3, 2]
    assert Worker.objects.filter(participant__isnull=False, qualification="qualified").count() == 2

    # Rewards approved from the campaign's page.
    page = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")
    assert b"Approve completed sessions (2 owed)" in page.content
    approved = lead.post(f"/admin/campaigns/campaign/{campaign.pk}/act/", {"action": "approve"}, follow=True)
    assert b"Rewards of completed sessions: 2 done" in approved.content
    assert [prolific.submissions[s]["status"] for s in submissions] == ["APPROVED", "APPROVED"]

    # Bonuses by the rule: previewed with their total, then paid.
    preview = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/bonuses/")
    assert "To pay now: <strong>£0.20</strong>".encode() in preview.content
    paid = lead.post(f"/admin/campaigns/campaign/{campaign.pk}/bonuses/", {"total": "20"}, follow=True)
    assert b"Bonuses: 1 done" in paid.content
    assert prolific.submissions[submissions[0]]["bonus_payments"] == [20]
    # Paying the rule again pays no one twice.
    again = lead.post(f"/admin/campaigns/campaign/{campaign.pk}/bonuses/", {"total": "0"}, follow=True)
    assert b"Bonuses: nothing to send" in again.content
    assert prolific.count("POST", r"/api/v1/bulk-bonus-payments/.*/pay/") == 1

    # Prolific's webhooks of those approvals come in: known already, nothing changes.
    for submission_id in submissions:
        deliver(Client(), prolific.submission_event(submission_id))
    rows = list(LedgerEntry.objects.order_by("id").values_list("kind", "amount_cents", "state"))
    assert rows == [("reward", 150, "paid"), ("reward", 150, "paid"), ("bonus", 20, "paid")]
    assert WebhookEvent.objects.count() == 4

    # Reconciled: the ledger and Prolific agree; the ledger exports as CSV; the page shows the money.
    report = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/reconciliation/")
    assert b"no difference" in report.content
    exported = list(csv.DictReader(io.StringIO(lead.get(f"/admin/campaigns/campaign/{campaign.pk}/ledger.csv").content.decode())))
    assert [(r["kind"], r["amount"], r["state"], r["submission"]) for r in exported] == [
        ("reward", "1.50", "paid", submissions[0]), ("reward", "1.50", "paid", submissions[1]),
        ("bonus", "0.20", "paid", submissions[0])]
    progress = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/progress.json").json()
    assert (progress["completed"], progress["answers"], progress["paid_cents"], progress["committed_cents"]) == (2, 5, 320, 320)
    for name in ("progress", "sessions", "seconds-per-task", "hourly-pay"):
        plot = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/plot/{name}.png")
        assert plot.status_code == 200 and plot.content.startswith(b"\x89PNG")
    facts = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/release.json").json()
    assert (facts["platform"], facts["participants"], facts["answers"], facts["paid_total"]) == ("Prolific", 2, 5, 3.2)
    assert facts["annotators_per_item_mean"] == 1.0
    # ... and a snapshot of that work says so in its manifest: which crowd, which platform, what it was paid.
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from catalog.models import Image
    from emotic.formats.manifest import read_manifest
    from emotic_export.services import ExportOptions, export_to_directory
    from tests.factories import jpeg_bytes

    for image in Image.objects.all():  # the pool's images, given files to copy
        default_storage.save(image.storage_key, ContentFile(jpeg_bytes(image.width, image.height, image.pk)))
    snapshot = export_to_directory(tmp_path / "release", ExportOptions(formats=("jsonl",)))
    assert read_manifest(snapshot)["collection"]["campaigns"] == [facts]

    # The study closes with the campaign.
    lead.post(f"/admin/campaigns/campaign/{campaign.pk}/act/", {"action": "close"})
    assert prolific.studies[campaign.external_study_id]["status"] == "AWAITING REVIEW"
    assert Campaign.objects.get().state == Campaign.State.CLOSED
