"""The people a blocked worker drew are excluded with the rest of their work, reversibly."""

from __future__ import annotations

import uuid

import pytest

from annotator.models import EmotionAnnotation, Person
from catalog.models import Image
from quality.review import image_review
from quality.selectors import counted_annotations
from quality.trust import block_worker, unblock_worker
from annotator.services.assignment import box_pool, emotion_pool
from annotator.selectors import task_view
from annotator.services.errors import TaskNotOpen
from annotator.services.submission import submit_task
from emotic_export.selectors import exportable_annotations
from tests.factories import EmotionAnnotationFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = pytest.mark.django_db

DRAWN = [[10, 20, 200, 400], [300, 40, 600, 470]]
ANSWER = {"categories": ["Peace"], "valence": 6, "arousal": 3, "dominance": 5, "gender": "Male", "age": "Adult"}


@pytest.fixture(autouse=True)
def one_box_annotator(settings):
    settings.BOX_ANNOTATORS_PER_IMAGE = 1
    settings.GOLD_RATE = 0.0


def draw(worker, image, boxes) -> None:
    task = TaskAssignmentFactory(boxes=True, worker=worker, image=image)
    submit_task(worker, task.pk, uuid.uuid4(), {"boxes": boxes})


@pytest.fixture
def drawn_image():
    """An image whose two people were drawn by one worker, one of them already annotated by someone else."""
    image = ImageFactory(boxes_confirmed=False, width=640, height=480)
    drawer = WorkerFactory()
    draw(drawer, image, DRAWN)
    first = Person.objects.get(image=image, x1=10)
    answer = EmotionAnnotationFactory(person=first)
    return image, drawer, answer


def test_the_people_a_worker_drew_alone_are_linked_to_that_answer(drawn_image):
    image, drawer, _ = drawn_image
    people = Person.objects.filter(image=image)
    assert {p.box_answer.worker_id for p in people} == {drawer.pk}
    assert {p.box_status for p in people} == {"final"}


def test_blocking_the_drawer_takes_their_people_out_and_sends_the_image_back_to_stage_one(drawn_image):
    image, drawer, answer = drawn_image
    block_worker(drawer, reason="careless boxes")
    image.refresh_from_db()
    assert not image.boxes_confirmed and box_pool().filter(pk=image.pk).exists()
    assert set(Person.objects.filter(image=image).values_list("box_status", flat=True)) == {"excluded"}
    assert not emotion_pool().filter(image=image).exists()
    # Another worker's answer about an excluded person is kept, but neither counted nor exported.
    assert EmotionAnnotation.objects.filter(pk=answer.pk, excluded=False).exists()
    assert answer.pk not in set(exportable_annotations().values_list("pk", flat=True))
    assert answer.pk not in set(counted_annotations().values_list("pk", flat=True))


def test_unblocked_before_anyone_draws_again_their_people_come_back_as_they_were(drawn_image):
    image, drawer, answer = drawn_image
    people_before = set(Person.objects.filter(image=image).values_list("pk", flat=True))
    block_worker(drawer, reason="careless boxes")
    unblock_worker(drawer, note="checked by hand: the boxes are fine")
    image.refresh_from_db()
    assert image.boxes_confirmed and not box_pool().filter(pk=image.pk).exists()
    assert set(Person.objects.filter(image=image).values_list("pk", "box_status")) == {(pk, "final") for pk in people_before}
    assert answer.pk in set(exportable_annotations().values_list("pk", flat=True))


def test_boxes_drawn_again_by_a_trusted_worker_stand_after_the_blocked_one_is_unblocked(drawn_image):
    image, drawer, answer = drawn_image
    block_worker(drawer, reason="careless boxes")
    trusted = WorkerFactory()
    draw(trusted, image, [[12, 22, 198, 398]])  # one person, drawn a little differently
    image.refresh_from_db()
    assert image.boxes_confirmed
    statuses = dict(Person.objects.filter(image=image).values_list("x1", "box_status"))
    # The annotated old person is kept for its answer but withdrawn; the unannotated one is gone.
    assert statuses == {10: "withdrawn", 12: "final"}
    new_person = Person.objects.get(image=image, x1=12)
    assert new_person.box_answer.worker == trusted and emotion_pool().filter(pk=new_person.pk).exists()

    unblock_worker(drawer)
    assert dict(Person.objects.filter(image=image).values_list("x1", "box_status")) == {10: "withdrawn", 12: "final"}
    assert answer.pk not in set(exportable_annotations().values_list("pk", flat=True))


def test_imported_people_and_other_workers_drawings_are_untouched_by_a_block(drawn_image):
    _, drawer, _ = drawn_image
    imported = PersonFactory(image=ImageFactory(split="train"))
    other_image = ImageFactory(boxes_confirmed=False, width=640, height=480)
    draw(WorkerFactory(), other_image, [[5, 5, 100, 100]])
    block_worker(drawer, reason="careless boxes")
    assert Person.objects.get(pk=imported.pk).box_status == "final"
    assert set(Person.objects.filter(image=other_image).values_list("box_status", flat=True)) == {"final"}
    assert Image.objects.get(pk=other_image.pk).boxes_confirmed


def test_the_next_worker_drawing_a_reopened_image_is_not_shown_the_blocked_workers_boxes(drawn_image):
    image, drawer, _ = drawn_image
    imported = PersonFactory(image=image, x1=400, y1=10, x2=500, y2=100, box_origin="imported")
    block_worker(drawer, reason="careless boxes")
    task = TaskAssignmentFactory(boxes=True, worker=WorkerFactory(), image=image)
    assert task_view(task).suggested_boxes == [list(imported.box)]


def test_the_review_page_says_why_an_answer_about_an_excluded_person_does_not_count(drawn_image):
    image, drawer, answer = drawn_image
    block_worker(drawer, reason="careless boxes")
    (view,) = [a for p in image_review(image).people for a in p.answers if a.annotation.pk == answer.pk]
    assert view.not_counted == "box drawn by a blocked worker"


def test_other_workers_live_tasks_on_the_excluded_people_end_with_the_block(drawn_image):
    image, drawer, _ = drawn_image
    person = Person.objects.get(image=image, x1=300)
    elsewhere = TaskAssignmentFactory(person=PersonFactory(image=ImageFactory(split="train")))
    live = TaskAssignmentFactory(person=person)
    block_worker(drawer, reason="careless boxes")
    live.refresh_from_db()
    elsewhere.refresh_from_db()
    assert live.state == "expired" and elsewhere.state == "assigned"
    with pytest.raises(TaskNotOpen, match="expired"):
        submit_task(live.worker, live.pk, uuid.uuid4(), ANSWER)
