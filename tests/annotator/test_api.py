"""The worker API: shapes, every validation rule, who sees what."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone
from rest_framework.test import APIClient

from annotator.models import ApiToken, BoxAnnotation, EmotionAnnotation, TaskAssignment
from annotator.services.assignment import RETRY_AFTER_DONE, RETRY_AFTER_LATER, expire_stale_assignments
from annotator.services.workers import create_api_token
from tests.factories import (
    GoldItemFactory,
    ImageFactory,
    PersonFactory,
    TaskAssignmentFactory,
    WorkerFactory,
    expired_deadline,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_hidden_controls")]

NEXT = "/api/tasks/next/"
MAX_BOXES = django_settings.MAX_BOXES_PER_IMAGE
HISTORY = "/api/history/"
TASK_FIELDS = {
    "id",
    "kind",
    "qualification",
    "image",
    "ahead",
    "extendable_until",
    "image_url",
    "original_image_url",
    "image_width",
    "image_height",
    "person_box",
    "suggested_boxes",
    "expires_at",
}


def emotions(**changes):
    return {
        "submission_id": str(uuid.uuid4()),
        "categories": ["Engagement", "Doubt/Confusion"],
        "valence": 4,
        "arousal": 6,
        "dominance": 3,
        "gender": "Male",
        "age": "Kid",
        "seconds_spent": 9.5,
        **changes,
    }


def submit_url(task_id):
    return f"/api/tasks/{task_id}/submit/"


def test_next_gives_an_emotions_task_with_the_person_box(client_for):
    person = PersonFactory(x1=10, y1=20, x2=200, y2=400)
    response = client_for().get(NEXT)
    assert response.status_code == 200
    task = response.json()
    assert set(task) == TASK_FIELDS
    assert (task["kind"], task["person_box"], task["suggested_boxes"]) == ("emotions", [10, 20, 200, 400], [])
    assert (task["image_width"], task["image_height"], task["qualification"]) == (640, 480, False)
    # The photo by its identity (the same URL in every task showing it), the original through the task.
    sha256 = person.image.sha256
    assert task["image"] == {
        "id": sha256, "url": f"/api/images/{sha256}/1024.webp", "width": 640, "height": 480,
        "srcset": f"/api/images/{sha256}/512.webp 512w, /api/images/{sha256}/1024.webp 640w",
    }
    assert task["image_url"] == task["image"]["url"]
    assert task["original_image_url"] == f"/api/tasks/{task['id']}/image/?size=original"
    assert TaskAssignment.objects.get(pk=task["id"]).person == person


def test_next_gives_a_boxes_task_with_the_imported_boxes_to_confirm(client_for):
    image = ImageFactory(boxes_confirmed=False)
    PersonFactory(image=image, x1=5, y1=6, x2=50, y2=60)
    task = client_for().get(NEXT).json()
    assert (task["kind"], task["person_box"], task["suggested_boxes"]) == ("boxes", None, [[5, 6, 50, 60]])


def test_next_says_no_content_when_the_pool_is_empty(client_for):
    response = client_for().get(NEXT)
    assert response.status_code == 204
    assert response.content == b""
    # Nothing is left for this worker: stop asking (a program that keeps asking is told to wait an hour).
    assert response.headers["Work-Outlook"] == "done"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_DONE)


def test_next_says_when_to_ask_again_while_others_hold_the_work(client_for):
    person = PersonFactory()
    TaskAssignmentFactory(person=person)  # another worker holds its only slot
    client = client_for()
    response = client.get(NEXT)
    assert (response.status_code, response.content) == (204, b"")
    assert response.headers["Work-Outlook"] == "later"
    assert response.headers["Retry-After"] == str(RETRY_AFTER_LATER)
    expire_stale_assignments(now=timezone.now() + expired_deadline())
    task = client.get(NEXT).json()
    assert TaskAssignment.objects.get(pk=task["id"]).person == person


def test_the_schema_documents_the_headers_of_no_task(client_for):
    schema = client_for().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    no_task = schema["paths"][NEXT]["get"]["responses"]["204"]
    assert "content" not in no_task
    headers = no_task["headers"]
    assert headers["Retry-After"]["required"] is True
    assert headers["Retry-After"]["schema"] == {"type": "integer", "minimum": 0}
    assert headers["Work-Outlook"]["required"] is True
    assert sorted(headers["Work-Outlook"]["schema"]["enum"]) == ["done", "later"]


def test_a_blocked_worker_is_told_why(client_for):
    response = client_for(WorkerFactory(blocked=True)).get(NEXT)
    assert response.status_code == 403
    assert response.json()["code"] == "blocked"
    assert "failed too many control items" in response.json()["detail"]


def test_a_hidden_control_looks_exactly_like_real_work(client_for, settings):
    PersonFactory()
    real = client_for().get(NEXT).json()
    settings.GOLD_RATE, settings.GOLD_BLOCK_SIZE = 1.0, 1
    GoldItemFactory()
    control_client = client_for()
    control = control_client.get(NEXT).json()
    assert TaskAssignment.objects.get(pk=control["id"]).gold_item is not None
    assert set(control) == set(real) == TASK_FIELDS
    assert {k: type(v) for k, v in control.items()} == {k: type(v) for k, v in real.items()}
    assert control["image"]["url"] == f"/api/images/{control['image']['id']}/1024.webp"
    response = control_client.post_json(submit_url(control["id"]), emotions(categories=["Anger"]))
    assert response.status_code == 201
    assert set(response.json()) == {"task_id", "state", "stored", "submitted_today", "submitted_total"}
    history = control_client.get("/api/history/").json()["results"]
    assert "gold" not in str(history).lower() and "passed" not in str(history).lower()


def test_submit_stores_the_answer_and_moves_the_counter(client_for):
    PersonFactory()
    client = client_for()
    task = client.get(NEXT).json()
    response = client.post_json(submit_url(task["id"]), emotions())
    assert response.status_code == 201
    assert response.json() == {
        "task_id": task["id"],
        "state": "submitted",
        "stored": True,
        "submitted_today": 1,
        "submitted_total": 1,
    }
    stored = EmotionAnnotation.objects.get()
    assert stored.categories == ["Doubt/Confusion", "Engagement"]
    assert (stored.valence, stored.arousal, stored.dominance, stored.gender, stored.age) == (4, 6, 3, "Male", "Kid")


def test_a_resent_submission_is_stored_once(client_for):
    PersonFactory()
    client = client_for()
    task = client.get(NEXT).json()
    body = emotions()
    first = client.post_json(submit_url(task["id"]), body)
    again = client.post_json(submit_url(task["id"]), body)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.json()["stored"] is False and again.json()["submitted_total"] == 1
    assert EmotionAnnotation.objects.count() == 1


def test_boxes_are_submitted_as_pixel_lists(client_for):
    ImageFactory(boxes_confirmed=False)
    client = client_for()
    task = client.get(NEXT).json()
    body = {"submission_id": str(uuid.uuid4()), "boxes": [[0, 0, 640, 480], [10, 10, 20, 30]]}
    assert client.post_json(submit_url(task["id"]), body).status_code == 201
    assert BoxAnnotation.objects.get().boxes == [[0, 0, 640, 480], [10, 10, 20, 30]]


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"categories": ["Happiness", "Joy"]}, "categories", "unknown category 'Joy'"),
        ({"categories": []}, "categories", "at least one"),
        ({"categories": None}, "categories", "null"),
        ({"valence": 0}, "valence", "from 1 to 10"),
        ({"arousal": 11}, "arousal", "from 1 to 10"),
        ({"dominance": "high"}, "dominance", "valid integer"),
        ({"valence": 7.5}, "valence", "valid integer"),
        ({"gender": "Unknown"}, "gender", "Male, Female"),
        ({"age": "Elder"}, "age", "Kid, Teenager, Adult"),
        ({"submission_id": "not-a-uuid"}, "submission_id", "UUID"),
        ({"seconds_spent": -1}, "seconds_spent", "from 0"),
        ({"seconds_spent": 24 * 3600 + 0.5}, "seconds_spent", "from 0 to 86400, got 86400.5"),
    ],
)
def test_each_bad_emotions_field_gets_a_400_naming_it(client_for, changes, field, words):
    PersonFactory()
    client = client_for()
    task = client.get(NEXT).json()
    response = client.post_json(submit_url(task["id"]), emotions(**changes))
    assert response.status_code == 400
    body = response.json()
    assert field in body["errors"], body
    assert words in " ".join(body["errors"][field]), body
    assert body["detail"].startswith(field)
    assert not EmotionAnnotation.objects.exists()
    assert TaskAssignment.objects.get().state == "assigned"


@pytest.mark.parametrize("missing", ["valence", "arousal", "dominance", "gender", "age", "categories", "submission_id"])
def test_each_missing_emotions_field_gets_a_400_naming_it(client_for, missing):
    PersonFactory()
    client = client_for()
    task = client.get(NEXT).json()
    body = emotions()
    del body[missing]
    response = client.post_json(submit_url(task["id"]), body)
    assert response.status_code == 400
    assert missing in response.json()["errors"]
    assert not EmotionAnnotation.objects.exists()


def boxes_answer(**changes):
    return {"submission_id": str(uuid.uuid4()), "boxes": [[10, 10, 50, 50]], **changes}


def post_raw(client, path, raw):
    """``raw`` sent as it is, as an application/json body."""
    return client.post(path, raw, content_type="application/json", HTTP_X_CSRFTOKEN=client.csrf_token)


def assert_refused(response, status, field, words):
    """A 4xx whose body names ``field`` and says why, in both the detail and the errors."""
    assert response.status_code == status, response.content
    body = response.json()
    assert field in body["errors"], body
    assert words in " ".join(body["errors"][field]), body
    assert body["detail"].startswith(f"{field}: "), body


@pytest.mark.parametrize(
    ("changes", "field", "words"),
    [
        ({"boxes": [[600, 10, 641, 50]]}, "boxes[0]", "outside the image"),
        ({"boxes": [[10, 10, 50, 50], [10, 470, 50, 481]]}, "boxes[1]", "outside the image"),
        ({"boxes": [[10, 10, 10, 50]]}, "boxes[0]", "no area"),
        ({"boxes": [[-5, -5, 50, 50]]}, "boxes[0]", "[-5, -5, 50, 50] lies outside the image (640 x 480 pixels)"),
        ({"boxes": [[-1, 10, 50, 50]]}, "boxes[0]", "outside the image"),
        ({"boxes": [[10, 10, 50, 50], [10, -1, 50, 50]]}, "boxes[1]", "outside the image"),
        ({"boxes": [[50, 60, 10, 20]]}, "boxes[0]", "[50, 60, 10, 20] has no area: need x1 < x2 and y1 < y2"),
        ({"boxes": [[10, 10, 50, 50], [50, 10, 10, 50]]}, "boxes[1]", "no area: need x1 < x2"),
        ({"boxes": [[10, 50, 50, 10]]}, "boxes[0]", "no area: need x1 < x2 and y1 < y2"),
        ({"boxes": [[10, 10, 50]]}, "boxes[0]", "four integer"),
        ({"boxes": [[10, 10, 50.5, 60]]}, "boxes[0][2]", "valid integer"),
        ({"boxes": []}, "boxes", "at least one box"),
        ({"no_people": True}, "no_people", "cannot be true when boxes are drawn"),
        ({"no_people": "maybe"}, "no_people", "valid boolean"),
        ({"no_people": 2}, "no_people", "valid boolean"),
        ({"no_people": "yes"}, "no_people", "valid boolean"),
        ({"no_people": 1}, "no_people", "valid boolean"),
        ({"no_people": None}, "no_people", "may not be null"),
        ({"boxes": [[1, 1, 19, 19], [5, 5, 20, 20], [1, 1, 19, 19]]}, "boxes[2]", "same box as boxes[0]"),
        ({"boxes": [[x, 0, x + 1, 1] for x in range(MAX_BOXES + 1)]}, "boxes", f"at most {MAX_BOXES} boxes, got"),
        ({"seconds_spent": 24 * 3600 + 1}, "seconds_spent", "from 0 to 86400"),
    ],
)
def test_each_bad_box_answer_gets_a_400_naming_it_and_changes_nothing(client_for, changes, field, words):
    image = ImageFactory(boxes_confirmed=False)
    client = client_for()
    task = client.get(NEXT).json()
    assert_refused(client.post_json(submit_url(task["id"]), boxes_answer(**changes)), 400, field, words)
    assert not BoxAnnotation.objects.exists()
    image.refresh_from_db()
    assert (image.boxes_confirmed, image.people.exists()) == (False, False)
    assert TaskAssignment.objects.get().state == "assigned"


def test_as_many_boxes_as_allowed_are_accepted(client_for, settings):
    settings.MAX_BOXES_PER_IMAGE = 3
    settings.MIN_BOX_SIDE_FRACTION, settings.MIN_BOX_SIDE_PIXELS = 0.0, 1  # the boxes below are small
    ImageFactory(boxes_confirmed=False)
    client = client_for()
    task = client.get(NEXT).json()
    boxes = [[1, 1, 9, 9], [5, 5, 20, 20], [30, 30, 60, 60]]
    assert client.post_json(submit_url(task["id"]), boxes_answer(boxes=boxes)).status_code == 201
    assert BoxAnnotation.objects.get().boxes == boxes


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("emotions", emotions(seconds_spent="@"), "seconds_spent"),
        ("boxes", boxes_answer(seconds_spent="@"), "seconds_spent"),
        ("emotions", emotions(valence="@"), "valence"),
        ("boxes", boxes_answer(boxes=[[10, 10, "@", 50]]), "boxes[0][2]"),
    ],
    ids=["emotions seconds_spent", "boxes seconds_spent", "valence", "box coordinate"],
)
def test_a_number_json_cannot_hold_is_refused_naming_its_field(client_for, token, kind, body, field):
    """Python's json reads NaN and Infinity (and 1e999 as infinity); JSON allows none of them."""
    if kind == "emotions":
        PersonFactory()
    else:
        ImageFactory(boxes_confirmed=False)
    client = client_for()
    task = client.get(NEXT).json()
    raw = json.dumps(body).replace('"@"', token)
    assert token in raw
    assert_refused(post_raw(client, submit_url(task["id"]), raw), 400, field, "finite number")
    assert not EmotionAnnotation.objects.exists() and not BoxAnnotation.objects.exists()
    assert TaskAssignment.objects.get().state == "assigned"


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [("NaN", "body", "finite number, got NaN"), ("[" * 5000 + "]" * 5000, "body", "nested too deeply")],
    ids=["a bare NaN", "deep nesting"],
)
def test_a_body_the_api_cannot_read_is_a_400_naming_the_body_not_a_crash(client_for, raw, field, words):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    assert_refused(post_raw(client, submit_url(task.pk), raw), 400, field, words)
    assert not EmotionAnnotation.objects.exists()


