"""The assignment rules of ``assign_next_task``: who annotates what next."""

from __future__ import annotations

import uuid

import pytest
from django.utils import timezone

from annotator.models import TaskAssignment, TaskKind, Worker
from annotator.protocol import protocol_in_force
from catalog.models import Image
from annotator.services import assignment as service
from annotator.services.assignment import (
    assign_next_task,
    close_assignment,
    control_is_due,
    expire_stale_assignments,
    next_task,
    recount_slots,
)
from annotator.services.errors import WorkerNotEligible
from annotator.services.submission import skip_task, submit_task
from emotic.splits import drawn_split
from tests.factories import (
    EmotionAnnotationFactory,
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
    expired_deadline,
)

pytestmark = pytest.mark.django_db

EMOTIONS = {"categories": ["Peace"], "valence": 6, "arousal": 3, "dominance": 5, "gender": "Male", "age": "Adult"}


@pytest.fixture(autouse=True)
def no_hidden_controls(settings):
    settings.GOLD_RATE = 0.0


def answer(worker, assignment, **changes):
    return submit_task(worker, assignment.pk, uuid.uuid4(), {**EMOTIONS, **changes})


def test_a_worker_gets_an_emotions_task_for_a_person_whose_boxes_are_final():
    person = PersonFactory()
    assignment = assign_next_task(WorkerFactory())
    assert (assignment.kind, assignment.person, assignment.state) == (TaskKind.EMOTIONS, person, "assigned")
    assert assignment.expires_at > timezone.now()


def test_asking_again_returns_the_same_live_task():
    PersonFactory.create_batch(2)
    worker = WorkerFactory()
    first = assign_next_task(worker)
    assert assign_next_task(worker) == first
    assert TaskAssignment.objects.filter(worker=worker).count() == 1


def test_a_worker_never_gets_the_same_person_twice_even_after_skipping_it(settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 5, "val": 5, "test": 5}
    person = PersonFactory()
    worker = WorkerFactory()
    first = assign_next_task(worker)
    skip_task(worker, first.pk)
    assert first.person == person
    assert assign_next_task(worker) is None


@pytest.mark.parametrize(("split", "needed"), [("train", 1), ("val", 5), ("test", 3)])
def test_each_person_gets_the_annotators_its_split_needs(split, needed):
    person = PersonFactory(image=ImageFactory(split=split))
    workers = WorkerFactory.create_batch(needed + 1)
    given = [assign_next_task(worker) for worker in workers]
    assert [a.person for a in given[:needed]] == [person] * needed
    assert given[needed] is None
    person.refresh_from_db()
    assert person.annotation_slots_taken == needed


def test_the_split_counts_are_configurable(settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 2, "val": 5, "test": 3}
    PersonFactory(image=ImageFactory(split="train"))
    given = [assign_next_task(WorkerFactory()) for _ in range(3)]
    assert [a is not None for a in given] == [True, True, False]


def test_people_of_images_left_unsplit_until_export_get_the_configured_count(settings):
    settings.SPLIT_IMAGES_AT = "export"
    settings.ANNOTATORS_PER_UNSPLIT_PERSON = 2
    image = ImageFactory(split="")
    PersonFactory(image=image)
    given = [assign_next_task(WorkerFactory()) for _ in range(3)]
    assert [a is not None for a in given] == [True, True, False]
    image.refresh_from_db()
    assert image.split == ""


@pytest.mark.parametrize(("split", "annotators"), [("val", 5), ("test", 3), ("train", 1)])
def test_an_unsplit_image_is_placed_when_its_first_person_is_handed_out_and_then_needs_its_splits_count(
    settings, split, annotators
):
    settings.SPLIT_RATIOS = {s: float(s == split) for s in ("train", "val", "test")}
    image = ImageFactory(split="")
    person, other = PersonFactory(image=image), PersonFactory(image=image)
    given = [assign_next_task(WorkerFactory()) for _ in range(2 * annotators + 1)]
    image.refresh_from_db()
    assert image.split == split and not image.split_locked  # an admin may still move it
    assert [a.person for a in given if a is not None].count(person) == annotators
    assert [a.person for a in given if a is not None].count(other) == annotators
    assert given[-1] is None


