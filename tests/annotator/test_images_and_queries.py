"""Images served fast (renditions cached in storage, browser caching) and a fixed number of queries."""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from django.core.files.storage import default_storage
from PIL import Image as PILImage
from rest_framework.test import APIClient

from catalog.renditions import rendition_key
from annotator.services.protocol import version_for_answer
from annotator.services.workers import create_api_token
from tests.factories import ImageFactory, PersonFactory, TaskAssignmentFactory, WorkerFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_hidden_controls")]


def body_of(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_page_gets_a_resized_rendition_made_once_and_cached_in_storage(client_for, settings):
    settings.IMAGE_RENDITION_MAX_SIDE = 320
    image = ImageFactory(width=640, height=480, file=True)
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))
    response = client.get(f"/api/tasks/{task.pk}/image/")
    assert response.status_code == 200 and response["Content-Type"] == "image/jpeg"
    assert PILImage.open(io.BytesIO(body_of(response))).size == (320, 240)
    key = rendition_key(image, 320)
    assert default_storage.exists(key)
    made_at = default_storage.get_modified_time(key)
    body_of(client.get(f"/api/tasks/{task.pk}/image/"))
    assert default_storage.get_modified_time(key) == made_at  # served from storage, not made again
    assert "private" in response["Cache-Control"] and "max-age=86400" in response["Cache-Control"]


def test_the_original_is_served_only_when_asked_for(client_for, settings):
    settings.IMAGE_RENDITION_MAX_SIDE = 320
    image = ImageFactory(width=640, height=480, file=True)
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))
    response = client.get(f"/api/tasks/{task.pk}/image/?size=original")
    assert PILImage.open(io.BytesIO(body_of(response))).size == (640, 480)
    assert not default_storage.exists(rendition_key(image, 320))
    assert client.get(f"/api/tasks/{task.pk}/image/?size=huge").status_code == 400