@pytest.mark.parametrize("other_worker", [False, True], ids=["own task", "another workers task"])
def test_a_submission_id_already_used_for_another_task_is_409_and_changes_nothing(client_for, other_worker):
    client = client_for()
    first = TaskAssignmentFactory(worker=WorkerFactory() if other_worker else client.worker)
    second = TaskAssignmentFactory(worker=client.worker)
    used = emotions(valence=2)
    first_client = client_for(first.worker) if other_worker else client
    assert first_client.post_json(submit_url(first.pk), used).status_code == 201
    response = client.post_json(submit_url(second.pk), emotions(submission_id=used["submission_id"], valence=9))
    assert_refused(response, 409, "submission_id", "already used for a different task")
    assert response.json()["code"] == "submission_conflict"
    assert list(EmotionAnnotation.objects.values_list("assignment", "valence")) == [(first.pk, 2)]
    second.refresh_from_db()
    client.worker.refresh_from_db()
    assert (second.state, second.finished_at) == ("assigned", None)
    assert client.worker.tasks_submitted == (0 if other_worker else 1)


@pytest.mark.parametrize("action", ["skip", "report"])
def test_a_reason_longer_than_300_characters_is_refused_and_changes_nothing(client_for, action):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    response = client.post_json(f"/api/tasks/{task.pk}/{action}/", {"reason": "x" * 301})
    assert_refused(response, 400, "reason", "no more than 300 characters")
    task.refresh_from_db()
    task.person.image.refresh_from_db()
    task.person.refresh_from_db()
    assert (task.state, task.skip_reason, task.finished_at) == ("assigned", "", None)
    assert (task.person.image.reported_count, task.person.annotation_slots_taken) == (0, 1)
    accepted = client.post_json(f"/api/tasks/{task.pk}/{action}/", {"reason": "y" * 300})
    assert accepted.status_code == 200
    task.refresh_from_db()
    assert task.skip_reason == "y" * 300


