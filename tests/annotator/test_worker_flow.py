"""Issue 14's worker flow through the API: the task ahead, photos by identity, the task's time (extension,
late answers), a fair qualification (attempts, waiting, reset, skips) and API access granted by admins."""

from __future__ import annotations

import io
import logging
import uuid
from datetime import timedelta

import pytest
from django.contrib import admin
from django.core.files.storage import default_storage
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone
from PIL import Image as PILImage
from rest_framework.test import APIClient

from annotator.models import ApiToken, Person, TaskAssignment, Worker
from annotator.services.assignment import assign_next_task, expire_stale_assignments, next_task
from annotator.services.errors import ApiAccessNotGranted, WorkerNotEligible
from annotator.services.submission import submit_task
from annotator.services.workers import create_api_token
from catalog.renditions import web_rendition_key
from tests.factories import (
    PASSWORD, GoldItemFactory, ImageFactory, PersonFactory, TaskAssignmentFactory, UserFactory, WorkerFactory,
    expired_deadline,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_hidden_controls")]

NEXT_AHEAD = "/api/tasks/next/?include=ahead"
RIGHT = {"categories": ["Happiness"], "valence": 8, "arousal": 6, "dominance": 6, "gender": "Male", "age": "Adult"}
WRONG = {**RIGHT, "categories": ["Anger"]}


def answer(**changes):
    return {"submission_id": str(uuid.uuid4()), **RIGHT, **changes}


def slots(person: Person) -> int:
    person.refresh_from_db()
    return person.annotation_slots_taken


# --- the task ahead ----------------------------------------------------------------------------------


def test_the_next_task_can_bring_the_following_one_which_takes_its_slot(client_for):
    first, second, _ = PersonFactory.create_batch(3)
    client = client_for()
    body = client.get(NEXT_AHEAD).json()
    following = body["following"]
    assert body["ahead"] is False and body["extendable_until"] is not None
    assert following["ahead"] is True and following["extendable_until"] is None
    assert {body["id"], following["id"]} == set(TaskAssignment.objects.values_list("pk", flat=True))
    assert [slots(first), slots(second)] == [1, 1]  # both are counted: nothing is over-allocated
    # Asking again (a reload) hands out nothing more: at most one ahead.
    again = client.get(NEXT_AHEAD).json()
    assert (again["id"], again["following"]["id"]) == (body["id"], following["id"])
    assert TaskAssignment.objects.filter(state="assigned").count() == 2
    # Without include the answer is as before: the current task alone.
    assert "following" not in client.get("/api/tasks/next/").json()


def test_the_task_ahead_becomes_current_with_a_fresh_deadline_once_the_current_one_is_answered(client_for, settings):
    PersonFactory.create_batch(3)
    client = client_for()
    body = client.get(NEXT_AHEAD).json()
    ahead_id = body["following"]["id"]
    TaskAssignment.objects.filter(pk=ahead_id).update(
        assigned_at=timezone.now() - timedelta(minutes=15), expires_at=timezone.now() + timedelta(minutes=5)
    )
    assert client.post_json(f"/api/tasks/{body['id']}/submit/", answer()).status_code == 201
    promoted = client.get(NEXT_AHEAD).json()
    assert promoted["id"] == ahead_id and promoted["ahead"] is False
    ahead = TaskAssignment.objects.get(pk=ahead_id)
    assert ahead.started_at is not None
    assert ahead.expires_at >= ahead.started_at + settings.ASSIGNMENT_TIMEOUT  # its clock starts now
    assert promoted["following"] is not None and promoted["following"]["id"] not in (body["id"], ahead_id)


def test_a_task_held_ahead_too_long_expires_and_its_person_goes_back_to_the_pool(client_for):
    PersonFactory.create_batch(2)
    client = client_for()
    body = client.get(NEXT_AHEAD).json()
    ahead = TaskAssignment.objects.get(pk=body["following"]["id"])
    assert expire_stale_assignments(now=timezone.now() + expired_deadline()) == 2
    ahead.refresh_from_db()
    assert ahead.state == "expired" and slots(ahead.person) == 0


def test_no_task_ahead_during_the_qualification_test(client_for, settings):
    settings.QUALIFICATION_ITEMS = 2
    GoldItemFactory.create_batch(2, for_qualification=True, for_control=False)
    PersonFactory.create_batch(2)
    body = client_for(WorkerFactory(pending=True)).get(NEXT_AHEAD).json()
    assert body["qualification"] is True and body["following"] is None


def test_a_task_ahead_cannot_be_extended_and_a_bad_include_is_named(client_for):
    PersonFactory.create_batch(2)
    client = client_for()
    body = client.get(NEXT_AHEAD).json()
    response = client.post_json(f"/api/tasks/{body['following']['id']}/extend/", {})
    assert response.status_code == 409 and "ahead" in response.json()["errors"]["task"][0]
    bad = client.get("/api/tasks/next/?include=everything")
    assert bad.status_code == 400 and "include" in bad.json()["errors"]


# --- photos by identity ------------------------------------------------------------------------------------


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_a_photo_has_one_url_for_every_task_showing_it_made_once_and_revalidated(client_for, caplog):
    image = ImageFactory(width=1600, height=1200, file=True)
    ada, bob = client_for(), client_for()
    for client in (ada, bob):
        TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))
    urls = [client.get("/api/tasks/next/").json()["image"] for client in (ada, bob)]
    assert urls[0] == urls[1] and urls[0]["id"] == image.sha256
    url = urls[0]["url"]
    assert url == f"/api/images/{image.sha256}/1024.webp"
    with caplog.at_level(logging.INFO, logger="catalog.renditions"):
        first = ada.get(url)
        picture = PILImage.open(io.BytesIO(body_of(first)))
        assert (first.status_code, first["Content-Type"], picture.format, picture.size) == (200, "image/webp", "WEBP", (1024, 768))
        made_at = default_storage.get_modified_time(web_rendition_key(image, 1024))
        second = bob.get(url)  # another worker, the same photo: served from storage
        body_of(second)
    assert [r.getMessage() for r in caplog.records if "made rendition" in r.getMessage()] == [
        f"made rendition {web_rendition_key(image, 1024)} of image {image.pk}"
    ]
    assert default_storage.get_modified_time(web_rendition_key(image, 1024)) == made_at
    assert first["ETag"] == second["ETag"]
    assert "private" in first["Cache-Control"] and "max-age=86400" in first["Cache-Control"]
    revalidated = ada.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert revalidated.status_code == 304 and revalidated["ETag"] == first["ETag"]