def test_a_browser_that_has_the_image_gets_304(client_for):
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=ImageFactory(file=True)))
    first = client.get(f"/api/tasks/{task.pk}/image/")
    again = client.get(f"/api/tasks/{task.pk}/image/", HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_a_worker_cannot_fetch_the_image_of_another_workers_task(client_for):
    task = TaskAssignmentFactory(person=PersonFactory(image=ImageFactory(file=True)))
    assert client_for().get(f"/api/tasks/{task.pk}/image/").status_code == 404


# Queries per request as the test client counts them: the test's transaction
# turns the service's BEGIN/COMMIT into SAVEPOINT/RELEASE, which are counted
# (in production BEGIN and COMMIT are not), so a live server runs two fewer.
# Next task: session, user, worker | savepoint, lock the worker, re-read it,
# look for a live task, read the protocol in force, count tasks given (gold
# schedule), claim a person with its image, count the claim, insert the
# assignment, release.
NEXT_TASK_QUERIES = 13
# Submit: session, user, worker | savepoint, lock the task, look the submission
# id up (two tables), read the protocol version in force, insert the answer,
# insert its quality refresh request (the outbox row that replaced a broker
# message), close the task, count it for the worker, release | re-read the
# worker's count, count today's work.
SUBMIT_QUERIES = 15


@pytest.fixture(autouse=True)
def protocol_saved(no_hidden_controls):
    """The protocol's first version, saved as an installation's first answer ever saves it (3 statements, once)."""
    version_for_answer()


def test_next_task_runs_a_fixed_number_of_queries(client_for, django_assert_num_queries):
    PersonFactory.create_batch(30)
    client = client_for()
    with django_assert_num_queries(NEXT_TASK_QUERIES):
        assert client.get("/api/tasks/next/").status_code == 200
    other = client_for()
    for _ in range(10):  # however big the pool and the worker's history
        task = other.get("/api/tasks/next/").json()
        other.post_json(f"/api/tasks/{task['id']}/skip/", {})
    with django_assert_num_queries(NEXT_TASK_QUERIES):
        assert other.get("/api/tasks/next/").status_code == 200


def test_submit_runs_a_fixed_number_of_queries(client_for, django_assert_num_queries):
    PersonFactory.create_batch(3)
    client = client_for()
    for _ in range(2):
        task = client.get("/api/tasks/next/").json()
        body = {
            "submission_id": str(uuid.uuid4()),
            "categories": ["Peace", "Happiness"],
            "valence": 7,
            "arousal": 3,
            "dominance": 6,
            "gender": "Female",
            "age": "Adult",
        }
        with django_assert_num_queries(SUBMIT_QUERIES):
            assert client.post_json(f"/api/tasks/{task['id']}/submit/", body).status_code == 201


# A program with a token: one query finds the token with its worker and user
# (its time of use is written at most once a minute) instead of the three above.
TOKEN_NEXT_TASK_QUERIES = NEXT_TASK_QUERIES - 2
TOKEN_SUBMIT_QUERIES = SUBMIT_QUERIES - 2


def test_with_a_token_the_cycle_runs_a_fixed_number_of_queries(django_assert_num_queries):
    PersonFactory.create_batch(5)
    _, key = create_api_token(WorkerFactory(), "program")
    program = APIClient()
    program.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    program.get("/api/history/")  # the first use of the token is written down
    for _ in range(2):
        with django_assert_num_queries(TOKEN_NEXT_TASK_QUERIES):
            task = program.get("/api/tasks/next/").json()
        body = {"submission_id": str(uuid.uuid4()), "categories": ["Peace"], "valence": 7, "arousal": 3, "dominance": 6, "gender": "Male", "age": "Kid"}
        with django_assert_num_queries(TOKEN_SUBMIT_QUERIES):
            assert program.post(f"/api/tasks/{task['id']}/submit/", body, format="json").status_code == 201


@pytest.mark.parametrize("size", ["display", "original"])
def test_an_image_missing_from_storage_is_a_clear_404_not_a_server_error(client_for, size):
    image = ImageFactory(file=True)
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))
    default_storage.delete(image.storage_key)
    response = client.get(f"/api/tasks/{task.pk}/image/?size={size}")
    assert response.status_code == 404
    assert response.json()["code"] == "image_missing"
    assert "missing from storage; skip or report" in response.json()["errors"]["image"][0]


def test_with_s3_the_page_is_sent_to_a_signed_storage_url_and_never_streams_the_bytes(
    s3_storage, client_for, settings, monkeypatch
):
    settings.IMAGE_RENDITION_MAX_SIDE = 320
    settings.IMAGE_REDIRECT_TO_STORAGE = True
    settings.STORAGE_URL_EXPIRY_SECONDS = 600
    image = ImageFactory(width=640, height=480, file=True)
    client = client_for()
    task = TaskAssignmentFactory(worker=client.worker, person=PersonFactory(image=image))

    response = client.get(f"/api/tasks/{task.pk}/image/")
    assert response.status_code == 302
    signed = response["Location"]
    _, bucket = s3_storage
    assert f"/{bucket}/{rendition_key(image, 320)}?" in signed and "Signature=" in signed
    assert "private" in response["Cache-Control"] and "max-age=300" in response["Cache-Control"]  # half the URL's life
    fetched = requests.get(signed, timeout=10)  # what the browser does: no session, no cookies
    assert fetched.status_code == 200 and PILImage.open(io.BytesIO(fetched.content)).size == (320, 240)

    # The rendition is known to be there now: no request to storage to check it again.
    monkeypatch.setattr(type(default_storage._wrapped), "exists", lambda *args: pytest.fail("asked storage again"))
    assert client.get(f"/api/tasks/{task.pk}/image/")["Location"].split("?")[0] == signed.split("?")[0]
    original = client.get(f"/api/tasks/{task.pk}/image/", {"size": "original"})
    assert original.status_code == 302 and f"/{bucket}/{image.storage_key}?" in original["Location"]
