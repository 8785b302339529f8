"""Recomputation after each submission (signal -> an outbox row in the answer's transaction -> the drain task
Celery beat runs every QUALITY_REFRESH_SECONDS) and the full recomputation on the beat schedule."""

import uuid

import pytest
from django.conf import settings as django_settings

from annotator.models import EmotionAnnotation
from django.db import transaction

from quality.models import PendingRefresh, PersonAgreement, QualityReport
from annotator.services.errors import WorkerNotEligible
from annotator.services.assignment import assign_next_task
from annotator.services.submission import skip_task, submit_task
from config.celery import app as celery_app
from emotic.taxonomy import categories_to_mask
from annotator.services.intake import original_annotator
from tests.factories import (
    EmotionAnnotationFactory,
    GoldItemFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
)

pytestmark = pytest.mark.django_db

ANSWER = {"categories": ["Happiness"], "valence": 8, "arousal": 6, "dominance": 6, "gender": "Female", "age": "Adult"}
WRONG = {**ANSWER, "categories": ["Anger"], "valence": 2}


@pytest.fixture(autouse=True)
def trust_settings(settings):
    settings.GOLD_RATE = 0.0
    settings.QUALITY_GOLD_WINDOW = 4
    settings.QUALITY_GOLD_MIN_ANSWERS = 3
    settings.QUALITY_GOLD_MIN_ACCURACY = 0.5


def drain():
    """What Celery beat runs every QUALITY_REFRESH_SECONDS."""
    return celery_app.tasks["quality.drain_refreshes"].delay().get()


def submit(worker, task, answer, capture):
    with capture(execute=True):
        submit_task(worker, task.pk, uuid.uuid4(), answer)
    drain()


def test_a_submission_refreshes_the_person_and_the_worker(tasks_run_inline, django_capture_on_commit_callbacks):
    person = PersonFactory()
    first, second = WorkerFactory(), WorkerFactory()
    submit(first, TaskAssignmentFactory(worker=first, person=person), ANSWER, django_capture_on_commit_callbacks)
    assert PersonAgreement.objects.get(person=person).annotators == 1
    submit(second, TaskAssignmentFactory(worker=second, person=person), {**ANSWER, "valence": 6},
           django_capture_on_commit_callbacks)
    agreement = PersonAgreement.objects.get(person=person)
    assert agreement.annotators == 2 and agreement.fleiss_kappa == 1.0 and agreement.valence_std == pytest.approx(2**0.5)
    assert agreement.dawid_skene_mask is None  # only the full run fits Dawid-Skene
    second.refresh_from_db()
    assert second.consensus_agreement == 1.0 and second.median_seconds_per_task == 0.0