def test_submitting_another_workers_task_is_404_and_changes_nothing(client_for):
    task = TaskAssignmentFactory()
    response = client_for().post_json(submit_url(task.pk), emotions())
    assert response.status_code == 404
    assert response.json()["errors"] == {"task": [f"no task {task.pk} is assigned to you"]}
    assert not EmotionAnnotation.objects.exists()


def past_its_deadline(task):
    """The task's deadline passed; the expiry beat has not run yet, so its row still reads assigned."""
    TaskAssignment.objects.filter(pk=task.pk).update(
        assigned_at=timezone.now() - 2 * expired_deadline(), expires_at=timezone.now() - expired_deadline()
    )


def stored_state(task):
    """What a refused request must leave as it was: the task, its person's slot and image, answers, the counter."""
    task = TaskAssignment.objects.select_related("person__image", "worker").get(pk=task.pk)
    return {
        "task": (task.state, task.finished_at, task.skip_reason, task.expires_at),
        "slots_taken": task.person.annotation_slots_taken,
        "reported_count": task.person.image.reported_count,
        "answers": list(EmotionAnnotation.objects.values_list("assignment", "submission_id", "valence")),
        "tasks_submitted": task.worker.tasks_submitted,
    }


def test_submitting_an_expired_task_is_409_and_changes_nothing(client_for):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    past_its_deadline(task)
    before = stored_state(task)
    response = client.post_json(submit_url(task.pk), emotions())
    assert_refused(response, 409, "task", "expired: it was not submitted in time")
    assert response.json()["code"] == "task_closed"
    assert stored_state(task) == before
    assert before["task"][0] == "assigned" and before["answers"] == []


