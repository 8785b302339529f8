"""CSRF: every state-changing request made with the session cookie needs the page's token.

Programs that send ``Authorization: Token`` carry no cookie an attacker's page
could ride on, so they need none (``tests/annotator/test_api.py``).
"""

from __future__ import annotations

import pytest
from django.test import Client

from annotator.models import ApiToken, EmotionAnnotation, TaskAssignment
from tests.factories import PASSWORD, WorkerFactory
from tests.security.test_url_matrix import ANSWER

pytestmark = pytest.mark.django_db


def session_client(world, role: str = "worker_a") -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    client.get("/work/")  # the page sets the CSRF cookie
    return client, client.cookies["csrftoken"].value


def api_posts(world) -> list[tuple[str, dict]]:
    task = world.objects["task_a"].pk
    return [
        (f"/api/tasks/{task}/submit/", ANSWER),
        (f"/api/tasks/{task}/skip/", {"reason": "unsure"}),
        (f"/api/tasks/{task}/report/", {"reason": "blurry"}),
    ]


def test_the_page_api_refuses_a_post_without_the_token_and_changes_nothing(world):
    client, _ = session_client(world)
    for path, body in api_posts(world):
        response = client.post(path, body, content_type="application/json")
        assert response.status_code == 403, path
        assert "CSRF" in response.json()["detail"]
    assert TaskAssignment.objects.get(pk=world.objects["task_a"].pk).state == "assigned"
    assert not EmotionAnnotation.objects.filter(worker=world.workers["worker_a"]).exists()


def test_a_token_that_is_not_the_sessions_own_is_refused(world):
    client, _ = session_client(world)
    _, other_token = session_client(world, "worker_b")
    path, body = api_posts(world)[0]
    response = client.post(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=other_token + "x")
    assert response.status_code == 403


def test_the_page_api_accepts_the_token_from_the_cookie(world):
    client, token = session_client(world)
    path, body = api_posts(world)[0]
    assert client.post(path, body, content_type="application/json", HTTP_X_CSRFTOKEN=token).status_code == 201


def test_making_an_api_token_needs_the_csrf_token(world):
    client, token = session_client(world)
    before = ApiToken.objects.count()
    assert client.post("/work/api-tokens/", {"name": "my script"}).status_code == 403
    assert ApiToken.objects.count() == before
    assert client.post("/work/api-tokens/", {"name": "my script", "csrfmiddlewaretoken": token}).status_code == 200
    assert ApiToken.objects.count() == before + 1


def test_logging_out_needs_the_csrf_token(world):
    client, token = session_client(world)
    assert client.post("/accounts/logout/").status_code == 403
    assert "_auth_user_id" in client.session
    assert client.post("/accounts/logout/", {"csrfmiddlewaretoken": token}).status_code == 302
    assert "_auth_user_id" not in client.session


def test_revoking_a_token_needs_the_csrf_token(world):
    client, token = session_client(world)
    mine = world.objects["token_a"]
    assert client.post(f"/work/api-tokens/{mine.pk}/revoke/").status_code == 403
    assert ApiToken.objects.filter(pk=mine.pk).exists()
    client.post(f"/work/api-tokens/{mine.pk}/revoke/", {"csrfmiddlewaretoken": token})
    assert not ApiToken.objects.filter(pk=mine.pk).exists()


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/", "/accounts/signup/"])
def test_log_in_and_sign_up_forms_need_the_token(path):
    """Without it a third-party page could log a victim into the attacker's account (login CSRF)."""
    worker = WorkerFactory(user__username="victim")
    client = Client(enforce_csrf_checks=True)
    data = {"username": worker.user.username, "password": PASSWORD, "password1": PASSWORD, "password2": PASSWORD}
    assert client.post(path, data).status_code == 403
    assert "_auth_user_id" not in client.session


def test_admin_actions_need_the_token(world):
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["superuser"])
    worker = world.objects["worker"]
    response = client.post(f"/admin/annotator/worker/{worker.pk}/trust/", {"action": "block", "reason": "spam"})
    assert response.status_code == 403
    worker.refresh_from_db()
    assert worker.is_blocked is False
