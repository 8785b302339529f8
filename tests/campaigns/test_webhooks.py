"""Prolific's webhooks (signed, de-duplicated, ordered) and polling, and the work they release for other workers."""

from __future__ import annotations

import logging
import time

import pytest
from django.test import Client

from annotator.models import AnnotationStatus, EmotionAnnotation, TaskAssignment
from campaigns.models import Campaign, LedgerEntry, ParticipantSession, WebhookEvent
from campaigns.services import sync
from campaigns.services.studies import publish_study
from tests.campaigns.factories import CampaignFactory
from tests.campaigns.helpers import Browser, arrive
from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db
State = ParticipantSession.State


def post(delivery, client: Client | None = None):
    body, headers = delivery
    extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items() if k != "Content-Type"}
    return (client or Client()).post("/hooks/prolific/", body, content_type="application/json", **extra)


@pytest.fixture
def study(prolific):
    """An open campaign with a published Prolific study."""
    campaign = CampaignFactory(session_tasks=2)
    publish_study(campaign)
    return campaign


def test_an_event_delivered_twice_is_applied_once(prolific, study):
    _, submission = arrive(prolific, study)
    prolific.return_submission(submission)
    delivery = prolific.submission_event(submission)

    first, second = post(delivery), post(delivery)

    assert first.status_code == second.status_code == 200
    assert first.json()["duplicate"] is False and second.json()["duplicate"] is True
    assert WebhookEvent.objects.count() == 1
    session = ParticipantSession.objects.get()
    assert session.state == State.RELEASED and session.submission_status == "RETURNED"


@pytest.mark.parametrize("forgery", ["wrong-secret", "tampered-body", "no-signature", "garbled-timestamp"])
def test_a_forged_webhook_is_refused_with_403_changes_nothing_and_is_logged(prolific, study, caplog, forgery):
    _, submission = arrive(prolific, study)
    prolific.return_submission(submission)
    body, headers = prolific.submission_event(submission, secret="not-the-secret" if forgery == "wrong-secret" else None)
    if forgery == "tampered-body":
        body = body.replace(b"RETURNED", b"APPROVED")
    elif forgery == "no-signature":
        del headers["X-Prolific-Request-Signature"]
    elif forgery == "garbled-timestamp":
        headers["X-Prolific-Request-Timestamp"] = "yesterday"

    with caplog.at_level(logging.WARNING, logger="campaigns.views"):
        response = post((body, headers))

    assert response.status_code == 403 and response.json()["code"] == "forbidden"
    assert not WebhookEvent.objects.exists()
    session = ParticipantSession.objects.get()
    assert session.state == State.WORKING and session.submission_status == ""
    assert not LedgerEntry.objects.exists()
    assert any("webhook refused" in record.getMessage() for record in caplog.records)


def test_a_captured_webhook_replayed_later_is_refused(prolific, study):
    _, submission = arrive(prolific, study)
    prolific.return_submission(submission)
    old = prolific.submission_event(submission, signed_at=time.time() - 3600)  # genuinely signed, an hour ago
    response = post(old)
    assert response.status_code == 403 and "replayed" in response.json()["detail"]
    assert not WebhookEvent.objects.exists() and ParticipantSession.objects.get().state == State.WORKING


def test_without_a_secret_every_webhook_is_refused(prolific, study, settings):
    settings.PROLIFIC_WEBHOOK_SECRET = ""
    _, submission = arrive(prolific, study)
    assert post(prolific.submission_event(submission)).status_code == 403


def test_events_out_of_order_never_undo_a_newer_status(prolific, study):
    _, submission = arrive(prolific, study)
    now = time.time()
    newer = prolific.submission_event(submission, "RETURNED", sent_at=now)
    older = prolific.submission_event(submission, "ACTIVE", sent_at=now - 30)

    assert post(newer).json()["outcome"] == "applied"
    assert post(older).json()["outcome"] == "stale"

    session = ParticipantSession.objects.get()
    assert session.submission_status == "RETURNED" and session.state == State.RELEASED
    assert list(WebhookEvent.objects.order_by("id").values_list("status", "outcome")) == [
        ("RETURNED", "applied"), ("ACTIVE", "stale")]


