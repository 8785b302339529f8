"""Campaigns in the admin: rules refused on save with their figures, the live page, decisions, participant groups."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client

from annotator.services.scopes import work_scope
from campaigns.models import Campaign, LedgerEntry, Marketplace, Participant
from campaigns.rules import CampaignInvalid
from campaigns.services import sync
from campaigns.services.ledger import plan_reward
from campaigns.services.studies import publish_study, save_campaign
from quality.trust import block_worker, unblock_worker
from tests.campaigns.factories import CampaignFactory, MarketplaceFactory
from tests.campaigns.helpers import Browser, complete_session
from tests.campaigns.test_full_campaign import campaign_form
from tests.factories import UserFactory, WorkerFactory

pytestmark = pytest.mark.django_db
REASON = ("Every answer in this session was given in under a second, which is faster than the photos can load; the "
          "hidden control items were failed.")


@pytest.fixture
def lead() -> Client:
    client = Client()
    client.force_login(UserFactory(username="lead", is_staff=True, is_superuser=True))
    return client


@pytest.mark.parametrize(("currency", "reward", "minutes", "figures"), [
    ("GBP", "100", "15", "£1.00 for an expected 15 minutes is £4.00 an hour, under Prolific's minimum of £6.00 an hour: "
                          "pay at least £1.50 per session"),
    ("USD", "150", "12", "$1.50 for an expected 12 minutes is $7.50 an hour, under Prolific's minimum of $8.00 an hour: "
                          "pay at least $1.60 per session"),
])
def test_a_reward_under_the_marketplaces_hourly_minimum_is_refused_on_save_with_the_figures(lead, currency, reward, minutes, figures):
    marketplace = MarketplaceFactory(name="Prolific", currency=currency)
    response = lead.post("/admin/campaigns/campaign/add/",
                         campaign_form(marketplace, reward_cents=reward, expected_minutes=minutes))
    assert response.status_code == 200
    assert figures in response.content.decode().replace("&#x27;", "'")
    assert not Campaign.objects.exists()
    with pytest.raises(CampaignInvalid, match="under Prolific's minimum"):
        save_campaign(CampaignFactory.build(marketplace=marketplace, reward_cents=int(reward), expected_minutes=int(minutes)))
    # At the minimum exactly, it is accepted.
    least = figures.rsplit("pay at least ", 1)[1].split(" ")[0][1:]
    ok = lead.post("/admin/campaigns/campaign/add/", campaign_form(marketplace, reward_cents=str(round(float(least) * 100)),
                                                                   expected_minutes=minutes))
    assert ok.status_code == 302 and Campaign.objects.count() == 1


@pytest.mark.parametrize(("changes", "field"), [
    ({"task_kinds": ["faces"]}, "task_kinds"), ({"task_kinds": "emotions"}, "task_kinds"),
    ({"splits": ["holdout"]}, "splits"), ({"splits": ["val", "val"]}, "splits"),
])
def test_the_services_check_kinds_and_splits_too(changes, field):
    with pytest.raises(CampaignInvalid) as refused:
        save_campaign(CampaignFactory.build(marketplace=MarketplaceFactory(), **changes))
    assert refused.value.field == field


def test_a_marketplace_without_a_minimum_takes_any_reward(lead):
    sona = MarketplaceFactory(name="SONA", kind=Marketplace.Kind.SONA, currency="USD",
                              completion_url="https://u.sona-systems.com/webstudy_credit.aspx?survey_code={participant_id}")
    assert lead.post("/admin/campaigns/campaign/add/", campaign_form(sona, reward_cents="1", expected_minutes="60")).status_code == 302


@pytest.mark.parametrize(("changes", "error"), [
    ({"screen_out_code": "WAVE1DONE"}, "must all differ"),
    ({"task_kinds": ["faces"]}, "Select a valid choice. faces is not one of the available choices."),
    ({"splits": ["holdout"]}, "Select a valid choice. holdout is not one of the available choices."),
    ({"session_tasks": "", "session_minutes": ""}, "set the session quota"),
    ({"frame_ancestors": "http://panel.example.org"}, "is not an origin like https://panel.example.org"),
    ({"completion_code": "a b"}, "must be 3 to 40 letters"),
    ({"screen_out_reward_cents": "150"}, "must be less than the session&#x27;s reward"),
])
def test_other_rules_are_refused_on_save(lead, changes, error):
    response = lead.post("/admin/campaigns/campaign/add/", campaign_form(MarketplaceFactory(), **changes))
    assert response.status_code == 200 and error in response.content.decode()
    assert not Campaign.objects.exists()


@pytest.mark.parametrize(("fields", "error"), [
    ({"kind": "connect", "completion_url": ""}, "needs the URL participants go back to"),
    ({"kind": "generic", "completion_url": "https://p.example.org/?c={code}", "id_parameter": ""}, "name the query parameter"),
    ({"completion_url": "https://p.example.org/?c={token}"}, "unknown placeholder {token}"),
    ({"completion_url": "ftp://p.example.org/"}, "must be an https:// URL"),
])
def test_a_marketplaces_urls_and_parameter_are_checked(lead, fields, error):
    form = {"name": "Panel", "kind": "prolific", "currency": "GBP", "min_hourly_cents": "", "id_parameter": "",
            "completion_url": "", "screen_out_url": "", "no_consent_url": "", "allowed_group_id": "", "blocked_group_id": ""}
    response = lead.post("/admin/campaigns/marketplace/add/", {**form, **fields})
    assert response.status_code == 200 and error in response.content.decode()


def test_the_campaign_page_shows_live_figures_plots_and_a_warning_when_sessions_pay_under_the_minimum(prolific, pool, qualification, lead):
    pool(4)
    campaign = CampaignFactory(session_tasks=2, reward_cents=150, expected_minutes=10)
    publish_study(campaign)
    session, _ = complete_session(prolific, campaign)
    # The session took an hour: £1.50 an hour, under Prolific's £6.00.
    type(session).objects.filter(pk=session.pk).update(started_at=session.ended_at - timedelta(hours=1))

    page = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/change/")

    text = page.content.decode()
    assert "Live progress (open; at Prolific" in text
    for figure in ("Sessions completed</th><td class=\"figure\">1 of 10", "Answers stored</th><td class=\"figure\">2",
                   "Money committed</th><td class=\"figure\">£1.50", "Money paid</th><td class=\"figure\">£0.00",
                   "Effective hourly pay (median of completed sessions)</th><td class=\"figure\">£1.50 an hour",
                   "minimum</th><td class=\"figure\">£6.00 an hour"):
        assert figure in text, figure
    assert "Sessions take longer than expected" in text
    for name in ("progress", "sessions", "seconds-per-task", "hourly-pay"):
        assert f"/plot/{name}.png" in text
    assert lead.get(f"/admin/campaigns/campaign/{campaign.pk}/plot/nothing.png").status_code == 404
    live = lead.get(f"/admin/campaigns/campaign/{campaign.pk}/progress.json").json()
    assert live["completed"] == 1 and live["effective_hourly_cents"] == pytest.approx(150)


def test_rejecting_from_the_admin(prolific, pool, qualification, lead):
    pool(4)
    campaign = CampaignFactory(session_tasks=2)
    publish_study(campaign)
    session, submission = complete_session(prolific, campaign)
    url = f"/admin/campaigns/campaign/{campaign.pk}/reject/"
    assert lead.get(url).status_code == 200

    short = lead.post(url, {"session": session.pk, "rejection_category": "LOW_EFFORT", "message": "Too fast."})
    assert short.status_code == 200 and b"at least 100 characters" in short.content
    assert not LedgerEntry.objects.filter(kind="rejection").exists()

    done = lead.post(url, {"session": session.pk, "rejection_category": "FAILED_CHECK", "message": REASON}, follow=True)
    assert b"Rejection of" in done.content and prolific.submissions[submission]["status"] == "REJECTED"


def test_participant_groups_follow_qualification_and_blocks(prolific, pool, qualification, lead):
    pool(6)
    marketplace = MarketplaceFactory(name="Prolific")
    made = lead.post("/admin/campaigns/marketplace/", {"action": "make_participant_groups", "_selected_action": [marketplace.pk]},
                     follow=True)
    assert b"Participant groups made: passed qualification, blocked" in made.content
    marketplace.refresh_from_db()
    allowed, blocked = marketplace.allowed_group_id, marketplace.blocked_group_id
    campaign = CampaignFactory(marketplace=marketplace, session_tasks=2)
    publish_study(campaign)
    complete_session(prolific, campaign)
    participant = Participant.objects.get()
    members = lambda group: set(prolific.groups[group]["members"])  # noqa: E731

    assert participant.groups_dirty
    sync.poll_all()
    assert members(allowed) == {participant.external_id} and members(blocked) == set()

    block_worker(participant.worker, reason="failed too many control items")
    sync.poll_all()
    assert members(allowed) == set() and members(blocked) == {participant.external_id}

    unblock_worker(participant.worker)
    sync.poll_all()
    assert members(allowed) == {participant.external_id} and members(blocked) == set()
    participant.refresh_from_db()
    assert not participant.groups_dirty and participant.in_allowed_group and not participant.in_blocked_group


def test_a_participants_page_shows_their_time_and_money(prolific, pool, qualification, lead):
    pool(4)
    campaign = CampaignFactory(session_tasks=2)
    publish_study(campaign)
    complete_session(prolific, campaign)
    lead.post(f"/admin/campaigns/campaign/{campaign.pk}/act/", {"action": "approve"})
    participant = Participant.objects.get()
    page = lead.get(f"/admin/campaigns/participant/{participant.pk}/change/")
    assert "1 session(s), 1 completed; 2 task(s); paid £1.50 (of which bonuses £0.00)" in page.content.decode()


def test_ledger_rows_are_sent_or_exported_from_their_list(prolific, pool, qualification, lead):
    pool(4)
    campaign = CampaignFactory(session_tasks=2)
    publish_study(campaign)
    session, _ = complete_session(prolific, campaign)
    entry = plan_reward(session)
    sent = lead.post("/admin/campaigns/ledgerentry/", {"action": "send_selected", "_selected_action": [entry.pk]}, follow=True)
    assert b"Ledger rows: 1 done" in sent.content
    exported = lead.post("/admin/campaigns/ledgerentry/", {"action": "export_csv", "_selected_action": [entry.pk]})
    assert exported["Content-Type"].startswith("text/csv") and f"reward:session:{session.pk}".encode() in exported.content


def test_a_browser_of_no_participant_has_no_scope(pool):
    """The annotator's scope provider leaves ordinary workers alone."""
    assert work_scope(WorkerFactory()) is None
    assert Browser().client.get("/c/nowhere/").status_code == 404