def test_a_small_photo_is_served_as_one_webp_of_its_own_size(client_for):
    image = ImageFactory(width=300, height=200, file=True)
    client = client_for()
    TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image, x1=10, y1=10, x2=200, y2=190))
    shown = client.get("/api/tasks/next/").json()["image"]
    assert shown["srcset"] == f"/api/images/{image.sha256}/512.webp 300w"  # never enlarged, one file
    assert PILImage.open(io.BytesIO(body_of(client.get(shown["url"])))).size == (300, 200)


def test_a_photo_is_only_for_workers_it_was_shown_to_and_a_bad_side_is_named(client_for):
    image = ImageFactory(file=True)
    TaskAssignmentFactory(person=PersonFactory(image=image))
    stranger = client_for()
    refused = stranger.get(f"/api/images/{image.sha256}/1024.webp")
    assert refused.status_code == 404 and refused.json()["code"] == "not_found"
    TaskAssignmentFactory(worker=stranger.worker, person=PersonFactory(image=image))
    bad = stranger.get(f"/api/images/{image.sha256}/700.webp")
    assert bad.status_code == 400 and "must be one of 512, 1024, got 700" in bad.json()["errors"]["side"][0]


# --- the task's time: extension and late answers ------------------------------------------------------------


def backdate(task: TaskAssignment, *, started_minutes_ago: float, expires_in_minutes: float) -> None:
    now = timezone.now()
    TaskAssignment.objects.filter(pk=task.pk).update(
        assigned_at=now - timedelta(minutes=started_minutes_ago + 1),
        started_at=now - timedelta(minutes=started_minutes_ago),
        expires_at=now + timedelta(minutes=expires_in_minutes),
    )