@pytest.mark.parametrize(
    ("close", "body", "words"),
    [("skip", {"reason": "too dark"}, "was skipped"), ("report", {"reason": "a cartoon"}, "was reported as a bad image")],
)
def test_submitting_a_skipped_or_reported_task_is_409_with_the_reason_and_changes_nothing(client_for, close, body, words):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    assert client.post_json(f"/api/tasks/{task.pk}/{close}/", body).status_code == 200
    before = stored_state(task)
    response = client.post_json(submit_url(task.pk), emotions())
    assert_refused(response, 409, "task", words)
    assert response.json()["code"] == "task_closed"
    assert stored_state(task) == before
    assert before["answers"] == [] and before["tasks_submitted"] == 0


def submitted(client, task):
    assert client.post_json(submit_url(task.pk), emotions(valence=2)).status_code == 201


def skipped(client, task):
    assert client.post_json(f"/api/tasks/{task.pk}/skip/", {"reason": "too dark"}).status_code == 200


def reported(client, task):
    assert client.post_json(f"/api/tasks/{task.pk}/report/", {"reason": "a cartoon"}).status_code == 200


def returned_to_the_pool(client, task):
    past_its_deadline(task)
    assert expire_stale_assignments() == 1


@pytest.mark.parametrize("action", ["skip", "report"])
@pytest.mark.parametrize(
    ("close", "words"),
    [
        (lambda client, task: past_its_deadline(task), "expired: it was not submitted in time"),
        (returned_to_the_pool, "expired: it was not submitted in time"),
        (submitted, "was already submitted"),
    ],
    ids=["past its deadline", "expired by the beat", "already submitted"],
)
def test_skipping_or_reporting_a_task_no_longer_open_is_409_with_the_reason_and_changes_nothing(
    client_for, action, close, words
):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    close(client, task)
    before = stored_state(task)
    response = client.post_json(f"/api/tasks/{task.pk}/{action}/", {"reason": "a cartoon"})
    assert_refused(response, 409, "task", words)
    assert response.json()["code"] == "task_closed"
    assert stored_state(task) == before


