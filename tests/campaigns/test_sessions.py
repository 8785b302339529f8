"""A session's way: qualification failed (screen-out code) or passed, tasks until the quota, the completion redirect."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotator.models import TaskAssignment, Worker
from campaigns.models import Campaign, LedgerEntry, ParticipantSession
from tests.campaigns.factories import CampaignFactory, object_id
from tests.campaigns.helpers import WRONG, Browser, prolific_params
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db
State = ParticipantSession.State
COMPLETE = "https://app.prolific.com/submissions/complete?cc=C1OK2DONE"
SCREEN_OUT = "https://app.prolific.com/submissions/complete?cc=C2SCREEN"


def start(campaign: Campaign) -> Browser:
    browser = Browser()
    browser.open_study(campaign.slug, **prolific_params(object_id(), object_id(), object_id()))
    assert browser.consent(campaign.slug)["Location"] == "/work/annotate/"
    return browser


@pytest.mark.parametrize("paid", [False, True], ids=["unpaid", "paid-screen-out"])
def test_a_failed_qualification_ends_with_the_screen_out_code_never_the_completion_code(pool, qualification, paid):
    pool(4)
    campaign = CampaignFactory(screen_out_reward_cents=40 if paid else 0)
    browser = start(campaign)
    assert browser.next_task().json()["qualification"] is True

    browser.work(2, WRONG)

    worker = Worker.objects.get(participant__isnull=False)
    assert worker.qualification == Worker.Qualification.FAILED
    refused = browser.next_task()
    assert refused.status_code == 403  # the page then goes to its finish URL:
    page = browser.client.get("/work/annotate/")
    assert page["Location"] == f"/c/{campaign.slug}/done/"
    for _ in range(2):  # and again: the outcome does not change
        back = browser.finish(campaign.slug)
        assert back["Location"] == SCREEN_OUT
    session = ParticipantSession.objects.get()
    assert session.state == State.SCREENED_OUT and "qualification" in session.end_reason
    rows = list(LedgerEntry.objects.values_list("kind", "amount_cents", "state"))
    assert rows == ([("screen_out", 40, "planned")] if paid else [])


def test_passing_then_working_to_the_quota_ends_with_the_completion_redirect(pool, qualification):
    pool(6)
    campaign = CampaignFactory(session_tasks=3, expected_minutes=10)
    browser = start(campaign)
    page = browser.client.get("/work/annotate/")
    assert b"the qualification test first, then 3 tasks (about 10 minutes in all)" in page.content
    assert b'data-finish-url="/c/' in page.content

    browser.work(2)  # the test
    assert browser.me()["session"] == {
        "label": "This session: 3 of 3 tasks left · about 10 min to go.", "tasks_left": 3, "minutes_left": None,
        "finished": False, "finish_url": f"/c/{campaign.slug}/done/",
    }
    # Before the quota the finish page sends the participant back to work.
    assert browser.finish(campaign.slug)["Location"] == "/work/annotate/"
    browser.work(3)
    assert browser.me()["session"]["tasks_left"] == 0

    none_left = browser.next_task()
    assert none_left.status_code == 204
    assert none_left["Work-Outlook"] == "done" and none_left["Work-Finish-URL"] == f"/c/{campaign.slug}/done/"
    back = browser.finish(campaign.slug)

    assert back.status_code == 302 and back["Location"] == COMPLETE
    session = ParticipantSession.objects.get()
    assert session.state == State.COMPLETED and session.tasks_done == 3
    assert session.seconds_on_tasks == pytest.approx(5 * 9.5)  # the test's items are time worked too
    assert list(LedgerEntry.objects.values_list("kind", "amount_cents", "state", "idempotency_key")) == [
        ("reward", 150, "planned", f"reward:session:{session.pk}")]
    # Three people were annotated, and nothing else is held.
    assert TaskAssignment.objects.filter(state="submitted", is_qualification=False).count() == 3
    assert not TaskAssignment.objects.filter(state="assigned").exists()


def test_a_time_quota_counts_minutes_since_consent(pool, qualification):
    pool(6)
    campaign = CampaignFactory(session_tasks=None, session_minutes=5)
    browser = start(campaign)
    browser.work(3)
    assert browser.me()["session"]["minutes_left"] == pytest.approx(5, abs=0.2)
    ParticipantSession.objects.update(consented_at=timezone.now() - timedelta(minutes=6),
                                      started_at=timezone.now() - timedelta(minutes=7))

    none_left = browser.next_task()

    assert none_left.status_code == 204 and none_left["Work-Finish-URL"]
    assert browser.finish(campaign.slug)["Location"] == COMPLETE
    assert ParticipantSession.objects.get().tasks_done == 1


def test_tasks_beyond_the_quota_are_offered_and_chosen(pool, qualification):
    pool(8)
    campaign = CampaignFactory(session_tasks=2, max_extra_tasks=2, bonus_per_extra_task_cents=20)
    browser = start(campaign)
    browser.work(2 + 2)
    assert browser.next_task().status_code == 204

    offer = browser.finish(campaign.slug)
    assert offer.status_code == 200 and "each paid a bonus of £0.20".encode() in offer.content
    assert browser.client.post(f"/c/{campaign.slug}/done/", {"choice": "more"})["Location"] == "/work/annotate/"
    assert browser.me()["session"]["tasks_left"] == 2
    browser.work(2)
    assert browser.next_task().status_code == 204
    assert browser.finish(campaign.slug)["Location"] == COMPLETE
    assert ParticipantSession.objects.get().tasks_done == 4


def test_declining_the_extra_tasks_completes_at_once(pool, qualification):
    pool(6)
    campaign = CampaignFactory(session_tasks=1, max_extra_tasks=3)
    browser = start(campaign)
    browser.work(3)
    assert browser.client.post(f"/c/{campaign.slug}/done/", {"choice": "finish"})["Location"] == COMPLETE


def test_a_participant_gets_only_the_campaigns_kinds_and_splits_and_finishes_when_none_is_left(pool, qualification):
    train = pool(3, split="train")
    val = pool(2, split="val")
    waiting = ImageFactory(boxes_confirmed=False, split="val")  # box work: not this campaign's kind, but its people will be
    campaign = CampaignFactory(task_kinds=["emotions"], splits=["val"], session_tasks=10)
    browser = start(campaign)
    browser.work(2)  # the test

    ids = browser.work(2)

    people = set(TaskAssignment.objects.filter(pk__in=ids).values_list("person_id", flat=True))
    assert people == {p.pk for p in val}
    # A val image still in its box stage: its people may come, so the participant is told to wait.
    later = browser.next_task()
    assert later.status_code == 204 and later["Work-Outlook"] == "later" and "Work-Finish-URL" not in later
    ImageFactory._meta.model.objects.filter(pk=waiting.pk).update(split="train")  # now only train work is left
    nothing = browser.next_task()
    assert nothing.status_code == 204 and nothing["Work-Outlook"] == "done" and nothing["Work-Finish-URL"]
    assert browser.finish(campaign.slug)["Location"] == COMPLETE  # no work left for them: completed early
    assert not TaskAssignment.objects.filter(person__in=train).exists()


def test_closing_the_campaign_finishes_its_sessions(pool, qualification):
    pool(6)
    campaign = CampaignFactory(session_tasks=4)
    browser = start(campaign)
    browser.work(3)
    Campaign.objects.filter(pk=campaign.pk).update(state=Campaign.State.CLOSED)
    assert browser.next_task()["Work-Finish-URL"] == f"/c/{campaign.slug}/done/"
    assert browser.finish(campaign.slug)["Location"] == COMPLETE


def test_a_participant_blocked_mid_session_is_screened_out(pool, qualification):
    from quality.trust import block_worker

    pool(6)
    campaign = CampaignFactory(session_tasks=4)
    browser = start(campaign)
    browser.work(3)
    block_worker(Worker.objects.get(participant__isnull=False), reason="failed too many control items")
    assert browser.next_task().status_code == 403
    assert browser.finish(campaign.slug)["Location"] == SCREEN_OUT
    assert ParticipantSession.objects.get().end_reason == "blocked by quality control"


def test_the_session_records_time_on_tasks_and_idle_time(settings, pool, qualification):
    settings.CAMPAIGNS_IDLE_SECONDS = 60
    pool(4)
    campaign = CampaignFactory(session_tasks=2)
    browser = start(campaign)
    browser.work(3)
    # The participant went away for ten minutes before the last task.
    last = TaskAssignment.objects.order_by("assigned_at").last()
    earlier = timezone.now() - timedelta(minutes=10)
    ParticipantSession.objects.update(started_at=earlier - timedelta(minutes=1), consented_at=earlier)
    TaskAssignment.objects.exclude(pk=last.pk).update(assigned_at=earlier, finished_at=earlier + timedelta(seconds=20))
    browser.work(1)
    browser.finish(campaign.slug)

    session = ParticipantSession.objects.get()
    assert session.state == State.COMPLETED
    assert session.idle_seconds == pytest.approx(10 * 60 - 20 - 60, abs=5)
    total = (session.ended_at - session.started_at).total_seconds()
    assert session.active_seconds == pytest.approx(total - session.idle_seconds, abs=0.01)