def test_activity_extends_a_task_up_to_its_ceiling(client_for, settings):
    settings.ASSIGNMENT_TIMEOUT, settings.ASSIGNMENT_MAX_DURATION = timedelta(minutes=20), timedelta(minutes=60)
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    backdate(task, started_minutes_ago=15, expires_in_minutes=5)
    extended = client.post_json(f"/api/tasks/{task.pk}/extend/", {}).json()
    task.refresh_from_db()
    assert timezone.now() + timedelta(minutes=19) < task.expires_at <= timezone.now() + timedelta(minutes=20)
    assert extended["expires_at"] == task.expires_at.isoformat().replace("+00:00", "Z")
    # Near the ceiling: never past 60 minutes after it became current.
    backdate(task, started_minutes_ago=55, expires_in_minutes=1)
    client.post_json(f"/api/tasks/{task.pk}/extend/", {})
    task.refresh_from_db()
    assert abs((task.expires_at - (task.started_at + timedelta(minutes=60))).total_seconds()) < 1
    at_ceiling = task.expires_at
    client.post_json(f"/api/tasks/{task.pk}/extend/", {})
    task.refresh_from_db()
    assert task.expires_at == at_ceiling  # at the ceiling nothing changes
    # Expired: no extension.
    backdate(task, started_minutes_ago=70, expires_in_minutes=-1)
    assert client.post_json(f"/api/tasks/{task.pk}/extend/", {}).status_code == 409


def test_an_answer_just_after_the_deadline_is_kept_while_the_task_was_not_yet_closed(client_for):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    backdate(task, started_minutes_ago=21, expires_in_minutes=-1)
    assert client.post_json(f"/api/tasks/{task.pk}/submit/", answer()).status_code == 201
    assert slots(task.person) == 1


def test_an_answer_after_the_expiry_closed_the_task_is_kept_when_the_person_is_still_free(client_for):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    backdate(task, started_minutes_ago=21, expires_in_minutes=-1)
    assert expire_stale_assignments() == 1 and slots(task.person) == 0
    response = client.post_json(f"/api/tasks/{task.pk}/submit/", answer())
    assert response.status_code == 201 and response.json()["state"] == "submitted"
    assert slots(task.person) == 1  # its slot taken back, once


def test_a_late_answer_is_refused_when_someone_else_took_the_person_or_the_grace_is_over(client_for, settings):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker)
    backdate(task, started_minutes_ago=21, expires_in_minutes=-1)
    expire_stale_assignments()
    assert assign_next_task(WorkerFactory()).person == task.person  # the one slot of a train person
    taken = client.post_json(f"/api/tasks/{task.pk}/submit/", answer())
    assert taken.status_code == 409 and "expired" in taken.json()["errors"]["task"][0]
    assert slots(task.person) == 1
    settings.ASSIGNMENT_LATE_GRACE = timedelta(seconds=30)
    other = TaskAssignmentFactory(worker=client.worker)
    backdate(other, started_minutes_ago=22, expires_in_minutes=-2)
    assert client.post_json(f"/api/tasks/{other.pk}/submit/", answer()).status_code == 409


# --- a fair qualification ------------------------------------------------------------------------------------


@pytest.fixture
def three_item_test(settings):
    settings.QUALIFICATION_ITEMS = 3
    settings.QUALIFICATION_PASS_RATE = 0.6
    settings.QUALIFICATION_ATTEMPTS = 2
    settings.QUALIFICATION_RETRY_WAIT = timedelta(hours=24)
    GoldItemFactory.create_batch(
        4, for_qualification=True, for_control=False, explanation="She is laughing.", show_explanation=True
    )
    PersonFactory()