@pytest.mark.parametrize(
    ("close", "action", "words"),
    [(skipped, "report", "was skipped"), (reported, "skip", "was reported as a bad image")],
    ids=["report a skipped task", "skip a reported task"],
)
def test_a_skipped_task_cannot_be_reported_nor_a_reported_one_skipped(client_for, close, action, words):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    close(client, task)
    before = stored_state(task)
    assert_refused(client.post_json(f"/api/tasks/{task.pk}/{action}/", {"reason": "other"}), 409, "task", words)
    assert stored_state(task) == before


@pytest.mark.parametrize("action", ["skip", "report"])
def test_skipping_or_reporting_another_workers_task_is_404_and_changes_nothing(client_for, action):
    task = TaskAssignmentFactory()
    before = stored_state(task)
    response = client_for().post_json(f"/api/tasks/{task.pk}/{action}/", {"reason": "a cartoon"})
    assert_refused(response, 404, "task", f"no task {task.pk} is assigned to you")
    assert stored_state(task) == before
    assert before["task"][0] == "assigned" and before["slots_taken"] == 1


def test_a_second_answer_to_a_submitted_task_is_409_and_the_first_stays(client_for):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    client.post_json(submit_url(task.pk), emotions(valence=2))
    response = client.post_json(submit_url(task.pk), emotions(valence=9))
    assert response.status_code == 409
    assert EmotionAnnotation.objects.get().valence == 2


