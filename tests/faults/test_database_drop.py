"""PostgreSQL connections dropped during a submission: 503 with Retry-After, then the retry is stored exactly once.

Extends tests/config/test_database_outage.py (reads and pages) to the write
that matters most: a worker's answer, dropped before the request and in the
middle of its transaction.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from annotator.models import EmotionAnnotation, TaskAssignment
from tests.annotator.conftest import WorkerClient
from tests.config.test_database_outage import drop_django_connection
from tests.factories import TaskAssignmentFactory

pytestmark = pytest.mark.django_db(transaction=True)
ANSWER = {"categories": ["Sympathy"], "valence": 4, "arousal": 4, "dominance": 5, "gender": "Male", "age": "Adult"}


@pytest.fixture
def connection_dies_on_insert():
    """A trigger that ends the database session itself when an answer is inserted, before the commit."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            CREATE OR REPLACE FUNCTION fault_drop_session() RETURNS trigger AS $$
            BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$ LANGUAGE plpgsql;
            CREATE TRIGGER fault_drop_session BEFORE INSERT ON annotator_emotionannotation
            FOR EACH ROW EXECUTE FUNCTION fault_drop_session();
            """
        )

    def heal() -> None:
        connection.close_if_unusable_or_obsolete()
        with connection.cursor() as cursor:
            cursor.execute("DROP TRIGGER IF EXISTS fault_drop_session ON annotator_emotionannotation")
            cursor.execute("DROP FUNCTION IF EXISTS fault_drop_session()")

    yield heal
    heal()


def submit(client: WorkerClient, task: TaskAssignment, submission_id: str):
    return client.post_json(f"/api/tasks/{task.pk}/submit/", {**ANSWER, "submission_id": submission_id})


def assert_unavailable_and_nothing_stored(response, task: TaskAssignment) -> None:
    assert response.status_code == 503
    assert response["Retry-After"] == "5" and "nothing was stored" in response.json()["detail"]
    assert not EmotionAnnotation.objects.exists()
    task.refresh_from_db()
    assert task.state == TaskAssignment.State.ASSIGNED


def assert_stored_once_on_retry(client: WorkerClient, task: TaskAssignment, submission_id: str) -> None:
    retried = submit(client, task, submission_id)
    assert retried.status_code == 201 and retried.json()["stored"] is True
    again = submit(client, task, submission_id)  # the browser did not see the answer and sends it once more
    assert again.status_code == 200 and again.json()["stored"] is False
    assert list(EmotionAnnotation.objects.values_list("submission_id", flat=True)) == [uuid.UUID(submission_id)]
    task.refresh_from_db()
    assert task.state == TaskAssignment.State.SUBMITTED


def test_a_submission_on_a_dropped_connection_gets_503_then_the_retry_is_stored_once():
    task = TaskAssignmentFactory()
    client = WorkerClient(task.worker)
    client.raise_request_exception = False
    submission_id = str(uuid.uuid4())
    drop_django_connection()
    assert_unavailable_and_nothing_stored(submit(client, task, submission_id), task)
    assert_stored_once_on_retry(client, task, submission_id)


def test_a_connection_lost_inside_the_submission_transaction_stores_nothing_then_the_retry_once(connection_dies_on_insert):
    task = TaskAssignmentFactory()
    client = WorkerClient(task.worker)
    client.raise_request_exception = False
    submission_id = str(uuid.uuid4())
    response = submit(client, task, submission_id)
    connection_dies_on_insert()  # the database is back to normal
    assert_unavailable_and_nothing_stored(response, task)
    assert_stored_once_on_retry(client, task, submission_id)
