"""Arriving from a marketplace: each one's study-URL parameters, bad links, consent, returning participants, framing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from annotator.models import TaskAssignment, Worker
from campaigns.models import Campaign, LedgerEntry, Marketplace, Participant, ParticipantSession
from tests.campaigns.factories import CampaignFactory, MarketplaceFactory, SessionFactory, object_id
from tests.campaigns.helpers import Browser, prolific_params
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db
State = ParticipantSession.State


def test_a_prolific_participant_is_admitted_without_a_password_and_bound_to_this_browser(pool):
    campaign = CampaignFactory()
    pid, study, submission = object_id(), object_id(), object_id()
    browser = Browser()

    response = browser.open_study(campaign.slug, **prolific_params(pid, study, submission))

    assert response.status_code == 302 and response["Location"] == f"/c/{campaign.slug}/consent/"
    participant = Participant.objects.get()
    assert (participant.marketplace, participant.external_id) == (campaign.marketplace, pid)
    assert not participant.worker.user.has_usable_password()
    session = ParticipantSession.objects.get()
    assert (session.state, session.external_session_id, session.external_study_id) == (State.CONSENT, submission, study)
    assert browser.me()["username"] == participant.worker.user.username
    page = browser.client.get(f"/c/{campaign.slug}/consent/")
    assert page.status_code == 200
    assert b"3 tasks" in page.content and b"about 10 minutes" in page.content and "£1.50".encode() in page.content
    # Another browser, without the study link, has no session of this study.
    assert Browser().client.get(f"/c/{campaign.slug}/consent/").status_code == 403


def test_connect_parameters_participant_assignment_and_project():
    connect = MarketplaceFactory(name="Connect", kind=Marketplace.Kind.CONNECT, currency="USD",
                                 completion_url="https://connect.cloudresearch.com/participant/project/P1/complete")
    campaign = CampaignFactory(marketplace=connect, external_project_id="P1")
    browser = Browser()

    response = browser.open_study(campaign.slug, participantId="CR-12ab_9", assignmentId="A77", projectId="P1")

    assert response.status_code == 302
    session = ParticipantSession.objects.get()
    assert (session.participant.external_id, session.external_session_id, session.external_study_id) == ("CR-12ab_9", "A77", "P1")
    # Another project's link is refused, and makes no one.
    refused = Browser().open_study(campaign.slug, participantId="someone", projectId="P2")
    assert refused.status_code == 400 and b"projectId" in refused.content
    assert Participant.objects.count() == 1


def test_sona_survey_code_and_a_generic_panels_parameter():
    sona = MarketplaceFactory(name="SONA", kind=Marketplace.Kind.SONA, currency="USD",
                              completion_url="https://uni.sona-systems.com/webstudy_credit.aspx?experiment_id=12&credit_token=ab&survey_code={participant_id}")
    panel = MarketplaceFactory(name="Panel", kind=Marketplace.Kind.GENERIC, id_parameter="worker",
                               completion_url="https://panel.example.org/done?code={code}")
    on_sona, on_panel = CampaignFactory(marketplace=sona), CampaignFactory(marketplace=panel)

    assert Browser().open_study(on_sona.slug, id="48213").status_code == 302
    assert Browser().open_study(on_panel.slug, worker="w-77.x").status_code == 302
    assert set(Participant.objects.values_list("external_id", flat=True)) == {"48213", "w-77.x"}
    for bad in ("0123", "12345678", "12a"):  # SONA's codes: 2 to 7 digits, no leading zero
        assert Browser().open_study(on_sona.slug, id=bad).status_code == 400
    assert Browser().open_study(on_panel.slug, PROLIFIC_PID=object_id()).status_code == 400  # not this panel's parameter
    assert Participant.objects.count() == 2


@pytest.mark.parametrize("params", [
    {},
    {"PROLIFIC_PID": ""},
    {"PROLIFIC_PID": "not-an-id"},
    {"PROLIFIC_PID": "a" * 25},
    {"PROLIFIC_PID": "<script>alert(1)</script>"},
    {"PROLIFIC_PID": "b" * 24, "SESSION_ID": "nope"},
    {"STUDY_ID": "c" * 24, "SESSION_ID": "d" * 24},
], ids=["nothing", "empty", "malformed", "too-long", "markup", "bad-session", "no-participant"])
def test_a_study_link_without_a_valid_participant_id_shows_a_clear_page_and_creates_no_account(params):
    campaign = CampaignFactory()
    users = get_user_model().objects.count()

    response = Browser().open_study(campaign.slug, **params)

    assert response.status_code == 400
    assert b"This study link is incomplete" in response.content
    assert b"<script>alert" not in response.content
    assert get_user_model().objects.count() == users
    assert not Participant.objects.exists() and not ParticipantSession.objects.exists() and not Worker.objects.exists()


def test_the_same_id_twice_in_the_link_is_refused():
    campaign = CampaignFactory()
    response = Browser().client.get(f"/c/{campaign.slug}/?PROLIFIC_PID={'a' * 24}&PROLIFIC_PID={'b' * 24}")
    assert response.status_code == 400 and not Participant.objects.exists()


def test_declining_consent_ends_with_the_no_consent_code(pool):
    pool(2)
    campaign = CampaignFactory()
    browser = Browser()
    browser.open_study(campaign.slug, **prolific_params(object_id(), object_id(), object_id()))

    response = browser.consent(campaign.slug, agree=False)
    assert response["Location"] == f"/c/{campaign.slug}/done/"
    back = browser.finish(campaign.slug)

    assert back.status_code == 302
    assert back["Location"] == "https://app.prolific.com/submissions/complete?cc=C3NOCONSENT"
    session = ParticipantSession.objects.get()
    assert session.state == State.NO_CONSENT and session.ended_at is not None
    assert not LedgerEntry.objects.exists()
    # No work for someone who declined: the API says there is none, and where to go.
    nothing = browser.next_task()
    assert nothing.status_code == 204 and nothing["Work-Finish-URL"] == f"/c/{campaign.slug}/done/"
    assert not TaskAssignment.objects.exists()


def test_a_returning_participant_continues_where_they_were_and_another_id_is_another_worker(pool, qualification):
    pool(5)
    campaign = CampaignFactory(session_tasks=3)
    pid, study, submission = object_id(), object_id(), object_id()
    first = Browser()
    first.open_study(campaign.slug, **prolific_params(pid, study, submission))
    first.consent(campaign.slug)
    first.work(2 + 1)  # the qualification test (2 items), then one task
    worker = Participant.objects.get(external_id=pid).worker
    assert worker.qualification == Worker.Qualification.QUALIFIED

    # The same link in a new browser (the next day, another device): the same account and session, no second test.
    again = Browser()
    response = again.open_study(campaign.slug, **prolific_params(pid, study, submission))
    assert response["Location"] == "/work/annotate/"
    assert again.me()["username"] == worker.user.username
    assert again.me()["session"]["tasks_left"] == 2
    task = again.next_task().json()
    assert task["qualification"] is False
    assert ParticipantSession.objects.count() == 1 and Participant.objects.count() == 1
    assert TaskAssignment.objects.filter(worker=worker, is_qualification=True).count() == 2

    # A different id is a different worker, who starts with the qualification test.
    other = Browser()
    other.open_study(campaign.slug, **prolific_params(object_id(), study, object_id()))
    other.consent(campaign.slug)
    assert other.next_task().json()["qualification"] is True
    assert Participant.objects.count() == 2 and len({p.worker_id for p in Participant.objects.all()}) == 2


def test_the_same_id_on_two_marketplaces_is_two_workers():
    same = "e" * 24
    one, two = CampaignFactory(), CampaignFactory()
    assert one.marketplace != two.marketplace
    Browser().open_study(one.slug, PROLIFIC_PID=same)
    Browser().open_study(two.slug, PROLIFIC_PID=same)
    participants = Participant.objects.filter(external_id=same)
    assert participants.count() == 2 and participants[0].worker_id != participants[1].worker_id


def test_a_completed_participant_may_take_another_session_only_if_the_campaign_allows_it(pool, qualification):
    pool(8)
    campaign = CampaignFactory(session_tasks=1, allow_returning=False)
    pid, study = object_id(), object_id()
    browser = Browser()
    browser.open_study(campaign.slug, **prolific_params(pid, study, object_id()))
    browser.consent(campaign.slug)
    browser.work(3)
    assert browser.finish(campaign.slug)["Location"].endswith("cc=C1OK2DONE")

    refused = Browser().open_study(campaign.slug, **prolific_params(pid, study, object_id()))
    assert refused.status_code == 403 and b"already taken part" in refused.content

    Campaign.objects.filter(pk=campaign.pk).update(allow_returning=True)
    back = Browser()
    assert back.open_study(campaign.slug, **prolific_params(pid, study, object_id()))["Location"].endswith("/consent/")
    back.consent(campaign.slug)
    assert back.next_task().json()["qualification"] is False  # passed once, for good
    assert ParticipantSession.objects.filter(participant__external_id=pid).count() == 2


@pytest.mark.parametrize(("state", "halted", "status", "text"), [
    (Campaign.State.DRAFT, False, 404, b"not started"),
    (Campaign.State.PAUSED, False, 503, b"paused for now"),
    (Campaign.State.CLOSED, False, 410, b"has ended"),
    (Campaign.State.OPEN, True, 503, b"cannot reach the marketplace"),
])
def test_a_campaign_that_does_not_admit_says_why_and_makes_no_account(state, halted, status, text):
    campaign = CampaignFactory(state=state)
    if halted:
        Campaign.objects.filter(pk=campaign.pk).update(admissions_halted_at=timezone.now(), admissions_halted_reason="down")
    response = Browser().open_study(campaign.slug, PROLIFIC_PID=object_id())
    assert response.status_code == status and text in response.content
    assert not Participant.objects.exists()


def test_a_full_campaign_admits_no_one_new(pool):
    campaign = CampaignFactory(target_participants=1)
    SessionFactory(campaign=campaign, state=State.COMPLETED, ended_at=timezone.now() + timedelta(seconds=1))
    response = Browser().open_study(campaign.slug, PROLIFIC_PID=object_id())
    assert response.status_code == 410 and b"all the participants it needs" in response.content


def test_framing_is_denied_except_for_the_origins_a_campaign_names(pool):
    strict = CampaignFactory()
    framed = CampaignFactory(frame_ancestors="https://panel.example.org https://app.prolific.com")
    allowed = "frame-ancestors https://panel.example.org https://app.prolific.com"
    refused = Browser().open_study(strict.slug)
    assert refused["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in refused["Content-Security-Policy"]

    browser = Browser()
    entry = browser.open_study(framed.slug, PROLIFIC_PID=object_id())
    policy = entry["Content-Security-Policy"]
    assert "X-Frame-Options" not in entry and policy.endswith(allowed) and "frame-ancestors 'none'" not in policy
    assert "script-src 'self'" in policy and policy.count("frame-ancestors") == 1  # the site's policy, framing changed only
    consent = browser.client.get(f"/c/{framed.slug}/consent/")
    assert "X-Frame-Options" not in consent and consent["Content-Security-Policy"].endswith(allowed)
    browser.consent(framed.slug)
    page = browser.client.get("/work/annotate/")
    assert page.status_code == 200 and "X-Frame-Options" not in page
    assert page["Content-Security-Policy"].endswith(allowed) and "script-src 'self'" in page["Content-Security-Policy"]
    # A worker of no framed campaign keeps DENY on the same page.
    plain = Browser()
    plain.client.force_login(WorkerFactory().user)
    strict_page = plain.client.get("/work/annotate/")
    assert strict_page["X-Frame-Options"] == "DENY" and "frame-ancestors 'none'" in strict_page["Content-Security-Policy"]


def test_an_account_named_like_a_participant_is_never_theirs():
    campaign = CampaignFactory()
    pid = object_id()
    squatter = WorkerFactory(user__username=f"prolific.{campaign.marketplace.pk}.{pid}")
    browser = Browser()
    browser.open_study(campaign.slug, PROLIFIC_PID=pid)
    participant = Participant.objects.get()
    assert participant.worker != squatter and participant.worker.user.username.startswith(f"prolific.{campaign.marketplace.pk}.{pid}.")
    assert browser.me()["username"] == participant.worker.user.username
    squatter.user.refresh_from_db()
    assert squatter.user.has_usable_password()
