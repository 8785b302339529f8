"""The annotation protocol: versioned, validated, recorded; changes that would strand work refused or pinned."""

from __future__ import annotations

import uuid

import pytest

from annotator.models import EmotionAnnotation, ProtocolVersion, TaskAssignment, Worker
from annotator.protocol import protocol_in_force
from annotator.services.assignment import assign_next_task
from annotator.services.errors import WorkerNotEligible
from annotator.services.protocol import (
    ProtocolChangeRefused, ProtocolInvalid, change_protocol, set_instruction_examples, version_for_answer,
)
from annotator.services.qualification import evaluate_qualification_if_complete
from annotator.services.submission import submit_task
from catalog.models import Image
from tests.factories import (
    EmotionAnnotationFactory, GoldItemFactory, ImageFactory, PersonFactory, UserFactory, WorkerFactory,
)

pytestmark = pytest.mark.django_db
ANSWER = {"categories": ["Happiness"], "valence": 7, "arousal": 5, "dominance": 6, "gender": "Female", "age": "Adult"}


@pytest.fixture
def no_controls(settings):
    settings.GOLD_RATE = 0.0


def test_before_any_version_the_protocol_in_force_is_the_environments(settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 2, "val": 4, "test": 3}
    settings.GOLD_RATE, settings.QUALITY_GOLD_MIN_ACCURACY = 0.25, 0.65
    protocol = protocol_in_force()
    assert protocol.pk is None and protocol.number == 0
    assert protocol.annotators_per_split == {"train": 2, "val": 4, "test": 3}
    assert (protocol.control_rate, protocol.trust_min_accuracy) == (0.25, 0.65)
    assert not ProtocolVersion.objects.exists()


def test_the_first_answer_saves_version_1_from_the_environment_and_records_it(no_controls, settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 2, "val": 5, "test": 3}
    worker = WorkerFactory()
    task = assign_next_task(WorkerFactory()) or assign_next_task(worker)
    PersonFactory(image=ImageFactory(split="train"))
    task = assign_next_task(worker)
    submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
    first = ProtocolVersion.objects.get()
    assert (first.number, first.created_by, first.annotators_train, first.control_rate) == (1, None, 2, 0.0)
    assert EmotionAnnotation.objects.get(worker=worker).protocol_version == first