def answer_items(client, answers):
    """Answer the test's items through the API; returns the last submit's (or skip's) body."""
    body = None
    for given in answers:
        task = client.get("/api/tasks/next/").json()
        assert task["qualification"] is True
        if given is None:
            body = client.post_json(f"/api/tasks/{task['id']}/skip/", {}).json()
        else:
            body = client.post_json(f"/api/tasks/{task['id']}/submit/", answer(**given)).json()
    return body


@pytest.mark.usefixtures("three_item_test")
def test_each_answer_says_whether_the_test_goes_on_and_passing_is_announced(client_for):
    client = client_for(WorkerFactory(pending=True))
    body = answer_items(client, [RIGHT])
    assert body["qualification"] == {
        "state": "continue", "answered": 1, "size": 3, "attempt": 1, "attempts_left": 0, "retry_at": None, "results": [],
    }
    body = answer_items(client, [RIGHT, WRONG])
    outcome = body["qualification"]
    assert (outcome["state"], outcome["answered"]) == ("passed", 3)
    assert [r["passed"] for r in outcome["results"]] == [True, True, False]
    assert client.get("/api/tasks/next/").json()["qualification"] is False  # real work comes next


@pytest.mark.usefixtures("three_item_test")
def test_a_skip_is_no_failure_another_item_takes_its_place(client_for):
    client = client_for(WorkerFactory(pending=True))
    skipped = answer_items(client, [None])
    assert skipped["state"] == "skipped" and skipped["qualification"]["state"] == "continue"
    assert skipped["qualification"]["answered"] == 0
    body = answer_items(client, [RIGHT, RIGHT, WRONG])
    assert body["qualification"]["state"] == "passed"  # 2 of 3: the skipped item did not count


@pytest.mark.usefixtures("three_item_test")
def test_a_failed_worker_waits_then_takes_a_second_attempt_and_no_third(client_for):
    worker = WorkerFactory(pending=True)
    client = client_for(worker)
    failed = answer_items(client, [WRONG, WRONG, RIGHT])["qualification"]
    assert (failed["state"], failed["attempts_left"]) == ("failed", 1)
    assert [r["explanation"] for r in failed["results"] if not r["passed"]] == ["She is laughing."] * 2
    worker.refresh_from_db()
    assert timezone.now() + timedelta(hours=23) < worker.qualification_retry_at <= timezone.now() + timedelta(hours=24)
    with pytest.raises(WorkerNotEligible) as raised:
        next_task(worker)
    assert "You may take it again from" in raised.value.reason
    Worker.objects.filter(pk=worker.pk).update(qualification_retry_at=timezone.now() - timedelta(seconds=1))
    item = client.get("/api/tasks/next/").json()
    assert item["qualification"] is True
    worker.refresh_from_db()
    assert (worker.qualification, worker.qualification_attempt) == ("pending", 2)
    # The new attempt counts its own answers; the item never met comes first.
    assert TaskAssignment.objects.get(pk=item["id"]).gold_item_id not in set(
        TaskAssignment.objects.filter(worker=worker, attempt=1).values_list("gold_item_id", flat=True)
    )
    client.post_json(f"/api/tasks/{item['id']}/submit/", answer(**WRONG))
    last = answer_items(client, [WRONG, RIGHT])["qualification"]
    assert (last["state"], last["attempt"], last["attempts_left"], last["retry_at"]) == ("failed", 2, 0, None)
    with pytest.raises(WorkerNotEligible):
        next_task(worker)