def test_the_drawn_split_follows_the_ratios_and_the_seed_and_never_moves_a_placed_image(settings):
    settings.SPLIT_RATIOS, settings.SPLIT_SEED = {"train": 0.5, "val": 0.0, "test": 0.5}, 7
    images = ImageFactory.create_batch(40, split="")
    placed = ImageFactory(split="val")
    for image in [*images, placed]:
        PersonFactory(image=image)
    while assign_next_task(WorkerFactory()) is not None:
        pass
    splits = dict(Image.objects.values_list("sha256", "split"))
    assert splits[placed.sha256] == "val"
    assert {splits[i.sha256] for i in images} == {"train", "test"}
    assert all(splits[i.sha256] == drawn_split(i.sha256, settings.SPLIT_RATIOS, 7) for i in images)


def test_submitted_answers_and_live_assignments_both_fill_a_persons_slots():
    person = PersonFactory(image=ImageFactory(split="test"))  # needs 3
    EmotionAnnotationFactory(person=person)
    TaskAssignmentFactory(person=person)
    assert assign_next_task(WorkerFactory()).person == person
    assert assign_next_task(WorkerFactory()) is None


def test_excluded_answers_free_their_slot_after_a_recount():
    person = PersonFactory()  # train: needs 1
    annotation = EmotionAnnotationFactory(person=person)
    assert assign_next_task(WorkerFactory()) is None
    annotation.excluded = True
    annotation.save()
    recount_slots(person_ids=[person.pk])
    assert assign_next_task(WorkerFactory()).person == person


def test_least_annotated_people_come_first():
    image = ImageFactory(split="val")
    started, fresh = PersonFactory(image=image), PersonFactory(image=image)
    EmotionAnnotationFactory(person=started)
    assert assign_next_task(WorkerFactory()).person == fresh


def test_gold_people_never_enter_the_regular_pool():
    GoldItemFactory(for_control=False)
    assert assign_next_task(WorkerFactory()) is None


def test_images_with_a_gold_person_or_gold_boxes_get_no_boxes_task():
    GoldItemFactory(person=PersonFactory(image=ImageFactory(boxes_confirmed=False)), for_control=False)
    GoldItemFactory(boxes=True, for_control=False)
    assert assign_next_task(WorkerFactory()) is None


def test_an_image_reported_often_enough_leaves_the_pool(settings):
    settings.IMAGE_REPORTS_TO_WITHDRAW = 2
    PersonFactory(image=ImageFactory(reported_count=2))
    reported_once = PersonFactory(image=ImageFactory(reported_count=1))
    assert assign_next_task(WorkerFactory()).person == reported_once
    assert assign_next_task(WorkerFactory()) is None


def test_images_awaiting_boxes_give_boxes_tasks_and_hold_back_their_people():
    image = ImageFactory(boxes_confirmed=False)
    PersonFactory(image=image)  # imported, not yet confirmed by a worker
    assignment = assign_next_task(WorkerFactory())
    assert (assignment.kind, assignment.image, assignment.person) == (TaskKind.BOXES, image, None)
    image.refresh_from_db()
    assert image.box_slots_taken == 1


def test_emotions_tasks_come_before_boxes_tasks():
    ImageFactory(boxes_confirmed=False)
    person = PersonFactory()
    assert assign_next_task(WorkerFactory()).person == person


def test_an_expired_assignment_returns_its_person_to_the_pool():
    person = PersonFactory()
    late = assign_next_task(WorkerFactory())
    assert assign_next_task(WorkerFactory()) is None
    assert expire_stale_assignments(now=timezone.now() + expired_deadline()) == 1
    late.refresh_from_db()
    assert late.state == "expired"
    assert assign_next_task(WorkerFactory()).person == person


