"""The qualification test a new worker takes before real work."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from annotator.models import TaskAssignment, Worker
from annotator.selectors import qualification_results
from annotator.services.assignment import assign_next_task, expire_stale_assignments
from annotator.services.errors import WorkerNotEligible
from annotator.services.submission import skip_task, submit_task
from tests.factories import GoldItemFactory, PersonFactory, WorkerFactory, expired_deadline

pytestmark = pytest.mark.django_db

RIGHT = {"categories": ["Happiness"], "valence": 8, "arousal": 6, "dominance": 6, "gender": "Male", "age": "Adult"}
WRONG = {**RIGHT, "categories": ["Anger"]}


@pytest.fixture(autouse=True)
def three_item_test(settings):
    settings.QUALIFICATION_ITEMS = 3
    settings.QUALIFICATION_PASS_RATE = 0.6
    settings.GOLD_RATE = 0.0


def take_test(worker, answers):
    for answer in answers:
        task = assign_next_task(worker)
        assert task.is_qualification
        if answer is None:
            skip_task(worker, task.pk)
        else:
            submit_task(worker, task.pk, uuid.uuid4(), answer)
    worker.refresh_from_db()
    return worker


def test_a_new_worker_gets_qualification_items_before_real_work():
    PersonFactory()
    GoldItemFactory.create_batch(4, for_qualification=True, for_control=False)
    task = assign_next_task(WorkerFactory(pending=True))
    assert task.is_qualification and task.gold_item.for_qualification


def test_passing_the_test_qualifies_the_worker_for_real_work():
    real = PersonFactory()
    GoldItemFactory.create_batch(4, for_qualification=True, for_control=False)
    worker = take_test(WorkerFactory(pending=True), [RIGHT, WRONG, RIGHT])
    assert worker.qualification == Worker.Qualification.QUALIFIED and worker.qualified_at is not None
    assert TaskAssignment.objects.filter(worker=worker, is_qualification=True).count() == 3
    assert assign_next_task(worker).person == real


def test_failing_the_test_stops_the_worker_and_explains_the_items_it_got_wrong():
    PersonFactory()
    GoldItemFactory.create_batch(  # explanations marked safe to show (hidden otherwise)
        3, for_qualification=True, for_control=False, explanation="She is laughing.", show_explanation=True
    )
    worker = take_test(WorkerFactory(pending=True), [RIGHT, WRONG, WRONG])
    assert worker.qualification == Worker.Qualification.FAILED
    with pytest.raises(WorkerNotEligible) as raised:
        assign_next_task(worker)
    assert raised.value.code == "failed_qualification"
    results = qualification_results(worker)
    assert [r.passed for r in results] == [True, False, False]
    assert [r.explanation for r in results] == ["", "She is laughing.", "She is laughing."]


def test_without_qualification_items_a_new_worker_is_told_the_test_is_not_ready():
    PersonFactory()
    with pytest.raises(WorkerNotEligible) as raised:
        assign_next_task(WorkerFactory(pending=True))
    assert raised.value.code == "qualification_unavailable"


def test_a_short_item_pool_makes_a_shorter_test(settings):
    settings.QUALIFICATION_ITEMS = 10
    GoldItemFactory.create_batch(2, for_qualification=True, for_control=False)
    worker = take_test(WorkerFactory(pending=True), [RIGHT, RIGHT])
    assert worker.qualification == Worker.Qualification.QUALIFIED


def test_an_item_left_to_expire_counts_against_the_worker(settings):
    settings.QUALIFICATION_PASS_RATE = 0.8
    GoldItemFactory.create_batch(3, for_qualification=True, for_control=False)
    worker = take_test(WorkerFactory(pending=True), [RIGHT, RIGHT])
    assign_next_task(worker)
    expire_stale_assignments(now=timezone.now() + expired_deadline())
    worker.refresh_from_db()
    assert worker.qualification == Worker.Qualification.FAILED  # 2 of 3 is under 80 %


def test_a_box_gold_item_can_be_a_qualification_item():
    gold = GoldItemFactory(boxes=True, for_qualification=True, expected_boxes=[[100, 50, 300, 450]])
    worker = WorkerFactory(pending=True)
    task = assign_next_task(worker)
    assert (task.kind, task.image) == ("boxes", gold.image)
    submit_task(worker, task.pk, uuid.uuid4(), {"boxes": [[102, 52, 298, 440]]})
    worker.refresh_from_db()
    assert worker.qualification == Worker.Qualification.QUALIFIED
