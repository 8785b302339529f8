"""A dropped PostgreSQL connection gives a 503 with a retry hint, never a 500; the next request recovers."""

import psycopg
import pytest
from django.db import connection

from tests.factories import WorkerFactory

pytestmark = pytest.mark.django_db(transaction=True)


def drop_django_connection() -> None:
    """Kill this test's server-side PostgreSQL session, as a restart or a network cut would."""
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    settings_dict = connection.settings_dict
    with psycopg.connect(
        host=settings_dict["HOST"], port=settings_dict["PORT"], user=settings_dict["USER"], dbname="postgres", autocommit=True
    ) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_the_api_answers_503_with_retry_after_and_then_recovers(client):
    worker = WorkerFactory()
    client.force_login(worker.user)
    assert client.get("/api/me/").status_code == 200

    drop_django_connection()
    response = client.get("/api/me/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["retry_after"] == 5 and "nothing was stored" in response.json()["detail"]

    assert client.get("/api/me/").status_code == 200


def test_pages_get_a_503_page_that_reloads_itself(client):
    client.get("/")
    drop_django_connection()
    client.raise_request_exception = False
    response = client.get("/healthz")
    assert response.status_code == 503 and response["Retry-After"] == "5"
    WorkerFactory(user__username="someone")
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    drop_django_connection()
    worker_page = client.post("/accounts/login/", {"username": "someone", "password": "x"})
    assert worker_page.status_code == 503
    assert b"Nothing you submitted was lost" in worker_page.content