def test_an_expired_task_found_by_the_beat_and_by_its_worker_at_once_frees_one_slot_only():
    # Both read the row while it is live (the expiry beat and the worker's next request),
    # then both close it: the person must get back one slot, not two.
    person = PersonFactory(image__split="val")  # five annotators
    workers = WorkerFactory.create_batch(3)
    tasks = [assign_next_task(worker) for worker in workers]
    person.refresh_from_db()
    assert person.annotation_slots_taken == 3
    later = timezone.now() + expired_deadline()
    seen_by_beat, seen_by_worker = (TaskAssignment.objects.get(pk=tasks[0].pk) for _ in range(2))
    assert close_assignment(seen_by_beat, TaskAssignment.State.EXPIRED, later) is True
    assert close_assignment(seen_by_worker, TaskAssignment.State.EXPIRED, later) is False
    assert seen_by_worker.state == "expired"
    person.refresh_from_db()
    assert person.annotation_slots_taken == 2 == TaskAssignment.objects.filter(person=person, state="assigned").count()
    assert expire_stale_assignments(now=later) == 2  # the two still live; the closed one is not counted again
    person.refresh_from_db()
    assert person.annotation_slots_taken == 0


def test_expiry_leaves_assignments_within_their_time_alone():
    PersonFactory()
    assign_next_task(WorkerFactory())
    assert expire_stale_assignments() == 0
    assert TaskAssignment.objects.get().state == "assigned"


def test_a_worker_whose_own_task_ran_out_of_time_gets_a_new_one(settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 2, "val": 5, "test": 3}
    first_person, second_person = PersonFactory.create_batch(2)
    worker = WorkerFactory()
    stale = assign_next_task(worker)
    TaskAssignment.objects.filter(pk=stale.pk).update(
        assigned_at=timezone.now() - expired_deadline() * 2, expires_at=timezone.now() - expired_deadline()
    )
    fresh = assign_next_task(worker)
    stale.refresh_from_db()
    assert stale.state == "expired"
    assert fresh.person == second_person
    first_person.refresh_from_db()
    assert first_person.annotation_slots_taken == 0


@pytest.mark.parametrize(
    ("traits", "code", "words"),
    [
        ({"blocked": True}, "blocked", "failed too many control items"),
        ({"failed": True}, "failed_qualification", "did not pass the qualification"),
    ],
)
def test_blocked_and_failed_workers_get_no_task_and_are_told_why(traits, code, words):
    PersonFactory()
    with pytest.raises(WorkerNotEligible) as raised:
        assign_next_task(WorkerFactory(**traits))
    assert raised.value.code == code
    assert words in raised.value.reason
    assert not TaskAssignment.objects.exists()


def test_a_worker_blocked_while_working_gets_no_further_task():
    PersonFactory.create_batch(2)
    worker = WorkerFactory()
    answer(worker, assign_next_task(worker))
    Worker.objects.filter(pk=worker.pk).update(is_blocked=True, blocked_reason="spam")
    with pytest.raises(WorkerNotEligible, match="spam"):
        assign_next_task(worker)  # the stale in-memory object is re-read


