"""Box answers: a minimum box size and a maximum count, so one answer cannot fill the emotion pool with specks."""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings as django_settings

from annotator.models import BoxAnnotation, Person
from annotator.services.boxes import settle_image_boxes
from annotator.services.errors import AnswerInvalid
from annotator.services.submission import submit_task
from tests.factories import BoxAnnotationFactory, ImageFactory, TaskAssignmentFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_hidden_controls")]

SPECKS = [[x, 0, x + 1, 1] for x in range(0, 200, 2)]  # 100 one-pixel boxes


def refused(task, boxes) -> AnswerInvalid:
    with pytest.raises(AnswerInvalid) as raised:
        submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": boxes})
    assert not BoxAnnotation.objects.exists() and not Person.objects.filter(image=task.image).exists()
    return raised.value


def test_the_default_limits_are_sane():
    assert django_settings.MAX_BOXES_PER_IMAGE == 30
    assert (django_settings.MIN_BOX_SIDE_FRACTION, django_settings.MIN_BOX_SIDE_PIXELS) == (0.02, 8)


def test_one_answer_of_a_hundred_one_pixel_boxes_makes_no_people():
    task = TaskAssignmentFactory(boxes=True)
    error = refused(task, SPECKS)
    assert (error.field, error.reason) == ("boxes", "at most 30 boxes, got 100")


def test_a_box_under_the_minimum_size_is_refused_by_its_place(settings):
    settings.MAX_BOXES_PER_IMAGE = 200
    task = TaskAssignmentFactory(boxes=True)  # 640 x 480: each side at least 2 % of 480, rounded up: 10 pixels
    error = refused(task, [[10, 20, 200, 400], [300, 40, 640, 480], [250, 100, 290, 200], [400, 400, 405, 409]])
    assert error.field == "boxes[3]"
    assert error.reason == (
        "[400, 400, 405, 409] is too small (5 x 9 pixels): each side must be at least 10 pixels in this 640 x 480 image"
    )
    assert refused(task, SPECKS).field == "boxes[0]"


def test_the_minimum_follows_the_settings(settings):
    settings.MIN_BOX_SIDE_FRACTION, settings.MIN_BOX_SIDE_PIXELS = 0.1, 8  # 48 pixels of 480
    task = TaskAssignmentFactory(boxes=True)
    assert "at least 48 pixels" in refused(task, [[0, 0, 100, 47]]).reason
    settings.MIN_BOX_SIDE_FRACTION, settings.MIN_BOX_SIDE_PIXELS = 0.0, 20  # the floor alone
    assert "at least 20 pixels" in refused(task, [[0, 0, 100, 19]]).reason
    submit_task(task.worker, task.pk, uuid.uuid4(), {"boxes": [[0, 0, 20, 20]]})
    assert [p.box for p in Person.objects.filter(image=task.image)] == [(0, 0, 20, 20)]


def test_the_api_names_the_box_that_is_too_small(client_for):
    ImageFactory(boxes_confirmed=False)
    client = client_for()
    task = client.get("/api/tasks/next/").json()
    body = {"submission_id": str(uuid.uuid4()), "boxes": [[10, 20, 200, 400], [0, 0, 640, 480], [5, 5, 20, 20], [1, 1, 3, 3]]}
    response = client.post_json(f"/api/tasks/{task['id']}/submit/", body)
    assert response.status_code == 400
    assert response.json()["detail"].startswith("boxes[3]: [1, 1, 3, 3] is too small (2 x 2 pixels)")
    assert list(response.json()["errors"]) == ["boxes[3]"]


def test_settlement_makes_no_person_from_a_speck_stored_before_the_rule():
    image = ImageFactory(boxes_confirmed=False)
    BoxAnnotationFactory(image=image, boxes=[[10, 20, 200, 400], *SPECKS])  # written directly, as an old answer was
    assert settle_image_boxes(image)
    assert [p.box for p in Person.objects.filter(image=image)] == [(10, 20, 200, 400)]