def test_events_about_nothing_here_and_study_events(prolific, study):
    other = prolific.signed_event({"resource_id": "f" * 24, "event_type": "submission.status.change",
                                   "participant_id": "e" * 24, "status": "APPROVED"})
    assert post(other).json()["outcome"] == "unknown"
    prolific.studies[study.external_study_id]["status"] = "PAUSED"
    assert post(prolific.study_event(study.external_study_id)).json()["outcome"] == "applied"
    assert Campaign.objects.get().external_status == "PAUSED"
    body, headers = prolific.submission_event(arrive(prolific, study)[1])
    del headers["X-Event-ID"]
    assert post((body, headers)).status_code == 400


@pytest.mark.parametrize("status", ["RETURNED", "TIMED-OUT"])
def test_work_held_by_a_returned_submission_goes_at_once_to_a_worker_who_waits(prolific, study, pool, qualification, status):
    person, = pool(1)
    holder, submission = arrive(prolific, study)
    holder.work(2)  # the qualification test
    held = holder.next_task().json()
    waiting = Browser()
    waiting.client.force_login(WorkerFactory().user)
    wait = waiting.next_task()
    assert wait.status_code == 204 and wait["Work-Outlook"] == "later"  # held by the participant

    (prolific.return_submission if status == "RETURNED" else prolific.time_out)(submission)
    assert post(prolific.submission_event(submission)).json()["outcome"] == "applied"

    assert TaskAssignment.objects.get(pk=held["id"]).state == TaskAssignment.State.EXPIRED
    given = waiting.next_task()
    assert given.status_code == 200 and TaskAssignment.objects.get(pk=given.json()["id"]).person_id == person.pk
    session = ParticipantSession.objects.get()
    assert session.state == State.RELEASED and status in session.end_reason
    # The participant's page is told the session is over; its end page says so (no code).
    over = holder.next_task()
    assert over.status_code == 204 and over["Work-Finish-URL"] == f"/c/{study.slug}/done/"
    end = holder.finish(study.slug)
    assert end.status_code == 200 and b"This session has ended" in end.content


def test_a_rejected_submission_releases_its_work_and_its_answers_are_rejected(prolific, study, pool, qualification):
    pool(4)
    browser, submission = arrive(prolific, study)
    browser.work(2 + 2)
    browser.finish(study.slug)
    prolific.submit_code(submission, study.completion_code)
    answers = list(EmotionAnnotation.objects.filter(is_gold=False).values_list("pk", flat=True))
    assert len(answers) == 2 and LedgerEntry.objects.get().state == LedgerEntry.State.PLANNED

    prolific.submissions[submission]["status"] = "REJECTED"  # rejected in Prolific's own pages
    assert post(prolific.submission_event(submission)).json()["outcome"] == "applied"

    assert set(EmotionAnnotation.objects.filter(pk__in=answers).values_list("status", flat=True)) == {AnnotationStatus.REJECTED}
    assert sorted(LedgerEntry.objects.values_list("kind", "state")) == [("rejection", "paid"), ("reward", "cancelled")]


def test_polling_applies_what_the_webhooks_missed(prolific, study, pool, qualification):
    pool(3)
    browser, submission = arrive(prolific, study)
    browser.work(2)
    browser.next_task()
    prolific.return_submission(submission)  # no webhook arrives

    counts = sync.poll_all()

    assert counts["statuses"] == 1
    session = ParticipantSession.objects.get()
    assert session.state == State.RELEASED and session.submission_status == "RETURNED"
    assert not TaskAssignment.objects.filter(state="assigned").exists()
    assert Campaign.objects.get().last_synced_at is not None
    assert sync.poll_all()["statuses"] == 0  # nothing new
