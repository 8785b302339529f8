"""Submitting, skipping and reporting through the services."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, Person, TaskAssignment
from annotator.services.assignment import assign_next_task
from annotator.services.errors import AnswerInvalid, SubmissionConflict, TaskNotFound, TaskNotOpen
from annotator.services.submission import report_task, skip_task, submit_task
from emotic.taxonomy import categories_to_mask
from tests.factories import (
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
    expired_deadline,
)

pytestmark = pytest.mark.django_db

EMOTIONS = {
    "categories": ["Happiness", "Excitement"],
    "valence": 8,
    "arousal": 7,
    "dominance": 6,
    "gender": "Female",
    "age": "Teenager",
    "seconds_spent": 21.5,
}


@pytest.fixture(autouse=True)
def no_hidden_controls(settings):
    settings.GOLD_RATE = 0.0


def test_an_emotions_answer_is_stored_with_every_field():
    task = TaskAssignmentFactory()
    result = submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    stored = EmotionAnnotation.objects.get()
    assert result.created
    assert (stored.person, stored.worker, stored.assignment) == (task.person, task.worker, task)
    assert stored.categories == ["Excitement", "Happiness"]
    assert (stored.valence, stored.arousal, stored.dominance) == (8, 7, 6)
    assert (stored.gender, stored.age, stored.seconds_spent, stored.is_gold) == ("Female", "Teenager", 21.5, False)
    task.refresh_from_db()
    task.worker.refresh_from_db()
    assert task.state == "submitted" and task.finished_at is not None
    assert task.worker.tasks_submitted == 1


def test_the_same_submission_id_twice_stores_the_answer_once():
    task = TaskAssignmentFactory()
    submission_id = uuid.uuid4()
    first = submit_task(task.worker, task.pk, submission_id, EMOTIONS)
    again = submit_task(task.worker, task.pk, submission_id, {**EMOTIONS, "valence": 1})
    assert (first.created, again.created) == (True, False)
    assert EmotionAnnotation.objects.get().valence == 8
    task.worker.refresh_from_db()
    assert task.worker.tasks_submitted == 1


def test_a_second_answer_with_a_new_id_to_a_submitted_task_is_refused():
    task = TaskAssignmentFactory()
    submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    with pytest.raises(TaskNotOpen, match="already submitted"):
        submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    assert EmotionAnnotation.objects.count() == 1


def test_a_submission_id_reused_for_another_task_is_refused():
    worker = WorkerFactory()
    first, second = TaskAssignmentFactory(worker=worker), TaskAssignmentFactory(worker=worker)
    submission_id = uuid.uuid4()
    submit_task(worker, first.pk, submission_id, EMOTIONS)
    with pytest.raises(SubmissionConflict) as raised:
        submit_task(worker, second.pk, submission_id, EMOTIONS)
    assert raised.value.field == "submission_id"
    second.refresh_from_db()
    assert second.state == "assigned"


def test_another_workers_task_reads_as_not_found():
    task = TaskAssignmentFactory()
    with pytest.raises(TaskNotFound):
        submit_task(WorkerFactory(), task.pk, uuid.uuid4(), EMOTIONS)
    assert not EmotionAnnotation.objects.exists()


def test_a_task_past_its_deadline_cannot_be_submitted():
    task = TaskAssignmentFactory()
    TaskAssignment.objects.filter(pk=task.pk).update(
        assigned_at=timezone.now() - expired_deadline() * 2, expires_at=timezone.now() - expired_deadline()
    )
    with pytest.raises(TaskNotOpen, match="expired"):
        submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    assert not EmotionAnnotation.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"categories": []}, "categories", "at least one"),
        ({"categories": ["Happiness", "Joy"]}, "categories", "unknown category 'Joy'"),
        ({"valence": 0}, "valence", "from 1 to 10"),
        ({"arousal": 11}, "arousal", "from 1 to 10"),
        ({"dominance": None}, "dominance", "required"),
        ({"valence": 5.5}, "valence", "integer"),
        ({"gender": "Other"}, "gender", "Male, Female"),
        ({"age": "Baby"}, "age", "Kid, Teenager, Adult"),
        ({"seconds_spent": -3}, "seconds_spent", "from 0"),
    ],
)
def test_each_bad_emotions_field_is_named_and_nothing_is_written(change, field, words):
    task = TaskAssignmentFactory()
    with pytest.raises(AnswerInvalid) as raised:
        submit_task(task.worker, task.pk, uuid.uuid4(), {**EMOTIONS, **change})
    assert raised.value.field == field
    assert words in raised.value.reason
    assert not EmotionAnnotation.objects.exists()
    task.refresh_from_db()
    assert task.state == "assigned"


def test_a_box_answer_ends_stage_one_and_its_boxes_become_people():
    task = TaskAssignmentFactory(boxes=True)
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": [[10, 20, 200, 400], [300, 40, 640, 480]]})
    image = task.image
    image.refresh_from_db()
    assert image.boxes_confirmed
    assert sorted(p.box for p in image.people.all()) == [(10, 20, 200, 400), (300, 40, 640, 480)]
    assert {p.box_origin for p in image.people.all()} == {Person.BoxOrigin.WORKER}


def test_confirmed_imported_boxes_keep_their_people_and_adjusted_ones_are_replaced():
    task = TaskAssignmentFactory(boxes=True)
    kept = PersonFactory(image=task.image, x1=10, y1=10, x2=100, y2=200)
    PersonFactory(image=task.image, x1=300, y1=10, x2=400, y2=200)
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": [[10, 10, 100, 200], [305, 12, 410, 210]]})
    people = {p.box: p for p in task.image.people.all()}
    assert set(people) == {(10, 10, 100, 200), (305, 12, 410, 210)}
    assert people[(10, 10, 100, 200)].pk == kept.pk
    assert people[(305, 12, 410, 210)].box_origin == Person.BoxOrigin.WORKER


def test_no_people_is_an_answer_too():
    task = TaskAssignmentFactory(boxes=True)
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": [], "no_people": True})
    assert BoxAnnotation.objects.get().no_people
    task.image.refresh_from_db()
    assert task.image.boxes_confirmed and not task.image.people.exists()


def test_with_several_box_annotators_the_majority_boxes_win(settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 3
    image = ImageFactory(boxes_confirmed=False)
    answers = [
        [[100, 50, 300, 450], [400, 60, 500, 300]],
        [[104, 52, 298, 446]],
        [[98, 48, 306, 452], [10, 10, 40, 40]],
    ]
    for boxes in answers:
        worker = WorkerFactory()
        task = assign_next_task(worker)
        assert task.image == image
        submit_task(worker, task.pk, uuid.uuid4(), {"boxes": boxes})
    image.refresh_from_db()
    assert image.boxes_confirmed
    assert [(p.box, p.box_origin) for p in image.people.all()] == [((100, 50, 300, 450), "consensus")]


@pytest.mark.parametrize(
    ("answer", "field", "words"),
    [
        ({"boxes": []}, "boxes", "at least one box"),
        ({"boxes": [[10, 10, 50, 50]], "no_people": True}, "no_people", "cannot be true"),
        ({"boxes": [[10, 10, 50, 50], [600, 10, 700, 50]]}, "boxes[1]", "outside the image (640 x 480"),
        ({"boxes": [[-1, 10, 50, 50]]}, "boxes[0]", "outside the image"),
        ({"boxes": [[10, 10, 10, 50]]}, "boxes[0]", "no area"),
        ({"boxes": [[10, 60, 50, 50]]}, "boxes[0]", "no area"),
        ({"boxes": [[10, 10, 50]]}, "boxes[0]", "four integer"),
        ({"boxes": [[10, 10, 50.5, 60]]}, "boxes[0]", "four integer"),
        ({"boxes": [[1, 1, 2, 2]] * 101}, "boxes", "at most 100"),
        ({"boxes": [[1, 1, 19, 19], [5, 5, 20, 20], [1, 1, 19, 19]]}, "boxes[2]", "same box as boxes[0]"),
        ({"boxes": [[1, 1, 2, 2]], "no_people": "yes"}, "no_people", "true or false"),
    ],
)
def test_each_bad_box_answer_is_named_and_nothing_is_written(settings, answer, field, words):
    settings.MAX_BOXES_PER_IMAGE = 100  # the default is 30 now (tests/annotator/test_box_limits.py)
    task = TaskAssignmentFactory(boxes=True)
    with pytest.raises(AnswerInvalid) as raised:
        submit_task(task.worker, task.pk, uuid.uuid4(), answer)
    assert (raised.value.field, words in raised.value.reason) == (field, True), raised.value.reason
    assert not BoxAnnotation.objects.exists()
    task.image.refresh_from_db()
    assert not task.image.boxes_confirmed


def test_an_emotions_answer_to_a_hidden_control_is_checked_against_its_gold(settings):
    gold = GoldItemFactory(
        required_categories_mask=categories_to_mask(["Happiness"]),
        allowed_categories_mask=categories_to_mask(["Happiness", "Excitement", "Pleasure"]),
        valence_min=6,
        allowed_ages=["Teenager", "Adult"],
    )
    good = TaskAssignmentFactory(person=gold.person, gold_item=gold)
    bad = TaskAssignmentFactory(person=gold.person, gold_item=gold)
    submit_task(good.worker, good.pk, uuid.uuid4(), EMOTIONS)
    submit_task(bad.worker, bad.pk, uuid.uuid4(), {**EMOTIONS, "categories": ["Happiness", "Sadness"]})
    good.refresh_from_db()
    bad.refresh_from_db()
    assert (good.gold_passed, bad.gold_passed) == (True, False)
    assert set(EmotionAnnotation.objects.values_list("is_gold", flat=True)) == {True}


def test_a_box_answer_to_a_gold_image_is_checked_and_does_not_end_stage_one():
    gold = GoldItemFactory(boxes=True, expected_boxes=[[100, 50, 300, 450]], min_iou=0.7)
    task = TaskAssignmentFactory(boxes=True, image=gold.image, gold_item=gold)
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": [[110, 55, 305, 440], [400, 10, 500, 100]]})
    task.refresh_from_db()
    gold.image.refresh_from_db()
    assert task.gold_passed is True
    assert not gold.image.boxes_confirmed and not gold.image.people.exists()


def test_everyone_boxed_plus_one_extra_box_passes_a_hidden_box_control():
    """Regression: the control failed this worker (a step toward an automatic block)."""
    gold = GoldItemFactory(boxes=True, expected_boxes=[[35, 11, 53, 49], [29, 13, 62, 53]], min_iou=0.5)
    task = TaskAssignmentFactory(boxes=True, image=gold.image, gold_item=gold)
    drawn = [[21, 19, 53, 52], [27, 13, 67, 36], [35, 18, 60, 54]]
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": drawn})
    task.refresh_from_db()
    assert task.gold_passed is True


def test_skipping_frees_the_slot_and_repeating_it_changes_nothing():
    PersonFactory()
    task = assign_next_task(WorkerFactory())
    skipped = skip_task(task.worker, task.pk, "too dark to tell")
    again = skip_task(task.worker, task.pk)
    assert (skipped.state, again.state, again.skip_reason) == ("skipped", "skipped", "too dark to tell")
    task.person.refresh_from_db()
    assert task.person.annotation_slots_taken == 0


def test_a_report_needs_a_reason_and_counts_once_against_the_image():
    person = PersonFactory()
    worker = WorkerFactory()
    task = assign_next_task(worker)
    with pytest.raises(AnswerInvalid) as raised:
        report_task(worker, task.pk, "   ")
    assert raised.value.field == "reason"
    report_task(worker, task.pk, "the image is a cartoon")
    report_task(worker, task.pk, "the image is a cartoon")
    person.image.refresh_from_db()
    task.refresh_from_db()
    assert (person.image.reported_count, task.state, task.skip_reason) == (1, "reported", "the image is a cartoon")


def test_a_submitted_task_can_no_longer_be_skipped():
    task = TaskAssignmentFactory()
    submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    with pytest.raises(TaskNotOpen):
        skip_task(task.worker, task.pk)


@pytest.mark.parametrize(
    ("close", "words"),
    [
        (lambda task: skip_task(task.worker, task.pk, "too dark"), "was skipped"),
        (lambda task: report_task(task.worker, task.pk, "a cartoon"), "was reported as a bad image"),
    ],
    ids=["skipped", "reported"],
)
def test_a_skipped_or_reported_task_cannot_be_submitted(close, words):
    task = TaskAssignmentFactory()
    close(task)
    with pytest.raises(TaskNotOpen, match=words) as raised:
        submit_task(task.worker, task.pk, uuid.uuid4(), EMOTIONS)
    assert raised.value.field == "task"
    assert not EmotionAnnotation.objects.exists()
    task.worker.refresh_from_db()
    assert task.worker.tasks_submitted == 0


@pytest.mark.parametrize("close", [skip_task, report_task], ids=["skip", "report"])
def test_a_task_past_its_deadline_cannot_be_skipped_or_reported(close):
    task = TaskAssignmentFactory()
    TaskAssignment.objects.filter(pk=task.pk).update(
        assigned_at=timezone.now() - expired_deadline() * 2, expires_at=timezone.now() - expired_deadline()
    )
    with pytest.raises(TaskNotOpen, match="expired"):
        close(task.worker, task.pk, "a cartoon")
    task.refresh_from_db()
    task.person.refresh_from_db()
    task.person.image.refresh_from_db()
    assert (task.state, task.finished_at, task.skip_reason) == ("assigned", None, "")
    assert (task.person.annotation_slots_taken, task.person.image.reported_count) == (1, 0)


@pytest.mark.parametrize("close", [skip_task, report_task], ids=["skip", "report"])
def test_another_workers_task_cannot_be_skipped_or_reported(close):
    task = TaskAssignmentFactory()
    with pytest.raises(TaskNotFound):
        close(WorkerFactory(), task.pk, "a cartoon")
    task.refresh_from_db()
    task.person.image.refresh_from_db()
    assert (task.state, task.person.image.reported_count) == ("assigned", 0)