def test_skip_and_report(client_for):
    PersonFactory.create_batch(2)
    client = client_for()
    first = client.get(NEXT).json()
    assert client.post_json(f"/api/tasks/{first['id']}/skip/", {}).json()["state"] == "skipped"
    second = client.get(NEXT).json()
    refused = client.post_json(f"/api/tasks/{second['id']}/report/", {"reason": ""})
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    reported = client.post_json(f"/api/tasks/{second['id']}/report/", {"reason": "it is a painting"})
    assert reported.json() == {"task_id": second["id"], "state": "reported"}


def test_a_post_without_the_csrf_token_is_refused_for_the_session(client_for):
    PersonFactory()
    client = client_for()
    task = client.get(NEXT).json()
    response = client.post(submit_url(task["id"]), emotions(), format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]
    assert not EmotionAnnotation.objects.exists()


def test_anonymous_callers_get_nothing():
    PersonFactory()
    assert APIClient().get(NEXT).status_code == 401
    assert not TaskAssignment.objects.exists()


def test_programs_use_a_token_without_csrf():
    PersonFactory()
    worker = WorkerFactory(api_access=True)
    _, key = create_api_token(worker, "my bridge")
    program = APIClient(enforce_csrf_checks=True)
    program.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    task = program.get(NEXT).json()
    response = program.post(submit_url(task["id"]), emotions(), format="json")
    assert response.status_code == 201
    assert EmotionAnnotation.objects.get().worker == worker
    worker.api_tokens.get().refresh_from_db()
    assert worker.api_tokens.get().last_used_at is not None


def test_a_token_records_its_use_to_the_minute_without_writing_on_every_request():
    PersonFactory()
    worker = WorkerFactory(api_access=True)
    token, key = create_api_token(worker, "busy program")
    program = APIClient()
    program.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    program.get(HISTORY)
    first_use = ApiToken.objects.get(pk=token.pk).last_used_at
    assert first_use is not None
    program.get(HISTORY)
    assert ApiToken.objects.get(pk=token.pk).last_used_at == first_use  # within the minute: not rewritten
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first_use - timedelta(minutes=2))
    program.get(HISTORY)
    assert ApiToken.objects.get(pk=token.pk).last_used_at > first_use


def test_an_unknown_token_is_refused():
    program = APIClient()
    program.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = program.get(NEXT)
    assert response.status_code == 401
    assert "unknown or revoked token" in response.json()["detail"]


def test_history_shows_only_the_workers_own_finished_tasks(client_for):
    mine = client_for()
    theirs = TaskAssignmentFactory()
    own = TaskAssignmentFactory(worker=mine.worker)
    mine.post_json(submit_url(own.pk), emotions())
    theirs_client = client_for(theirs.worker)
    theirs_client.post_json(submit_url(theirs.pk), emotions())
    results = mine.get("/api/history/").json()["results"]
    assert [entry["id"] for entry in results] == [own.pk]
    assert results[0]["categories"] == ["Doubt/Confusion", "Engagement"]


def test_me_reports_state_and_counter(client_for):
    body = client_for(WorkerFactory(pending=True)).get("/api/me/").json()
    assert body["qualification"] == "pending"
    assert set(body["counter"]) == {"submitted_today", "submitted_total", "qualification_answered", "qualification_size"}


def test_the_schema_documents_the_worker_api_and_its_page_needs_no_cdn(client_for):
    client = client_for()
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    for path in ("/api/tasks/next/", "/api/tasks/{task_id}/submit/", "/api/tasks/{task_id}/skip/", "/api/history/"):
        assert path in schema["paths"], path
    submission = schema["components"]["schemas"]["Submission"]["properties"]
    assert {"submission_id", "categories", "valence", "boxes"} <= set(submission)
    assert "workerToken" in schema["components"]["securitySchemes"]
    docs = client.get("/api/docs/").content.decode()
    assert "cdn" not in docs.lower() and "/static/drf_spectacular_sidecar/" in docs


def test_the_schema_is_valid_openapi_without_warnings(tmp_path):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))
    assert "/api/tasks/{task_id}/report/" in (tmp_path / "schema.yaml").read_text()


def test_history_pages_are_cut_to_the_largest_limit_and_a_huge_one_is_no_server_error(client_for):
    client = client_for()
    for _ in range(3):
        task = TaskAssignmentFactory(worker=client.worker)
        client.post_json(submit_url(task.pk), emotions())
    page = client.get(f"{HISTORY}?limit=402880901710299398144").json()
    assert (page["count"], len(page["results"])) == (3, 3)
    assert client.get(f"{HISTORY}?limit=2&offset=99999999999999999999999").json()["results"] == []
    assert len(client.get(f"{HISTORY}?limit=2").json()["results"]) == 2
