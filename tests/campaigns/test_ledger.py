"""The payment ledger: written before the marketplace is called, never paying twice, reconciled, exported."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.test import Client
from django.utils import timezone

from annotator.models import AnnotationStatus, EmotionAnnotation
from campaigns.errors import CampaignError
from campaigns.models import LedgerEntry, ParticipantSession
from campaigns.prolific import MarketplaceNotConfigured
from campaigns.services import bonuses, ledger, payouts, reconciliation
from campaigns.services.studies import publish_study
from tests.campaigns.factories import CampaignFactory, LedgerEntryFactory
from tests.campaigns.helpers import complete_session
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
State, Kind = LedgerEntry.State, LedgerEntry.Kind
PAY = r"/api/v1/bulk-bonus-payments/.*/pay/"
REASON = ("Your answers in this session were given faster than anyone could look at the photos, and the hidden "
          "control items were answered at random.")


@pytest.fixture
def study(prolific, pool, qualification):
    pool(12)
    campaign = CampaignFactory(session_tasks=2, bonus_per_extra_task_cents=0, bonus_per_control_cents=25)
    publish_study(campaign)
    return campaign


def lead() -> Client:
    client = Client()
    client.force_login(UserFactory(username="lead", is_staff=True, is_superuser=True))
    return client


def earn_a_control_bonus(session: ParticipantSession) -> None:
    ParticipantSession.objects.filter(pk=session.pk).update(controls_passed=1)


def test_a_bonus_payment_whose_answer_is_lost_is_never_paid_twice(prolific, study):
    session, submission = complete_session(prolific, study)
    earn_a_control_bonus(session)
    prolific.lose_next_pay_answer = True  # Prolific pays, and the connection drops before it answers

    counts = bonuses.pay(study, previewed_total_cents=25)

    assert counts == {State.UNKNOWN: 1}
    entry = LedgerEntry.objects.get(kind=Kind.BONUS)
    assert entry.external_ref in prolific.bulk_bonuses and prolific.submissions[submission]["bonus_payments"] == [25]
    # Tried again, by the admin and by the periodic reconciliation: found in Prolific's record, not paid again.
    assert bonuses.pay(study, previewed_total_cents=0) == {State.PAID: 1}
    assert ledger.reconcile_unsettled() == 0
    entry.refresh_from_db()
    assert entry.state == State.PAID and "found in the submission's bonus payments" in entry.last_error
    assert prolific.count("POST", PAY) == 1
    assert prolific.submissions[submission]["bonus_payments"] == [25]


def test_a_lost_bonus_found_by_the_periodic_reconciliation(prolific, study):
    session, submission = complete_session(prolific, study)
    earn_a_control_bonus(session)
    prolific.lose_next_pay_answer = True
    bonuses.pay(study, previewed_total_cents=25)

    assert ledger.reconcile_unsettled() == 1

    assert LedgerEntry.objects.get(kind=Kind.BONUS).state == State.PAID
    assert prolific.count("POST", PAY) == 1


def test_a_payment_that_did_not_happen_is_sent_again_only_after_the_settle_window(prolific, study, settings):
    session, submission = complete_session(prolific, study)
    earn_a_control_bonus(session)
    prolific.refuse_next_pay = True  # 503: nothing paid, but the platform cannot know that

    bonuses.pay(study, previewed_total_cents=25)
    entry = LedgerEntry.objects.get(kind=Kind.BONUS)
    assert entry.state == State.UNKNOWN
    # Within the window it may still be paid by Prolific ("in the following minutes"): not sent again.
    ledger.send(entry)
    assert entry.state == State.UNKNOWN and prolific.count("POST", PAY) == 1
    # After the window, the submission's record shows no such bonus: sent again, once.
    LedgerEntry.objects.filter(pk=entry.pk).update(sent_at=timezone.now() - timedelta(seconds=settings.CAMPAIGNS_BONUS_SETTLE_SECONDS + 1))
    ledger.send(entry)
    assert entry.state == State.PAID
    assert prolific.count("POST", PAY) == 2 and prolific.submissions[submission]["bonus_payments"] == [25]
    assert prolific.count("POST", r"/api/v1/submissions/bonus-payments/") == 1  # the same bulk payment, set up once


def test_a_call_whose_process_died_is_reconciled_not_repeated(prolific, study):
    session, submission = complete_session(prolific, study)
    entry = ledger.plan_reward(session)
    # The approval went out, then the worker process died before writing the answer down.
    prolific.submissions[submission]["status"] = "APPROVED"
    LedgerEntry.objects.filter(pk=entry.pk).update(state=State.SENDING, sent_at=timezone.now() - timedelta(hours=1))

    assert ledger.reconcile_unsettled() == 1

    entry.refresh_from_db()
    assert entry.state == State.PAID
    assert prolific.count("POST", r"/api/v1/submissions/.*/transition/") == 0


def test_an_approval_waits_until_the_participant_has_submitted_on_prolific(prolific, study):
    session, submission = complete_session(prolific, study, submit=False)
    assert payouts.approve_completed(study) == {State.PLANNED: 1}
    entry = LedgerEntry.objects.get()
    assert "the submission is ACTIVE" in entry.last_error and prolific.submissions[submission]["status"] == "ACTIVE"
    prolific.submit_code(submission, study.completion_code)
    assert payouts.approve_completed(study) == {State.PAID: 1}
    assert payouts.approve_completed(study) == {}  # nothing owed any more
    assert prolific.count("POST", r"/api/v1/submissions/.*/transition/") == 1


def test_the_same_decision_twice_writes_one_row():
    entry = LedgerEntryFactory(idempotency_key="reward:session:1")
    again, created = ledger.plan(entry.session, Kind.REWARD, 150, "reward:session:1")
    assert (again.pk, created) == (entry.pk, False)
    with pytest.raises(IntegrityError):
        LedgerEntryFactory(idempotency_key="reward:session:1", session=entry.session)


@pytest.mark.parametrize(("category", "message", "field"), [
    ("LOW_EFFORT", "Too fast.", "message"),
    ("BECAUSE", REASON, "rejection_category"),
    ("", REASON, "rejection_category"),
])
def test_a_rejection_needs_prolifics_category_and_a_long_enough_reason(prolific, study, category, message, field):
    session, _ = complete_session(prolific, study)
    with pytest.raises(CampaignError) as refused:
        payouts.reject(session, category, message)
    assert refused.value.field == field
    assert not LedgerEntry.objects.filter(kind=Kind.REJECTION).exists()


def test_rejecting_a_submission_cancels_its_reward_and_rejects_its_answers(prolific, study):
    session, submission = complete_session(prolific, study)
    ledger.plan_reward(session)

    entry = payouts.reject(session, "FAILED_CHECK", REASON)

    assert entry.state == State.PAID and prolific.submissions[submission]["status"] == "REJECTED"
    assert sorted(LedgerEntry.objects.values_list("kind", "state")) == [("rejection", "paid"), ("reward", "cancelled")]
    answers = EmotionAnnotation.objects.filter(worker=session.participant.worker, is_gold=False)
    assert answers.count() == 2 and set(answers.values_list("status", flat=True)) == {AnnotationStatus.REJECTED}
    with pytest.raises(CampaignError, match="already rejected"):
        payouts.reject(session, "FAILED_CHECK", REASON)


def test_a_paid_session_can_no_longer_be_rejected(prolific, study):
    session, _ = complete_session(prolific, study)
    payouts.approve_completed(study)
    with pytest.raises(CampaignError, match="already paid"):
        payouts.reject(session, "LOW_EFFORT", REASON)


def test_without_a_token_the_admin_is_told_and_no_row_is_written(prolific, study, settings):
    session, _ = complete_session(prolific, study)
    earn_a_control_bonus(session)
    settings.PROLIFIC_API_TOKEN = ""
    client = lead()
    page = f"/admin/campaigns/campaign/{study.pk}/"

    assert b"PROLIFIC_API_TOKEN is not set: the platform cannot publish" in client.get(f"{page}change/").content
    approved = client.post(f"{page}act/", {"action": "approve"}, follow=True)
    assert b"PROLIFIC_API_TOKEN is not set" in approved.content
    paid = client.post(f"{page}bonuses/", {"total": "25"}, follow=True)
    assert b"PROLIFIC_API_TOKEN is not set" in paid.content and b"No bonus row was written" in paid.content
    rejected = client.post(f"{page}reject/", {"session": session.pk, "rejection_category": "LOW_EFFORT", "message": REASON},
                           follow=True)
    assert b"PROLIFIC_API_TOKEN is not set" in rejected.content
    # The one row is the reward owed since the session's completion, still planned: nothing sent, nothing half-written,
    # and the refused bonus and rejection wrote nothing.
    assert list(LedgerEntry.objects.values_list("kind", "state")) == [("reward", "planned")]
    with pytest.raises(MarketplaceNotConfigured):
        ledger.client_for(study)
    assert prolific.count("POST", r".*transition/") == 1  # only the study's PUBLISH


def test_a_refused_token_is_shown_and_leaves_every_row_planned(prolific, study):
    session, _ = complete_session(prolific, study)
    earn_a_control_bonus(session)
    ledger.plan_reward(session)
    prolific.refuse_token = True
    client = lead()
    page = f"/admin/campaigns/campaign/{study.pk}/"

    client.post(f"{page}act/", {"action": "approve"})
    client.post(f"{page}bonuses/", {"total": "25"})

    rows = list(LedgerEntry.objects.order_by("id").values_list("kind", "state", "last_error"))
    assert [(kind, state) for kind, state, _ in rows] == [("reward", "planned"), ("bonus", "planned")]
    assert all("refused the API token" in error for _, _, error in rows)
    shown = client.get(f"{page}change/")
    assert b"Prolific refused the API token (401)" in shown.content
    # Once the token works, the same rows go through, once.
    prolific.refuse_token = False
    client.post(f"{page}act/", {"action": "approve"})
    client.post(f"{page}bonuses/", {"total": "0"})
    assert list(LedgerEntry.objects.order_by("id").values_list("state", flat=True)) == ["paid", "paid"]
    assert prolific.count("POST", PAY) == 1


def test_the_ledger_exports_as_csv_with_no_formula_cells(prolific, study):
    session, _ = complete_session(prolific, study)
    entry = ledger.plan_reward(session)
    LedgerEntry.objects.filter(pk=entry.pk).update(last_error="=HYPERLINK(\"http://evil\")")
    rows = list(csv.DictReader(io.StringIO(ledger.ledger_csv(LedgerEntry.objects.all()))))
    assert rows[0]["kind"] == "reward" and rows[0]["amount"] == "1.50" and rows[0]["idempotency_key"] == f"reward:session:{session.pk}"
    assert rows[0]["last_error"].startswith("'=")


def test_the_reconciliation_report_names_every_difference(prolific, study):
    _, first = complete_session(prolific, study)
    payouts.approve_completed(study)
    _, second = complete_session(prolific, study)
    prolific.submissions[second]["status"] = "APPROVED"  # approved in Prolific's pages, not known here
    prolific.submissions[first]["bonus_payments"].append(50)  # a bonus paid outside the platform
    _, stranger = prolific.take_place(study.external_study_id)  # a submission that never reached the platform

    differences = reconciliation.report(study)

    found = {(d.submission, d.what) for d in differences}
    assert found == {
        (second, "approved there, reward not paid here"),
        (first, "bonuses differ"),
        (stranger, "a submission with no session here"),
    }
    assert "participant" in reconciliation.report_csv(differences).splitlines()[0]