def test_pausing_and_resuming_move_the_study_with_the_campaign_even_when_prolific_cannot_be_told(prolific, lead):
    campaign = CampaignFactory(state=Campaign.State.DRAFT)
    url = f"/admin/campaigns/campaign/{campaign.pk}/act/"
    lead.post(url, {"action": "open"})
    campaign.refresh_from_db()
    study = prolific.studies[campaign.external_study_id]

    paused = lead.post(url, {"action": "pause"}, follow=True)
    assert b"is paused: no one new is admitted" in paused.content
    assert study["status"] == "PAUSED" and Campaign.objects.get().state == Campaign.State.PAUSED
    assert Browser().open_study(campaign.slug, PROLIFIC_PID="a" * 24).status_code == 503

    lead.post(url, {"action": "open"})
    assert study["status"] == "ACTIVE" and Campaign.objects.get().state == Campaign.State.OPEN

    prolific.down = True
    warned = lead.post(url, {"action": "pause"}, follow=True)
    assert Campaign.objects.get().state == Campaign.State.PAUSED  # paused here at once
    assert b"could not be told" in warned.content and study["status"] == "ACTIVE"
    prolific.down = False
    lead.post(url, {"action": "close"})
    assert Campaign.objects.get().state == Campaign.State.CLOSED and study["status"] == "AWAITING REVIEW"