def test_controls_fill_exactly_the_configured_share_of_each_block(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 0.1, 20
    for worker_id in (1, 2, 3):
        for block in range(3):
            due = [control_is_due(worker_id, block * 20 + i) for i in range(20)]
            assert sum(due) == 2


def test_control_positions_differ_between_workers(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 0.1, 20
    patterns = {tuple(control_is_due(worker_id, i) for i in range(20)) for worker_id in range(1, 30)}
    assert len(patterns) > 1


def test_hidden_controls_are_mixed_into_real_work_at_the_gold_rate(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 0.2, 10
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    PersonFactory.create_batch(8)
    golds = GoldItemFactory.create_batch(3)
    worker = WorkerFactory()
    kinds = []
    for _ in range(10):
        assignment = assign_next_task(worker)
        kinds.append("gold" if assignment.gold_item_id else "real")
        answer(worker, assignment, categories=["Happiness"])
    assert kinds.count("gold") == 2
    assert {a.gold_item for a in TaskAssignment.objects.filter(gold_item__isnull=False)} <= set(golds)


def test_a_control_due_when_none_is_left_gives_real_work(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 5
    person = PersonFactory()
    assert assign_next_task(WorkerFactory()).person == person


def test_the_celery_beat_task_expires_stale_assignments():
    from annotator.tasks import expire_stale_assignments as beat_task

    PersonFactory()
    task = assign_next_task(WorkerFactory())
    TaskAssignment.objects.filter(pk=task.pk).update(
        assigned_at=timezone.now() - expired_deadline() * 2, expires_at=timezone.now() - expired_deadline()
    )
    assert beat_task.apply().get() == 1
    assert TaskAssignment.objects.get().state == "expired"


# --- why nothing was given: work may come later, or none is left -----------------------------------------------


def test_an_empty_pool_means_nothing_is_left():
    outcome = next_task(WorkerFactory())
    assert (outcome.task, outcome.outlook, outcome.retry_after) == (None, "done", service.RETRY_AFTER_DONE)


def test_nothing_is_left_when_every_person_still_needing_answers_has_this_workers_answer():
    person = PersonFactory(image=ImageFactory(split="val"))  # five annotators: four more needed
    worker = WorkerFactory()
    answer(worker, assign_next_task(worker))
    skipper = WorkerFactory()
    skip_task(skipper, assign_next_task(skipper).pk)
    person.refresh_from_db()
    assert person.annotation_slots_taken == 1
    assert next_task(worker).outlook == next_task(skipper).outlook == "done"
    assert next_task(WorkerFactory()).task.person == person  # others still get it


def test_a_person_held_by_another_workers_live_task_means_work_may_come_later():
    person = PersonFactory()  # one annotator: the other worker holds the slot
    TaskAssignmentFactory(person=person)
    worker = WorkerFactory()
    outcome = next_task(worker)
    assert (outcome.task, outcome.outlook, outcome.retry_after) == (None, "later", service.RETRY_AFTER_LATER)
    assert expire_stale_assignments(now=timezone.now() + expired_deadline()) == 1
    assert next_task(worker).task.person == person


def test_a_held_person_this_worker_has_seen_is_no_work_to_come():
    person = PersonFactory(image=ImageFactory(split="test"))
    worker = WorkerFactory()
    skip_task(worker, assign_next_task(worker).pk)
    TaskAssignmentFactory.create_batch(3, person=person)  # every slot held by others
    assert next_task(worker).outlook == "done"
    assert next_task(WorkerFactory()).outlook == "later"


def test_images_still_in_their_box_stage_mean_work_may_come_later(settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 2
    image = ImageFactory(boxes_confirmed=False)
    worker = WorkerFactory()
    task = assign_next_task(worker)
    assert task.image == image
    submit_task(worker, task.pk, uuid.uuid4(), {"boxes": [[10, 10, 100, 200]]})
    image.refresh_from_db()
    assert not image.boxes_confirmed  # one more worker's boxes needed: its people are still to come
    assert next_task(worker).outlook == "later"


def test_gold_and_withdrawn_work_is_no_work_to_come(settings):
    settings.IMAGE_REPORTS_TO_WITHDRAW = 1
    GoldItemFactory(boxes=True, for_control=False)  # a gold image awaiting boxes
    GoldItemFactory(for_control=False)  # a gold person
    withdrawn = PersonFactory(image=ImageFactory(reported_count=1))
    TaskAssignmentFactory(person=withdrawn)
    ImageFactory(boxes_confirmed=False, reported_count=1)
    assert next_task(WorkerFactory()).outlook == "done"


def test_the_outlook_is_one_query(django_assert_num_queries):
    TaskAssignmentFactory(person=PersonFactory())
    worker = WorkerFactory()
    protocol = protocol_in_force()
    with django_assert_num_queries(1):
        outlook = service.work_outlook(worker, None, protocol)
    assert (outlook.claimable, outlook.held, outlook.boxes_open) == (False, True, False)


def test_a_free_row_the_claim_did_not_get_is_retried_then_reported_as_locked(monkeypatch):
    # Stands for rows another claimer keeps locked: the claim finds nothing, the outlook finds them.
    PersonFactory()
    pauses = []
    monkeypatch.setattr(service, "_assign_emotions", lambda *claim: None)
    monkeypatch.setattr(service.time, "sleep", pauses.append)
    outcome = next_task(WorkerFactory())
    assert (outcome.task, outcome.outlook, outcome.retry_after) == (None, "later", service.RETRY_AFTER_LOCKED)
    assert pauses == [0.02, 0.04, 0.08, 0.16]
