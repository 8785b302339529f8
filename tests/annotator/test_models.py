"""The dataset's invariants hold in the database itself, on PostgreSQL and on SQLite.

Rows are written with the ORM's low-level create(), bypassing forms and
services, so only the database constraints stand between a bad row and the data.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from annotator.models import BoxAnnotation, EmotionAnnotation, GoldItem, Person, TaskAssignment, Worker
from catalog.models import Image
from emotic.taxonomy import categories_to_mask
from tests.factories import GoldItemFactory, ImageFactory
from emotic_export.models import DatasetSnapshot
from catalog.models import Source
from training.models import TrainingRun

ENGINES = ["default", "sqlite"]
pytestmark = pytest.mark.django_db(databases=ENGINES)


@pytest.fixture(params=ENGINES)
def db_alias(request):
    return request.param


def make_image(alias: str, n: int = 1, **overrides) -> Image:
    source = Source.objects.using(alias).create(kind="folder", name="fixtures")
    fields = dict(
        source=source,
        storage_key=f"images/{n:064x}.jpg",
        sha256=f"{n:064x}",
        phash="0" * 16,
        width=640,
        height=480,
        format="JPEG",
        original_database="web",
        filename=f"{n}.jpg",
        fetched_at=timezone.now(),
    )
    fields.update(overrides)
    return Image.objects.using(alias).create(**fields)


def make_person(alias: str, image: Image, box=(10, 20, 110, 220)) -> Person:
    x1, y1, x2, y2 = box
    return Person.objects.using(alias).create(image=image, x1=x1, y1=y1, x2=x2, y2=y2, box_origin="imported")


def make_worker(alias: str, name: str = "ann") -> Worker:
    user = get_user_model().objects.db_manager(alias).create_user(username=name, password="x")
    return Worker.objects.using(alias).create(user=user)


def emotion(alias: str, person: Person, worker: Worker, **overrides) -> EmotionAnnotation:
    fields = dict(
        person=person,
        worker=worker,
        categories_mask=categories_to_mask(["Happiness"]),
        valence=7,
        arousal=5,
        dominance=6,
        gender="Female",
        age="Adult",
        submission_id=uuid.uuid4(),
    )
    fields.update(overrides)
    return EmotionAnnotation.objects.using(alias).create(**fields)


def rejected(alias: str, create) -> bool:
    try:
        with transaction.atomic(using=alias):
            create()
    except IntegrityError:
        return True
    return False


def test_a_valid_annotation_is_stored(db_alias):
    person = make_person(db_alias, make_image(db_alias))
    ann = emotion(db_alias, person, make_worker(db_alias), categories_mask=categories_to_mask(["Peace", "Yearning"]))
    assert ann.categories == ["Peace", "Yearning"]


@pytest.mark.parametrize("field", ["valence", "arousal", "dominance"])
@pytest.mark.parametrize("value", [0, 11])
def test_vad_outside_1_to_10_is_rejected(db_alias, field, value):
    person = make_person(db_alias, make_image(db_alias))
    worker = make_worker(db_alias)
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, **{field: value}))
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, **{field: 10})) is False


def test_an_annotation_needs_at_least_one_category(db_alias):
    person = make_person(db_alias, make_image(db_alias))
    worker = make_worker(db_alias)
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, categories_mask=0))
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, categories_mask=1 << 26))


def test_gender_and_age_must_come_from_the_taxonomy(db_alias):
    person = make_person(db_alias, make_image(db_alias))
    worker = make_worker(db_alias)
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, gender="male"))
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, age="Senior"))


def test_one_annotation_per_worker_per_person(db_alias):
    person = make_person(db_alias, make_image(db_alias))
    worker = make_worker(db_alias)
    emotion(db_alias, person, worker)
    assert rejected(db_alias, lambda: emotion(db_alias, person, worker, valence=3))
    other = make_worker(db_alias, "other")
    assert rejected(db_alias, lambda: emotion(db_alias, person, other)) is False
    assert EmotionAnnotation.objects.using(db_alias).filter(person=person).count() == 2


def test_a_submission_id_is_stored_once(db_alias):
    image = make_image(db_alias)
    first, second = make_person(db_alias, image), make_person(db_alias, image, (200, 20, 300, 220))
    worker = make_worker(db_alias)
    sid = uuid.uuid4()
    emotion(db_alias, first, worker, submission_id=sid)
    assert rejected(db_alias, lambda: emotion(db_alias, second, worker, submission_id=sid))


@pytest.mark.parametrize(
    "box",
    [
        (10, 20, 10, 220),  # zero width
        (10, 20, 110, 20),  # zero height
        (110, 20, 10, 220),  # inverted
        (-1, 20, 110, 220),  # left of the image
        (10, -5, 110, 220),  # above the image
        (10, 20, 641, 220),  # past the right edge (width 640)
        (10, 20, 110, 481),  # past the bottom edge (height 480)
    ],
)
def test_a_person_box_has_positive_area_inside_its_image(db_alias, box):
    image = make_image(db_alias)
    assert rejected(db_alias, lambda: make_person(db_alias, image, box))


def test_a_box_may_touch_the_image_edges(db_alias):
    image = make_image(db_alias)
    person = make_person(db_alias, image, (0, 0, 640, 480))
    assert (person.image_width, person.image_height) == (640, 480)


def test_images_are_unique_by_content_and_have_a_size(db_alias):
    make_image(db_alias, 1)
    assert rejected(db_alias, lambda: make_image(db_alias, 2, sha256=f"{1:064x}"))
    assert rejected(db_alias, lambda: make_image(db_alias, 3, width=0))
    assert rejected(db_alias, lambda: make_image(db_alias, 4, split="dev"))
    assert rejected(db_alias, lambda: make_image(db_alias, 5, sha256="not-hex"))


def test_a_search_source_names_its_engine_and_query(db_alias):
    assert rejected(db_alias, lambda: Source.objects.using(db_alias).create(kind="search_engine", name="x"))
    assert rejected(db_alias, lambda: Source.objects.using(db_alias).create(kind="dataset", name="x"))
    assert rejected(db_alias, lambda: Source.objects.using(db_alias).create(kind="rumour", name="x"))
    ok = Source.objects.using(db_alias).create(kind="search_engine", name="x", engine="bing", query="family picnic")
    assert ok.pk


def test_an_assignment_targets_what_its_kind_needs_and_never_repeats(db_alias):
    image = make_image(db_alias)
    person = make_person(db_alias, image)
    worker = make_worker(db_alias)
    expires = timezone.now() + timedelta(minutes=20)

    def assign(**fields):
        return TaskAssignment.objects.using(db_alias).create(worker=worker, expires_at=expires, **fields)

    assert rejected(db_alias, lambda: assign(kind="emotions", image=image))
    assert rejected(db_alias, lambda: assign(kind="boxes", person=person))
    assert rejected(db_alias, lambda: assign(kind="emotions", person=person, state="lost"))
    assign(kind="emotions", person=person)
    assert rejected(db_alias, lambda: assign(kind="emotions", person=person, state="expired"))
    assign(kind="boxes", image=image)
    assert rejected(db_alias, lambda: assign(kind="boxes", image=image))


def test_a_gold_item_has_acceptable_answers_for_its_kind(db_alias):
    image = make_image(db_alias)
    person = make_person(db_alias, image)
    happy = categories_to_mask(["Happiness"])

    def gold(**fields):
        return GoldItem.objects.using(db_alias).create(**fields)

    assert rejected(db_alias, lambda: gold(kind="emotions", person=person, required_categories_mask=0))
    assert rejected(db_alias, lambda: gold(kind="emotions", image=image, required_categories_mask=happy))
    assert rejected(db_alias, lambda: gold(kind="emotions", person=person, required_categories_mask=happy, valence_min=8, valence_max=3))
    assert rejected(db_alias, lambda: gold(kind="emotions", person=person, required_categories_mask=happy, arousal_max=11))
    assert rejected(db_alias, lambda: gold(kind="boxes", image=image, min_iou=0))
    assert gold(kind="emotions", person=person, required_categories_mask=happy).required_categories == ["Happiness"]


def test_worker_trust_and_box_annotations(db_alias):
    worker = make_worker(db_alias)
    worker.gold_accuracy = 1.5
    assert rejected(db_alias, lambda: worker.save(using=db_alias))
    image = make_image(db_alias)
    BoxAnnotation.objects.using(db_alias).create(image=image, worker=worker, boxes=[[1, 2, 30, 40]])
    assert rejected(db_alias, lambda: BoxAnnotation.objects.using(db_alias).create(image=image, worker=worker, no_people=True))


def test_snapshots_and_training_runs_keep_their_states_valid(db_alias):
    assert rejected(db_alias, lambda: DatasetSnapshot.objects.using(db_alias).create(name="s1", state="done"))
    assert rejected(db_alias, lambda: DatasetSnapshot.objects.using(db_alias).create(name="s2", state="complete"))
    assert rejected(db_alias, lambda: DatasetSnapshot.objects.using(db_alias).create(name="s3", progress=1.5))
    snapshot = DatasetSnapshot.objects.using(db_alias).create(name="s4")
    assert rejected(db_alias, lambda: TrainingRun.objects.using(db_alias).create(snapshot=snapshot, mode="face"))
    assert rejected(db_alias, lambda: TrainingRun.objects.using(db_alias).create(snapshot=snapshot, best_val_map=2.0))
    assert TrainingRun.objects.using(db_alias).create(snapshot=snapshot).state == "queued"


def test_a_box_control_items_expected_boxes_are_checked_against_its_image():
    from django.core.exceptions import ValidationError

    image = ImageFactory(width=100, height=80)
    item = GoldItem(kind="boxes", image=image, expected_boxes=[[10, 10, 50, 70], [0, 0, 10]], required_categories_mask=0)
    with pytest.raises(ValidationError) as refused:
        item.full_clean()
    assert refused.value.message_dict == {
        "expected_boxes": ["expected_boxes[1]: must be four integer pixel coordinates [x1, y1, x2, y2], got [0, 0, 10]"]}
    item.expected_boxes = [[10, 10, 50, 90]]
    with pytest.raises(ValidationError, match=r"expected_boxes\[0\]: \[10, 10, 50, 90\] lies outside the image"):
        item.full_clean()
    item.expected_boxes = [[10, 10, 50, 70]]
    item.full_clean()


def test_the_admin_refuses_a_box_control_item_with_a_malformed_box(admin_client):
    image = ImageFactory(width=100, height=80)
    item = GoldItemFactory(boxes=True, image=image, expected_boxes=[[10, 10, 60, 70]])
    response = admin_client.post(f"/admin/annotator/golditem/{item.pk}/change/", {
        "kind": "boxes", "image": image.pk, "for_control": "on", "other_boxes": "0, 0, 500, 10", "min_iou": 0.5,
        "explanation": "",
    })
    assert response.status_code == 200 and "[0, 0, 500, 10] lies outside the image (100 x 80 pixels)" in response.content.decode()
    item.refresh_from_db()
    assert item.expected_boxes == [[10, 10, 60, 70]]


def test_the_admin_shows_tasks_but_neither_adds_edits_nor_deletes_them(admin_client):
    from tests.factories import TaskAssignmentFactory

    task = TaskAssignmentFactory()
    page = admin_client.get(f"/admin/annotator/taskassignment/{task.pk}/change/").content.decode()
    assert page.count('name="state"') == 0 and task.state in page
    admin_client.post(f"/admin/annotator/taskassignment/{task.pk}/change/", {"state": "submitted"})
    task.refresh_from_db()
    assert task.state == "assigned"
    assert admin_client.get("/admin/annotator/taskassignment/add/").status_code == 403
    assert admin_client.post(f"/admin/annotator/taskassignment/{task.pk}/delete/", {"post": "yes"}).status_code == 403
    assert TaskAssignment.objects.filter(pk=task.pk).exists()
