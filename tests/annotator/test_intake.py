"""Intake: images enter annotation with the people and answers their source gave, each stored once."""

from __future__ import annotations


import pytest
from PIL import Image as PILImage

from annotator.models import EmotionAnnotation, Person
from annotator.services.intake import receive_image, receive_original_answers
from catalog.ingest import ingest_image_bytes
from catalog.models import Source
from tests.annotator.assignment_race import run_together
from tests.catalog.images import encode, jpeg, photo
from tests.factories import ImageFactory

pytestmark = pytest.mark.django_db
ANSWER = {"categories": ["Peace"], "valence": 6, "arousal": 3, "dominance": 7, "gender": "Female", "age": "Adult"}


@pytest.fixture(autouse=True)
def small_images_accepted(settings):
    settings.SCRAPER_MIN_IMAGE_SIDE = 64


def test_the_same_box_from_two_sources_is_the_same_person(folder_source):
    coco = Source.objects.create(kind=Source.Kind.DATASET, name="coco", dataset="mscoco")
    first = ingest_image_bytes(jpeg(13), source=coco, filename="", original_database="mscoco",
                               people_boxes=[(10, 10, 100, 200)])
    second = ingest_image_bytes(jpeg(13), source=folder_source, filename="", original_database="web",
                                people_boxes=[(10, 10, 100, 200), (150, 20, 300, 230)])
    first_people = receive_image(first.image, first.people_boxes)
    second_people = receive_image(second.image, second.people_boxes)
    assert second_people[0] == first_people[0]  # the same box is the same person
    assert sorted(p.box for p in Person.objects.all()) == [(10, 10, 100, 200), (150, 20, 300, 230)]


def test_imported_people_are_turned_with_the_image(folder_source):
    exif = PILImage.Exif()
    exif[0x0112] = 6  # stored rotated: viewers turn it 90 degrees clockwise
    data = encode(photo(17, (300, 200)), "JPEG", exif=exif.tobytes())
    result = ingest_image_bytes(data, source=folder_source, filename="", original_database="web",
                                people_boxes=[(20, 30, 90, 80)])
    (person,) = receive_image(result.image, result.people_boxes)
    assert person.box_origin == Person.BoxOrigin.IMPORTED
    assert person.box == (120, 20, 170, 90)
    assert (person.image_width, person.image_height) == (200, 300)


def test_a_trusted_datasets_boxes_end_the_box_stage():
    image = ImageFactory(boxes_confirmed=False)
    receive_image(image, [(10, 10, 100, 200)], boxes_final=True)
    image.refresh_from_db()
    assert image.boxes_confirmed


def test_boxes_that_are_not_final_leave_the_box_stage_open_with_suggestions():
    image = ImageFactory(boxes_confirmed=False)
    (person,) = receive_image(image, [(10, 10, 100, 200)])
    image.refresh_from_db()
    assert not image.boxes_confirmed and person.box_status == Person.BoxStatus.FINAL


def test_trusted_boxes_wait_for_workers_already_drawing_the_image():
    image = ImageFactory(boxes_confirmed=False, box_slots_taken=1)
    receive_image(image, [(10, 10, 100, 200)], boxes_final=True)
    image.refresh_from_db()
    assert not image.boxes_confirmed


def test_no_boxes_change_nothing():
    image = ImageFactory(boxes_confirmed=False)
    assert receive_image(image, [], boxes_final=True) == ()
    image.refresh_from_db()
    assert not image.boxes_confirmed and not Person.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_imports_of_the_same_box_at_the_same_moment_make_one_person():
    image = ImageFactory(boxes_confirmed=False)
    made = run_together(list(range(4)), lambda _: [(p.pk, 0) for p in receive_image(image, [(10, 10, 100, 200)])])
    assert len({person_id for person_id, _ in made}) == 1
    assert Person.objects.filter(image=image).count() == 1


def test_original_answers_are_stored_once_and_unusable_ones_noted():
    image = ImageFactory()
    people = receive_image(image, [(10, 10, 100, 200), (150, 20, 300, 230)])
    answers = [[ANSWER, {**ANSWER, "categories": []}], [{**ANSWER, "valence": None}]]
    notes = receive_original_answers(people, answers)
    assert notes == [
        "people[0].answers[1] not imported: categories: none given",
        "people[1].answers[0] not imported: valence: must be an integer from 1 to 10, got None",
    ]
    assert receive_original_answers(people, answers) == notes  # a re-import stores nothing twice
    (stored,) = EmotionAnnotation.objects.all()
    assert stored.person == people[0] and stored.worker.user.username == "emotic-original-1"
    assert not stored.worker.user.is_active and not stored.worker.user.has_usable_password()
    people[0].refresh_from_db()
    assert people[0].annotation_slots_taken == 1  # an original answer counts towards the person's annotators