def test_an_answer_refreshes_the_consensus_of_the_persons_earlier_annotators(
    tasks_run_inline, django_capture_on_commit_callbacks
):
    person = PersonFactory()
    first, second = WorkerFactory(), WorkerFactory()
    submit(first, TaskAssignmentFactory(worker=first, person=person), ANSWER, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.consensus_agreement is None  # nobody else has answered yet
    submit(second, TaskAssignmentFactory(worker=second, person=person), WRONG, django_capture_on_commit_callbacks)
    first.refresh_from_db()
    assert first.consensus_agreement == 0.0  # the other answer shares no category with it


def test_the_accounts_holding_imported_answers_are_left_to_the_periodic_run(
    tasks_run_inline, django_capture_on_commit_callbacks
):
    """They have answered nearly every imported person: refreshing them after each answer would be a full run."""
    person = PersonFactory()
    original = original_annotator(1)
    EmotionAnnotationFactory(person=person, worker=original, categories_mask=categories_to_mask(["Anger"]))
    worker = WorkerFactory()
    submit(worker, TaskAssignmentFactory(worker=worker, person=person), ANSWER, django_capture_on_commit_callbacks)
    worker.refresh_from_db()
    original.refresh_from_db()
    assert worker.consensus_agreement == 0.0 and original.consensus_agreement is None


def test_a_skip_refreshes_the_workers_share_of_skipped_tasks(tasks_run_inline, django_capture_on_commit_callbacks):
    worker = WorkerFactory()
    submit(worker, TaskAssignmentFactory(worker=worker), ANSWER, django_capture_on_commit_callbacks)
    worker.refresh_from_db()
    assert worker.skip_rate == 0.0
    task = TaskAssignmentFactory(worker=worker)
    with django_capture_on_commit_callbacks(execute=True):
        skip_task(worker, task.pk, "cannot see the face")
    assert drain() == 1
    worker.refresh_from_db()
    assert worker.skip_rate == pytest.approx(0.5)


def test_failing_hidden_controls_block_the_worker_as_they_come_in(tasks_run_inline, django_capture_on_commit_callbacks):
    worker = WorkerFactory()
    real = TaskAssignmentFactory(worker=worker)
    submit(worker, real, ANSWER, django_capture_on_commit_callbacks)
    for answer in (ANSWER, WRONG, WRONG):
        gold = GoldItemFactory()
        submit(worker, TaskAssignmentFactory(worker=worker, person=gold.person, gold_item=gold), answer,
               django_capture_on_commit_callbacks)
    worker.refresh_from_db()
    assert worker.is_blocked and worker.blocked_automatically
    assert worker.gold_answered == 3 and worker.gold_accuracy == pytest.approx(1 / 3)
    assert EmotionAnnotation.objects.get(assignment=real).excluded
    with pytest.raises(WorkerNotEligible):
        assign_next_task(worker)


def test_nothing_runs_for_an_answer_that_is_rolled_back(tasks_run_inline):
    worker = WorkerFactory()
    task = TaskAssignmentFactory(worker=worker)
    with pytest.raises(RuntimeError), transaction.atomic():
        submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
        raise RuntimeError("the answer's transaction fails after the answer was written")
    assert drain() == 0  # the request went with the answer
    assert not PersonAgreement.objects.exists() and not PendingRefresh.objects.exists()


def test_an_answer_waits_on_no_broker_its_refresh_is_a_row_in_its_own_transaction(tasks_run_inline, monkeypatch):
    def no_broker(*args, **kwargs):
        raise AssertionError("the request path published to the broker")

    monkeypatch.setattr(celery_app, "send_task", no_broker)
    monkeypatch.setattr("celery.app.task.Task.apply_async", no_broker)
    worker = WorkerFactory()
    task = TaskAssignmentFactory(worker=worker)
    submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
    skip_task(worker, TaskAssignmentFactory(worker=worker).pk, "blurry")
    assert list(PendingRefresh.objects.values_list("worker_id", "person_id")) == [(worker.pk, task.person_id), (worker.pk, None)]


def test_the_drain_is_scheduled_and_turns_many_requests_into_one_refresh(tasks_run_inline, monkeypatch):
    entry = django_settings.CELERY_BEAT_SCHEDULE["drain-quality-refreshes"]
    assert entry["task"] == "quality.drain_refreshes" and entry["task"] in celery_app.tasks
    assert entry["schedule"].total_seconds() == django_settings.QUALITY_REFRESH_SECONDS
    calls = []
    monkeypatch.setattr("quality.services.refresh_workers", lambda ids, **kw: calls.append(("workers", list(ids))))
    monkeypatch.setattr("quality.services.refresh_people", lambda ids: calls.append(("people", sorted(ids))))
    worker, person = WorkerFactory(), PersonFactory()
    for _ in range(3):
        PendingRefresh.objects.create(worker=worker, person=person)
    assert drain() == 3 and drain() == 0
    assert calls == [("workers", [worker.pk]), ("people", [person.pk])]


def test_the_periodic_task_is_scheduled_and_stores_a_report(tasks_run_inline):
    entry = django_settings.CELERY_BEAT_SCHEDULE["recompute-quality"]
    assert entry["task"] == "quality.recompute_quality"
    assert entry["schedule"].total_seconds() == django_settings.QUALITY_RECOMPUTE_MINUTES * 60
    assert entry["task"] in celery_app.tasks and "quality.refresh_after_answer" in celery_app.tasks
    report_id = celery_app.tasks[entry["task"]].delay().get()
    assert QualityReport.objects.get(pk=report_id).trigger == "schedule"