def test_a_change_makes_a_new_version_recording_who_when_what_and_the_previous_values(settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    admin = UserFactory(username="research-admin", is_staff=True)
    version = change_protocol(admin, {"annotators_train": 3, "control_rate": 0.2, "instructions": "Look at the scene."},
                              note="pilot over")
    assert version.number == 2 and version.created_by == admin and version.note == "pilot over"
    assert version.changes == {"annotators_train": [1, 3], "control_rate": [0.1, 0.2],
                               "instructions": [protocol_in_force().instructions and version.changes["instructions"][0],
                                                "Look at the scene."]}
    assert ProtocolVersion.objects.get(number=1).annotators_train == 1  # the previous version is kept as it was
    assert protocol_in_force() == version and protocol_in_force().annotators_per_split["train"] == 3
    # Answers given from now on record the new version.
    assert version_for_answer() == version


@pytest.mark.parametrize("values, field, reason", [
    ({"annotators_val": 0}, "annotators_val", "must be from 1 to 50, got 0"),
    ({"control_rate": 1.5}, "control_rate", "must be from 0 to 1, got 1.5"),
    ({"control_rate": "lots"}, "control_rate", "must be a number from 0 to 1, got 'lots'"),
    ({"trust_window": 4, "trust_min_answers": 6}, "trust_min_answers", "must be at most the control answers judged (4), got 6: no one could be judged"),
    ({"controls_exhausted": "panic"}, "controls_exhausted", "must be one of reuse, pause, got 'panic'"),
    ({"auto_block": "yes"}, "auto_block", "must be true or false, got 'yes'"),
    ({"colour": "red"}, "colour", "is not a value of the protocol"),
    ({"annotators_train": 1}, "values", "nothing changed: every value is the one in force"),
])
def test_bad_values_are_refused_naming_the_field_and_nothing_is_written(settings, values, field, reason):
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    with pytest.raises(ProtocolInvalid) as caught:
        change_protocol(None, values)
    assert (caught.value.field, caught.value.reason) == (field, reason)
    assert ProtocolVersion.objects.count() <= 1  # at most version 1, made from the environment


def half_done_val_person(workers: int = 4, live: int = 1):
    """A val person (5 annotators) with ``workers`` answers and ``live`` more tasks in progress."""
    person = PersonFactory(image=ImageFactory(split="val"))
    for _ in range(workers):
        EmotionAnnotationFactory(person=person)
    tasks = [assign_next_task(WorkerFactory()) for _ in range(live)]
    assert all(t.person_id == person.pk for t in tasks)
    return person, tasks


def test_fewer_annotators_than_a_person_already_has_is_refused_with_the_figures(no_controls, settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    half_done_val_person(workers=3, live=1)
    with pytest.raises(ProtocolChangeRefused) as caught:
        change_protocol(None, {"annotators_val": 3})
    assert caught.value.field == "annotators_val"
    assert caught.value.reason.startswith(
        "would strand work in progress: 1 person(s) of the val split already have more annotators given or "
        "assigned (up to 4) than the new 3, with 1 task(s) still in progress on them."
    )
    assert not ProtocolVersion.objects.filter(number__gte=2).exists() and protocol_in_force().annotators_val == 5


def test_applied_to_new_work_only_people_already_begun_keep_their_number(no_controls, settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    begun, _ = half_done_val_person(workers=3, live=1)
    fresh = PersonFactory(image=ImageFactory(split="val"))
    version = change_protocol(None, {"annotators_val": 2}, applied_to="new_work")
    assert version.applied_to == "new_work"
    begun.refresh_from_db()
    fresh.refresh_from_db()
    assert (begun.annotators_pinned, fresh.annotators_pinned) == (5, None)
    # The begun person still gets its fifth annotator; the fresh one only two.
    given = [assign_next_task(WorkerFactory()) for _ in range(4)]
    assert sorted(t.person_id for t in given if t) == sorted([begun.pk, fresh.pk, fresh.pk])
    assert given[-1] is None


def test_raising_the_number_of_annotators_strands_nothing_and_applies_to_people_in_progress(no_controls, settings):
    settings.ANNOTATORS_PER_SPLIT = {"train": 1, "val": 5, "test": 3}
    person = PersonFactory(image=ImageFactory(split="train"))
    EmotionAnnotationFactory(person=person)
    assert assign_next_task(WorkerFactory()) is None  # train needs one annotator: done
    change_protocol(None, {"annotators_train": 2})
    assert assign_next_task(WorkerFactory()).person_id == person.pk


def test_fewer_box_workers_than_an_image_has_in_progress_is_refused_or_pinned(no_controls, settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 2
    image = ImageFactory(boxes_confirmed=False)
    tasks = [assign_next_task(WorkerFactory()) for _ in range(2)]
    assert all(t.image_id == image.pk for t in tasks)
    with pytest.raises(ProtocolChangeRefused) as caught:
        change_protocol(None, {"box_annotators_per_image": 1})
    assert caught.value.field == "box_annotators_per_image"
    assert "1 image(s) in their box stage already have more box workers given or assigned than the new 1, " \
           "with 2 box task(s) still in progress on them" in caught.value.reason
    change_protocol(None, {"box_annotators_per_image": 1}, applied_to="new_work")
    assert Image.objects.get(pk=image.pk).box_annotators_pinned == 2


def test_a_shorter_test_for_workers_taking_it_is_refused_or_they_keep_the_test_they_began(settings):
    settings.QUALIFICATION_ITEMS, settings.QUALIFICATION_PASS_RATE, settings.GOLD_RATE = 3, 1.0, 0.0
    GoldItemFactory.create_batch(3, for_qualification=True, for_control=False)
    worker = WorkerFactory(qualification=Worker.Qualification.PENDING)
    for _ in range(2):
        task = assign_next_task(worker)
        submit_task(worker, task.pk, uuid.uuid4(), {**ANSWER, "categories": ["Happiness"]})
    with pytest.raises(ProtocolChangeRefused) as caught:
        change_protocol(None, {"qualification_items": 1})
    assert caught.value.reason.startswith(
        "would strand work in progress: 1 worker(s) taking the test were already given more than the new 1 item(s)"
    )
    change_protocol(None, {"qualification_items": 1, "qualification_pass_rate": 0.5}, applied_to="new_work")
    worker.refresh_from_db()
    assert worker.qualification_protocol.number == 1
    assert evaluate_qualification_if_complete(worker) == Worker.Qualification.PENDING  # still 3 items for them
    newcomer = WorkerFactory(qualification=Worker.Qualification.PENDING)
    task = assign_next_task(newcomer)
    submit_task(newcomer, task.pk, uuid.uuid4(), ANSWER)
    newcomer.refresh_from_db()
    assert newcomer.qualification == Worker.Qualification.QUALIFIED  # one item, under the new protocol


def test_the_timeout_and_the_trust_rule_in_force_are_read_from_the_protocol(no_controls, settings):
    from quality.worker_figures import should_block

    settings.QUALITY_AUTO_BLOCK, settings.QUALITY_GOLD_MIN_ANSWERS, settings.QUALITY_GOLD_MIN_ACCURACY = True, 5, 0.7
    assert should_block(0.6, 5)
    change_protocol(None, {"assignment_timeout_minutes": 45, "trust_min_accuracy": 0.5})
    assert not should_block(0.6, 5)
    PersonFactory()
    task = assign_next_task(WorkerFactory())
    assert round((task.expires_at - task.assigned_at).total_seconds() / 60) == 45


# --- hidden controls once a worker has met them all -----------------------------------------------------------


@pytest.fixture
def every_task_a_control(settings):
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 5


def test_reuse_gives_the_control_answered_longest_ago_again(every_task_a_control):
    golds = GoldItemFactory.create_batch(2)
    worker = WorkerFactory()
    met = []
    for _ in range(2):
        task = assign_next_task(worker)
        met.append(task.gold_item_id)
        submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
    again = assign_next_task(worker)
    assert again.gold_item_id == met[0] and again.control_repeat == 1
    submit_task(worker, again.pk, uuid.uuid4(), ANSWER)
    assert EmotionAnnotation.objects.filter(worker=worker, person=golds[0].person if met[0] == golds[0].pk else golds[1].person).count() == 2
    then = assign_next_task(worker)
    assert (then.gold_item_id, then.control_repeat) == (met[1], 1)  # now the other one is the longest ago


def test_pause_stops_the_worker_until_controls_are_added(every_task_a_control):
    change_protocol(None, {"controls_exhausted": "pause"})
    GoldItemFactory()
    worker = WorkerFactory()
    task = assign_next_task(worker)
    submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
    PersonFactory()  # real work waits, but a control is due
    with pytest.raises(WorkerNotEligible) as caught:
        assign_next_task(worker)
    assert caught.value.code == "controls_exhausted"
    assert TaskAssignment.objects.filter(worker=worker).count() == 1
    fresh = GoldItemFactory()
    assert assign_next_task(worker).gold_item_id == fresh.pk


def test_instruction_examples_are_picked_from_accepted_answers_with_the_category(settings):
    accepted = EmotionAnnotationFactory(categories=["Happiness", "Pleasure"], status="accepted")
    submitted = EmotionAnnotationFactory(categories=["Happiness"])
    version = set_instruction_examples(None, {"Happiness": [accepted.pk], "Pleasure": [accepted.pk]})
    assert sorted(version.examples.values_list("category", "annotation_id")) == [
        ("Happiness", accepted.pk), ("Pleasure", accepted.pk)]
    assert version.changes == {"examples": ["none", f"Happiness: answers {accepted.pk}; Pleasure: answers {accepted.pk}"]}
    for examples, reason in (
        ({"Happiness": [submitted.pk]}, f"answer {submitted.pk} is not an accepted answer with Happiness ticked"),
        ({"Anger": [accepted.pk]}, f"answer {accepted.pk} is not an accepted answer with Anger ticked"),
    ):
        with pytest.raises(ProtocolInvalid) as caught:
            set_instruction_examples(None, examples)
        assert caught.value.reason == reason
    # A change of other values keeps the examples.
    later = change_protocol(None, {"control_rate": 0.3})
    assert later.examples.count() == 2


def test_a_paused_worker_is_told_why_on_their_page(every_task_a_control, client):
    change_protocol(None, {"controls_exhausted": "pause"})
    GoldItemFactory()
    worker = WorkerFactory()
    task = assign_next_task(worker)
    submit_task(worker, task.pk, uuid.uuid4(), ANSWER)
    client.force_login(worker.user)
    page = client.get("/work/").content.decode()
    assert "Your tasks are paused for now" in page and 'href="/work/instructions/"' in page
    response = client.get("/api/tasks/next/")
    assert response.status_code == 403 and response.json()["code"] == "controls_exhausted"