@pytest.mark.usefixtures("three_item_test")
def test_an_admins_reset_to_pending_really_resets(client_for, settings, admin_user):
    settings.QUALIFICATION_ATTEMPTS = 1
    worker = WorkerFactory(pending=True)
    client = client_for(worker)
    assert answer_items(client, [WRONG, WRONG, WRONG])["qualification"]["state"] == "failed"
    # The admin sets the worker back to pending in its change form (what used to fail them again at once).
    model_admin = admin.site._registry[Worker]
    request = RequestFactory().post("/")
    request.user = admin_user
    worker.refresh_from_db()
    form_class = model_admin.get_form(request, worker, change=True)
    initial = form_class(instance=worker).initial
    data = {key: value for key, value in initial.items() if value is not None}
    data.update(qualification="pending", user=worker.user_id)
    form = form_class(data, instance=worker)
    assert form.is_valid(), form.errors
    model_admin.save_model(request, form.save(commit=False), form, change=True)
    worker.refresh_from_db()
    assert (worker.qualification, worker.qualification_attempt) == ("pending", 2)
    item = client.get("/api/tasks/next/").json()
    assert item["qualification"] is True
    body = answer_items(client, [RIGHT, RIGHT, RIGHT])
    assert body["qualification"]["state"] == "passed"


@pytest.mark.usefixtures("three_item_test")
def test_the_reset_action_gives_a_failed_worker_a_fresh_test(admin_client):
    worker = WorkerFactory(failed=True)
    response = admin_client.post(
        reverse("admin:annotator_worker_changelist"),
        {"action": "reset_qualification_selected", "_selected_action": [worker.pk]},
    )
    assert response.status_code == 302
    worker.refresh_from_db()
    assert (worker.qualification, worker.qualification_attempt) == ("pending", 2)
    assert next_task(worker).task.is_qualification


def test_a_late_qualification_answer_counts_only_while_its_attempt_is_in_progress(settings):
    settings.QUALIFICATION_ITEMS, settings.GOLD_RATE = 1, 0.0
    GoldItemFactory.create_batch(2, for_qualification=True, for_control=False)
    worker = WorkerFactory(pending=True)
    item = assign_next_task(worker)
    backdate(item, started_minutes_ago=21, expires_in_minutes=-1)
    expire_stale_assignments()
    submit_task(worker, item.pk, uuid.uuid4(), RIGHT)
    worker.refresh_from_db()
    assert worker.qualification == "qualified"


# --- API tokens: for approved integrations only --------------------------------------------------------------


def test_a_worker_has_no_api_access_until_an_admin_grants_it(admin_client):
    worker = WorkerFactory()
    with pytest.raises(ApiAccessNotGranted):
        create_api_token(worker, "my script")
    client = APIClient()
    assert client.login(username=worker.user.username, password=PASSWORD)
    tokens_page = client.get("/work/api-tokens/").content.decode()
    assert "approved integrations" in tokens_page and "A program can work for you" not in tokens_page
    assert 'name="name"' not in tokens_page  # no form to make one
    admin_client.post(
        reverse("admin:annotator_worker_changelist"), {"action": "grant_api_access", "_selected_action": [worker.pk]}
    )
    worker.refresh_from_db()
    assert worker.api_access
    _, key = create_api_token(worker, "panel bridge")
    program = APIClient()
    program.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert program.get("/api/me/").status_code == 200
    admin_client.post(
        reverse("admin:annotator_worker_changelist"), {"action": "withdraw_api_access", "_selected_action": [worker.pk]}
    )
    refused = program.get("/api/me/")
    assert refused.status_code == 401 and ApiToken.objects.filter(worker=worker).exists()


def test_a_new_account_starts_without_api_access():
    assert Worker.objects.create(user=UserFactory()).api_access is False


@pytest.mark.usefixtures("three_item_test")
def test_the_retry_policy_in_force_is_the_protocols_as_the_admin_last_changed_it(client_for):
    from annotator.services.protocol import change_protocol

    change_protocol(None, {"qualification_attempts": 3, "qualification_retry_wait_hours": 2})
    worker = WorkerFactory(pending=True)
    failed = answer_items(client_for(worker), [WRONG, WRONG, RIGHT])["qualification"]
    assert (failed["state"], failed["attempts_left"]) == ("failed", 2)  # not the environment's 2 attempts
    worker.refresh_from_db()
    assert timezone.now() + timedelta(hours=1) < worker.qualification_retry_at <= timezone.now() + timedelta(hours=2)
